/**
 * The container runtime on real runc: busybox containers in a netns file and
 * in host mode, logs, exit codes, exec, stop, tty, /etc files, delete, and a
 * simulated daemon restart (a new ContainerRuntime on the same directories).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { noResources } from '../../src/model/container.js';
import { fileURLToPath } from 'node:url';
import { assertInWorld, leftovers, makeNetns, scratchDir, type NetnsHandle } from '../helpers/world.js';
import { ImageStore } from '../../src/runtime/images.js';
import type { Image } from '../../src/model/image.js';
import { ContainerRuntime, type ContainerProcessSpec } from '../../src/runtime/containers.js';
import { decodeFrames } from '../../src/runtime/log-frames.js';

assertInWorld();

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

async function collect(stream: NodeJS.ReadableStream, limitMs = 10_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const timer = setTimeout(() => (stream as unknown as { destroy: () => void }).destroy(), limitMs);
  try {
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  } catch {
    // destroyed on timeout: return what arrived
  }
  clearTimeout(timer);
  return Buffer.concat(chunks);
}

function demux(framed: Buffer): { stdout: string; stderr: string } {
  const { records, rest } = decodeFrames(framed);
  assert.equal(rest.length, 0, 'output ends on a frame boundary');
  return {
    stdout: records
      .filter((r) => r.stream === 1)
      .map((r) => r.data.toString())
      .join(''),
    stderr: records
      .filter((r) => r.stream === 2)
      .map((r) => r.data.toString())
      .join(''),
  };
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(`${dir}/`));
}

describe('container runtime (runc + skiff-shim)', () => {
  let scratch: { path: string; remove: () => void };
  let dataRoot: string;
  let execRoot: string;
  let images: ImageStore;
  let runtime: ContainerRuntime;
  let image: Image;
  let netns: NetnsHandle;
  let etcFiles: ContainerProcessSpec['etcFiles'];
  const created: string[] = [];

  function spec(overrides: Partial<ContainerProcessSpec>): ContainerProcessSpec {
    const id = randomBytes(32).toString('hex');
    created.push(id);
    return {
      id,
      image,
      args: ['sh', '-c', 'true'],
      env: [],
      cwd: '/',
      hostname: id.slice(0, 12),
      tty: false,
      openStdin: false,
      netnsPath: netns.path,
      etcFiles,
      binds: [],
      resources: noResources(),
      runtime: '',
      ...overrides,
    };
  }

  async function runToExit(overrides: Partial<ContainerProcessSpec>): Promise<{ id: string; exitCode: number }> {
    const s = spec(overrides);
    await runtime.create(s);
    await runtime.start(s.id);
    return { id: s.id, exitCode: await runtime.waitExit(s.id) };
  }

  before(async () => {
    scratch = scratchDir('skiff-runtime-');
    dataRoot = join(scratch.path, 'data');
    execRoot = join(scratch.path, 'exec');
    const tarPath = join(scratch.path, 'busybox.tar');
    execFileSync(join(repoRoot, 'scripts', 'make-busybox-image.sh'), [tarPath], { stdio: ['ignore', 'ignore', 'inherit'] });
    images = new ImageStore(dataRoot);
    image = await images.importTar(createReadStream(tarPath), { repoTag: 'busybox', changes: ['CMD ["sh"]'] });
    runtime = new ContainerRuntime({ dataRoot, execRoot });
    netns = await makeNetns(scratch.path, 'c1');
    const etc = join(scratch.path, 'etc');
    mkdirSync(etc);
    etcFiles = { hosts: join(etc, 'hosts'), resolvConf: join(etc, 'resolv.conf'), hostname: join(etc, 'hostname') };
    writeFileSync(etcFiles.hosts, '127.0.0.1\tlocalhost\n10.9.8.7\tskiff-test-peer\n');
    writeFileSync(etcFiles.resolvConf, 'nameserver 127.0.0.11\n');
    writeFileSync(etcFiles.hostname, 'c0ffee\n');
  });

  after(async () => {
    for (const id of created) await runtime.delete(id).catch(() => undefined);
    runtime.close();
    await netns.remove();
    scratch.remove();
  });

  it('imports the busybox tar as an image with its tag and CMD', () => {
    assert.match(image.id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(images.resolve('busybox:latest').id, image.id);
    assert.deepEqual(images.resolve(image.id.slice(7, 19)).id, image.id);
    assert.deepEqual(image.config.cmd, ['sh']);
    assert.ok(existsSync(join(image.rootfsPath, 'bin', 'busybox')));
    assert.throws(() => images.resolve('nothere'), /No such image: nothere/);
  });

  it('runs in a netns file: output in logs, stdout and stderr apart, exit code 0', async () => {
    const { id, exitCode } = await runToExit({ args: ['sh', '-c', 'echo hello; echo oops >&2; ip -o link show | wc -l; ping -c 1 -W 2 127.0.0.1 >/dev/null'] });
    assert.equal(exitCode, 0, 'ping works inside (CAP_NET_RAW)');
    const { stdout, stderr } = demux(await collect(runtime.logs(id, { follow: false, stdout: true, stderr: true })));
    assert.equal(stdout, 'hello\n1\n', 'only lo in a fresh namespace');
    assert.equal(stderr, 'oops\n');
    const counted = await runToExit({ args: ['sh', '-c', 'echo a; echo b; echo c'] });
    const tail = demux(await collect(runtime.logs(counted.id, { follow: false, stdout: true, stderr: true, tail: 2 })));
    assert.equal(tail.stdout, 'b\nc\n');
    const state = await runtime.state(id);
    assert.equal(state.status, 'exited');
    assert.equal(state.exitCode, 0);
    assert.ok(state.startedAt && state.finishedAt);
  });

  it('runs in the host network namespace with netnsPath null', async () => {
    execFileSync('ip', ['link', 'add', 'skiffhosttest', 'type', 'veth', 'peer', 'name', 'skiffhostpeer']);
    try {
      const { id, exitCode } = await runToExit({ netnsPath: null, args: ['ip', '-o', 'link', 'show'] });
      assert.equal(exitCode, 0);
      assert.match(demux(await collect(runtime.logs(id, { follow: false, stdout: true, stderr: true }))).stdout, /skiffhosttest/);
    } finally {
      execFileSync('ip', ['link', 'del', 'skiffhosttest']);
    }
  });

  it("reports sh -c 'exit 3' as exit code 3 to waitExit and onExit", async () => {
    const seen: Array<[string, number]> = [];
    runtime.onExit((id, code) => seen.push([id, code]));
    const { id, exitCode } = await runToExit({ args: ['sh', '-c', 'exit 3'] });
    assert.equal(exitCode, 3);
    for (let i = 0; i < 100 && !seen.some(([seenId]) => seenId === id); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      seen.find(([seenId]) => seenId === id),
      [id, 3],
    );
  });

  it("fails to start a missing command with Docker's message", async () => {
    const s = spec({ args: ['no-such-command'] });
    await runtime.create(s);
    await assert.rejects(
      runtime.start(s.id),
      (error: Error & { exitCode?: number }) =>
        /^OCI runtime create failed: .*"no-such-command": executable file not found in \$PATH: unknown$/.test(error.message) && error.exitCode === 127,
    );
    assert.equal((await runtime.state(s.id)).status, 'created');
  });

  it('shows hostname, env and the bind-mounted /etc files inside', async () => {
    const { id } = await runToExit({
      hostname: 'c0ffee',
      env: ['FOO=bar'],
      args: ['sh', '-c', 'hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf; echo "$FOO $HOSTNAME $PATH"; echo x >> /etc/hosts'],
    });
    const { stdout } = demux(await collect(runtime.logs(id, { follow: false, stdout: true, stderr: true })));
    assert.equal(
      stdout,
      'c0ffee\nc0ffee\n127.0.0.1\tlocalhost\n10.9.8.7\tskiff-test-peer\nnameserver 127.0.0.11\n' +
        'bar c0ffee /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n',
    );
    assert.match(readFileSync(etcFiles.hosts, 'utf8'), /\nx\n$/, '/etc/hosts is mounted read-write');
    writeFileSync(etcFiles.hosts, '127.0.0.1\tlocalhost\n');
  });

  it('keeps sleep 1000 running, execs into it, and stops it with stop()', async () => {
    const s = spec({ args: ['sleep', '1000'] });
    await runtime.create(s);
    assert.equal((await runtime.state(s.id)).status, 'created');
    const { pid } = await runtime.start(s.id);
    assert.ok(pid > 0);
    const state = await runtime.state(s.id);
    assert.equal(state.status, 'running');
    assert.equal(state.pid, pid);

    const exec = runtime.exec(s.id, { args: ['sh', '-c', 'echo in-exec; echo err >&2; exit 5'], env: [], tty: false });
    const execOutput = demux(await collect(exec.output));
    assert.equal(await exec.exitCode, 5);
    assert.equal(execOutput.stdout, 'in-exec\n');
    assert.equal(execOutput.stderr, 'err\n');

    const ttyExec = runtime.exec(s.id, { args: ['sh'], env: ['GREETING=hi'], tty: true, openStdin: true });
    const ttyOutput = collect(ttyExec.output);
    ttyExec.input!.write('echo "$GREETING from $(tty)"; exit 4\n');
    assert.equal(await ttyExec.exitCode, 4);
    assert.match((await ttyOutput).toString(), /hi from \/dev\/pts\/\d+\r\n/);

    const missing = runtime.exec(s.id, { args: ['no-such-program'], env: [], tty: false });
    assert.match(demux(await collect(missing.output)).stderr, /^OCI runtime exec failed: .*executable file not found in \$PATH: unknown\n$/);
    assert.equal(await missing.exitCode, 126);

    const shim = JSON.parse(readFileSync(join(execRoot, 'containers', s.id, 'started.json'), 'utf8')) as { shimPid: number };
    // Pss: the shim's own pages plus its share of libc's, the honest per-container cost.
    const memory = readFileSync(`/proc/${shim.shimPid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(memory)?.[1]);
    console.log(`skiff-shim memory: Rss ${kb('Rss')} kB, Pss ${kb('Pss')} kB, Private_Dirty ${kb('Private_Dirty')} kB`);
    assert.ok(kb('Pss') < 1024, `shim Pss ${kb('Pss')} kB is under 1 MB`);

    const began = Date.now();
    await runtime.stop(s.id, 1);
    assert.ok(Date.now() - began < 5000);
    const stopped = await runtime.state(s.id);
    assert.equal(stopped.status, 'exited');
    assert.equal(stopped.exitCode, 137, 'sleep as pid 1 ignores SIGTERM: killed after the timeout');
  });

  it('keeps a tty shell alive (docker run -dit … sh) and attaches to it', async () => {
    const s = spec({ args: ['sh'], tty: true, openStdin: true });
    await runtime.create(s);
    await runtime.start(s.id);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await runtime.state(s.id)).status, 'running');
    const { output, input } = runtime.attach(s.id);
    assert.ok(input);
    const received: Buffer[] = [];
    output.on('data', (chunk: Buffer) => received.push(chunk));
    input.write('echo tty-$((40+2)); tty\n');
    for (let i = 0; i < 100 && !Buffer.concat(received).toString().includes('/dev/pts/0'); i++) await new Promise((r) => setTimeout(r, 50));
    const text = Buffer.concat(received).toString();
    assert.match(text, /tty-42\r\n/, 'raw tty output (no frames, CRLF from the pty)');
    assert.match(text, /\/dev\/pts\/0/);
    input.write('exit 7\n');
    assert.equal(await runtime.waitExit(s.id), 7);
    (output as unknown as { destroy: () => void }).destroy();
    input.end();
  });

  it('closes a non-tty stdin on closeStdin (echo hi | docker run -i … cat)', async () => {
    const s = spec({ args: ['cat'], openStdin: true });
    await runtime.create(s);
    const { output, input } = runtime.attach(s.id);
    await runtime.start(s.id);
    input!.write('piped through\n');
    await new Promise<void>((resolve) => input!.end(resolve));
    runtime.closeStdin(s.id);
    assert.equal(await runtime.waitExit(s.id), 0);
    assert.equal(demux(await collect(output)).stdout, 'piped through\n');
  });

  it('deletes without leaving a mount, process, bundle or data dir', async () => {
    const s = spec({ args: ['sleep', '1000'] });
    await runtime.create(s);
    const { pid } = await runtime.start(s.id);
    await runtime.delete(s.id);
    await runtime.delete(s.id); // idempotent
    assert.equal(existsSync(`/proc/${pid}`), false);
    assert.equal(existsSync(join(execRoot, 'containers', s.id)), false);
    assert.equal(existsSync(join(dataRoot, 'containers', s.id)), false);
    assert.equal(existsSync(join(execRoot, 'runc', s.id)), false);
    assert.deepEqual(mountsUnder(join(execRoot, 'containers', s.id)), []);
    assert.equal(readFileSync('/proc/self/mounts', 'utf8').includes(s.id), false);
    await assert.rejects(runtime.state(s.id), /No such container/);
  });

  it('finds a running container again after a daemon restart and learns its exit code', async () => {
    const s = spec({ args: ['sh', '-c', 'trap "exit 42" TERM; while true; do sleep 1; done'] });
    await runtime.create(s);
    await runtime.start(s.id);
    runtime.close(); // the old daemon goes away; the container keeps running
    const restarted = new ContainerRuntime({ dataRoot, execRoot });
    const exits: Array<[string, number]> = [];
    restarted.onExit((id, code) => exits.push([id, code]));
    const ids = await restarted.restore();
    assert.ok(ids.includes(s.id));
    assert.equal((await restarted.state(s.id)).status, 'running');
    // runc's init (Go) is PID 1 until it has exec'd sh, and a TERM then ends it with Go's status 2: wait for sh.
    const { pid } = await restarted.state(s.id);
    for (let attempt = 0; attempt < 100 && readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('runc'); attempt++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    // sh is the container's PID 1: a TERM that arrives before it ran `trap` is ignored (PID 1 has no default
    // action), so it is sent again until the trap answers it (bounded); the last may find it gone (skiff's or runc's words).
    for (let attempt = 0; attempt < 50 && (await restarted.state(s.id)).status === 'running'; attempt++) {
      await restarted.kill(s.id, 'SIGTERM').catch((error: Error) => assert.match(error.message, /not running/));
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await restarted.waitExit(s.id), 42);
    for (let i = 0; i < 100 && !exits.some(([id]) => id === s.id); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      exits.filter(([id]) => id === s.id),
      [[s.id, 42]],
    );
    restarted.close();
  });

  it('notices a container whose shim and process were SIGKILLed (no exit-status written) and reports 255', async () => {
    const s = spec({ args: ['sleep', '1000'] });
    await runtime.create(s);
    const exits: Array<[string, number]> = [];
    runtime.onExit((id, code) => exits.push([id, code]));
    await runtime.start(s.id);
    const { pid } = await runtime.state(s.id);
    const { shimPid } = JSON.parse(readFileSync(join(execRoot, 'containers', s.id, 'started.json'), 'utf8')) as { shimPid: number };
    process.kill(shimPid, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    // Nothing writes exit-status now: only the periodic sweep (every 2 s) can tell.
    for (let i = 0; i < 200 && !exits.some(([id]) => id === s.id); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      exits.filter(([id]) => id === s.id),
      [[s.id, 255]],
    );
    // The daemon started the shim (posix_spawn, reaped by the addon's reaper thread): no zombie stays.
    for (let i = 0; i < 100 && existsSync(`/proc/${shimPid}`); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(existsSync(`/proc/${shimPid}`), false, `shim ${shimPid} was reaped`);
  });

  it('leaves nothing behind once every container is deleted', async () => {
    for (const id of created.splice(0)) await runtime.delete(id);
    assert.deepEqual(mountsUnder(execRoot), []);
    assert.deepEqual(await leftovers(), []);
  });
});
