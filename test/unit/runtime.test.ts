/** Pure pieces of the container runtime: env, OCI spec, import changes, log frames, image refs. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerEnv, ociSpec, DEFAULT_PATH } from '../../src/runtime/oci-spec.js';
import { applyChanges } from '../../src/runtime/image-changes.js';
import { emptyImageConfig } from '../../src/model/image.js';
import { noResources } from '../../src/model/container.js';
import { exposedPortsToWire } from '../../src/api/wire/ports.js';
import { decodeFrames, encodeFrame, renderRecords, splitLines } from '../../src/runtime/log-frames.js';
import { normalizeRepoTag } from '../../src/runtime/images.js';
import { decompressFlags } from '../../src/runtime/tar-extract.js';
import { execEnvironment, runcFailure, startError, type ContainerProcessSpec } from '../../src/runtime/containers.js';

describe('containerEnv', () => {
  it('puts Docker defaults first and lets later variables win in place', () => {
    assert.deepEqual(containerEnv(['A=1'], 'h1', false), [DEFAULT_PATH, 'HOSTNAME=h1', 'A=1']);
    assert.deepEqual(containerEnv(['PATH=/bin', 'HOSTNAME=x'], 'h1', true), ['HOSTNAME=x', 'TERM=xterm', 'PATH=/bin']);
  });
});

describe('ociSpec', () => {
  const base: ContainerProcessSpec = {
    id: 'a'.repeat(64),
    image: { id: 'sha256:' + 'b'.repeat(64), repoTags: [], created: '', size: 0, rootfsPath: '/img', config: emptyImageConfig(), comment: '' },
    args: ['sh'],
    env: [],
    cwd: '',
    hostname: 'aaaaaaaaaaaa',
    tty: true,
    openStdin: true,
    netnsPath: '/run/ns/x',
    etcFiles: { hosts: '/e/hosts', resolvConf: '/e/resolv.conf', hostname: '/e/hostname' },
    binds: [],
    resources: noResources(),
    runtime: '',
  };
  it('joins the sandbox namespace by path, or none for host networking', () => {
    const namespaces = (spec: Record<string, unknown>) => (spec['linux'] as { namespaces: Array<{ type: string; path?: string }> }).namespaces;
    assert.deepEqual(
      namespaces(ociSpec(base)).find((ns) => ns.type === 'network'),
      { type: 'network', path: '/run/ns/x' },
    );
    assert.equal(
      namespaces(ociSpec({ ...base, netnsPath: null })).some((ns) => ns.type === 'network'),
      false,
    );
  });
  it("has Docker's capabilities with NET_RAW, rw /etc binds, cwd / by default", () => {
    const spec = ociSpec(base) as {
      process: { cwd: string; terminal: boolean; capabilities: { bounding: string[] } };
      mounts: Array<{ destination: string; source: string; options: string[] }>;
    };
    assert.ok(spec.process.capabilities.bounding.includes('CAP_NET_RAW'));
    assert.equal(spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'), false);
    assert.equal(spec.process.cwd, '/');
    assert.equal(spec.process.terminal, true);
    const hosts = spec.mounts.find((m) => m.destination === '/etc/hosts');
    assert.deepEqual(hosts, { destination: '/etc/hosts', type: 'bind', source: '/e/hosts', options: ['rbind', 'rprivate'] });
  });
  it('binds -v/--mount paths after its own, read-only when asked', () => {
    const spec = ociSpec({ ...base, binds: [{ source: '/srv/a', destination: '/a', readOnly: true }] }) as { mounts: Array<{ destination: string }> };
    assert.deepEqual(spec.mounts.at(-1), { destination: '/a', type: 'bind', source: '/srv/a', options: ['rbind', 'rprivate', 'ro'] });
  });
});

describe('applyChanges (docker import -c)', () => {
  it('reads CMD, ENTRYPOINT, ENV, EXPOSE, WORKDIR and LABEL', () => {
    const config = applyChanges(emptyImageConfig(), [
      'CMD ["sh", "-c", "echo hi"]',
      'ENTRYPOINT /bin/init --flag',
      'ENV A=1 B="two words"',
      'ENV C legacy form',
      'EXPOSE 80 53/udp',
      'WORKDIR /srv',
      'LABEL team=net',
    ]);
    assert.deepEqual(config.cmd, ['sh', '-c', 'echo hi']);
    assert.deepEqual(config.entrypoint, ['/bin/sh', '-c', '/bin/init --flag']);
    assert.deepEqual(config.env, ['A=1', 'B=two words', 'C=legacy form']);
    assert.deepEqual(exposedPortsToWire(config.exposedPorts), { '80/tcp': {}, '53/udp': {} });
    assert.equal(config.workingDir, '/srv');
    assert.deepEqual(config.labels, { team: 'net' });
  });
  it('rejects instructions import does not take', () => {
    assert.throws(() => applyChanges(emptyImageConfig(), ['RUN true']), /run is not a valid change command/);
  });
});

describe('log frames', () => {
  it('round-trips frames and keeps an incomplete one for later', () => {
    const bytes = Buffer.concat([encodeFrame(1, Buffer.from('out\n')), encodeFrame(2, Buffer.from('err\n')).subarray(0, 10)]);
    const { records, rest } = decodeFrames(bytes);
    assert.deepEqual(
      records.map((r) => [r.stream, r.data.toString()]),
      [[1, 'out\n']],
    );
    assert.equal(rest.length, 10);
  });
  it('splits into lines per stream so tail counts lines', () => {
    const lines = splitLines([
      { stream: 1, data: Buffer.from('a\nb') },
      { stream: 2, data: Buffer.from('e\n') },
      { stream: 1, data: Buffer.from('c\nd') },
    ]);
    assert.deepEqual(
      lines.map((l) => [l.stream, l.data.toString()]),
      [
        [1, 'a\n'],
        [2, 'e\n'],
        [1, 'bc\n'],
        [1, 'd'],
      ],
    );
  });
  it('renders raw for a tty, framed otherwise, only the streams asked for', () => {
    const records = [
      { stream: 1 as const, data: Buffer.from('x') },
      { stream: 2 as const, data: Buffer.from('y') },
    ];
    assert.equal(renderRecords(records, { stdout: true, stderr: true, tty: true }).toString(), 'xy');
    assert.deepEqual([...renderRecords(records, { stdout: false, stderr: true, tty: false })], [2, 0, 0, 0, 0, 0, 0, 1, 0x79]);
  });
});

describe('image references and tars', () => {
  it('normalizes names as Docker Hub does', () => {
    assert.equal(normalizeRepoTag('alpine'), 'alpine:latest');
    assert.equal(normalizeRepoTag('docker.io/library/alpine:3'), 'alpine:3');
    assert.equal(normalizeRepoTag('localhost:5000/x'), 'localhost:5000/x:latest');
  });
  it('tells tar the compression from the magic bytes', () => {
    assert.deepEqual(decompressFlags(Buffer.from([0x1f, 0x8b, 8])), ['-z']);
    assert.deepEqual(decompressFlags(Buffer.from('BZh9')), ['-j']);
    assert.deepEqual(decompressFlags(Buffer.from('./bin')), []);
  });
  it("words a refused start as Docker does, with Docker's exit codes", () => {
    const error = startError(
      'runc run exited with 1: time="2026-01-01T00:00:00Z" level=error msg="runc run failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH"',
    );
    assert.equal(error.message, 'OCI runtime create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown');
    assert.equal(error.status, 400);
    assert.equal(error.exitCode, 127);
    assert.equal(startError('msg="x: permission denied"').exitCode, 126);
  });
  it("words another runtime's plain failure as Docker does (crun on hybrid cgroups)", () => {
    const error = startError('crun run exited with 1: cgroups in hybrid mode not supported, drop all controllers from cgroupv2');
    assert.equal(error.message, 'OCI runtime create failed: cgroups in hybrid mode not supported, drop all controllers from cgroupv2: unknown');
    assert.equal(error.exitCode, 128);
  });
  it("recognizes runc's own error line", () => {
    assert.equal(runcFailure('time="2024-01-01T00:00:00Z" level=error msg="exec: \\"x\\": not found"\n'), 'exec: "x": not found');
    assert.equal(runcFailure('plain program output\n'), undefined);
  });
  it("words crun's missing command as runc does, for exec and for a start", () => {
    const crunLine = 'executable file `nosuch` not found in $PATH: No such file or directory\n';
    assert.equal(runcFailure(crunLine), 'exec: "nosuch": executable file not found in $PATH');
    const error = startError(`crun run exited with 1: ${crunLine.trim()}`);
    assert.equal(error.message, 'OCI runtime create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown');
    assert.equal(error.exitCode, 127);
  });
  it("gives an exec the container's environment with its own variables replacing or added", () => {
    assert.deepEqual(execEnvironment(['PATH=/bin', 'HOSTNAME=c', 'A=1'], ['A=2', 'B=3']), ['PATH=/bin', 'HOSTNAME=c', 'A=2', 'B=3']);
    assert.deepEqual(execEnvironment(['PATH=/bin'], []), ['PATH=/bin']);
  });
});
