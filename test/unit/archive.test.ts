/**
 * docker cp's path logic (resolution in the container's scope, moby's split
 * of a request path, mounts, Go's FileMode and time), docker diff's
 * classification, docker commit's config and the docker-archive manifest.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { goBase, goFileMode, goTime, hostPathOf, mountOf, resolveInScope, splitRequestPath } from '../../src/runtime/archive.js';
import { classifyChanges, type UpperEntry } from '../../src/runtime/changes.js';
import { imageConfigFromDocker, imageConfigToDocker, parseManifest } from '../../src/runtime/image-archive.js';
import { commitConfig, containerImageConfig } from '../../src/containers/commit.js';
import { commitOverridesFromWire } from '../../src/api/wire/image-io.js';
import { changesToWire } from '../../src/api/wire/archive.js';
import { emptyImageConfig } from '../../src/model/image.js';
import type { ContainerRecord } from '../../src/model/container.js';

/** A container filesystem's symlinks, as resolveInScope asks for them. */
const links = (table: Record<string, string>) => (path: string) => table[path];

describe('resolution in the container scope', () => {
  it('follows relative and absolute symlinks, each from where it is', () => {
    const readLink = links({ '/etc/alt': 'conf/real', '/bin': 'usr/bin', '/abs': '/var/lib' });
    assert.equal(resolveInScope('/etc/alt/file', readLink), '/etc/conf/real/file');
    assert.equal(resolveInScope('/bin/sh', readLink), '/usr/bin/sh');
    assert.equal(resolveInScope('/abs/x', readLink), '/var/lib/x');
  });

  it('keeps ".." and absolute targets inside the root', () => {
    const readLink = links({ '/tmp/up': '../../../../../', '/tmp/root': '/', '/tmp/etc': '/../../etc' });
    assert.equal(resolveInScope('/../../../etc/passwd', readLink), '/etc/passwd');
    assert.equal(resolveInScope('/tmp/up/etc/passwd', readLink), '/etc/passwd');
    assert.equal(resolveInScope('/tmp/root/etc', readLink), '/etc');
    assert.equal(resolveInScope('/tmp/etc/shadow', readLink), '/etc/shadow');
    assert.equal(resolveInScope('relative/../x', readLink), '/x');
  });

  it('refuses a symlink loop', () => {
    assert.throws(() => resolveInScope('/a/x', links({ '/a': '/b', '/b': '/a' })), /too many levels of symbolic links/);
  });

  it("splits a request path as moby's ResolvePath: a trailing / follows the last element, /. names a directory's contents", () => {
    assert.deepEqual(splitRequestPath('etc/passwd'), { absPath: '/etc/passwd', dir: '/etc/', base: 'passwd' });
    assert.deepEqual(splitRequestPath('/etc/'), { absPath: '/etc/', dir: '/etc/', base: '' });
    assert.deepEqual(splitRequestPath('/tmp/d/.'), { absPath: '/tmp/d/.', dir: '/tmp/d/', base: '.' });
    assert.deepEqual(splitRequestPath('/'), { absPath: '/', dir: '/', base: '' });
    assert.deepEqual(splitRequestPath('/a/../b'), { absPath: '/b', dir: '/', base: 'b' });
    assert.deepEqual([goBase('/etc/'), goBase('/'), goBase('/d/.')], ['etc', '/', '.']);
  });

  it('maps a container path under the deepest mount to its source, else under the rootfs', () => {
    const mounts = [
      { destination: '/data', source: '/var/lib/skiff/volumes/v/_data', readOnly: false },
      { destination: '/data/ro', source: '/srv/ro', readOnly: true },
    ];
    const view = { rootfs: '/run/skiff/c/rootfs', mounts };
    assert.equal(hostPathOf(view, '/data/x'), '/var/lib/skiff/volumes/v/_data/x');
    assert.equal(hostPathOf(view, '/data'), '/var/lib/skiff/volumes/v/_data');
    assert.equal(hostPathOf(view, '/data/ro/y'), '/srv/ro/y');
    assert.equal(hostPathOf(view, '/database'), '/run/skiff/c/rootfs/database');
    assert.equal(mountOf(mounts, '/data/ro')?.readOnly, true);
  });

  it("gives Go's FileMode and RFC 3339 nanosecond times, as X-Docker-Container-Path-Stat carries them", () => {
    assert.equal(goFileMode(0o100644), 0o644);
    assert.equal(goFileMode(0o040755), 2147484141, "a directory, as dockerd 20.10's stat of /d");
    assert.equal(goFileMode(0o120777), 134218239, "a symlink, as dockerd 20.10's stat of /lnk");
    assert.equal(goFileMode(0o041777), 2 ** 31 + 2 ** 20 + 0o777);
    assert.equal(goTime(1_795_928_943_624_640_712n), '2026-11-29T05:09:03.624640712Z');
    assert.equal(goTime(1_795_928_943_000_000_000n), '2026-11-29T05:09:03Z');
    assert.equal(goTime(1_795_928_943_100_000_000n), '2026-11-29T05:09:03.1Z');
  });
});

const entry = (path: string, fields: Partial<UpperEntry> = {}): UpperEntry => ({
  path,
  whiteout: false,
  directory: false,
  inImage: undefined,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  hiddenImageChildren: [],
  ...fields,
});
const imageDir = { directory: true, mode: 0o040755, uid: 0, gid: 0 };
const imageFile = { directory: false, mode: 0o100644, uid: 0, gid: 0 };

describe('docker diff', () => {
  it('adds, changes and deletes, a directory changed only when something under it did', () => {
    const changes = classifyChanges([
      entry('/etc', { directory: true, mode: 0o040755, inImage: imageDir }),
      entry('/etc/group', { whiteout: true, mode: 0o020000, inImage: imageFile }),
      entry('/etc/passwd', { inImage: imageFile }),
      entry('/tmp', { directory: true, mode: 0o041777, inImage: { ...imageDir, mode: 0o041777 } }),
      entry('/tmp/new'),
      entry('/var', { directory: true, mode: 0o040755, inImage: imageDir }),
    ]);
    assert.deepEqual(changesToWire(changes), [
      { Path: '/etc', Kind: 0 },
      { Path: '/etc/group', Kind: 2 },
      { Path: '/etc/passwd', Kind: 0 },
      { Path: '/tmp', Kind: 0 },
      { Path: '/tmp/new', Kind: 1 },
    ]);
  });

  it("leaves out the runtime's mount points and their copied-up parent; an opaque directory's hidden entries are deleted", () => {
    const changes = classifyChanges([
      entry('/etc', { directory: true, mode: 0o040755, inImage: imageDir }),
      entry('/etc/hosts'),
      entry('/srv', { directory: true, mode: 0o040755, inImage: imageDir, hiddenImageChildren: ['old'] }),
    ]);
    assert.deepEqual(changes, [
      { path: '/srv', kind: 'modified' },
      { path: '/srv/old', kind: 'deleted' },
    ]);
    assert.equal(changesToWire([]), null, 'no changes: null, as dockerd answers');
  });
});

const record = (config: Partial<ContainerRecord['config']>): ContainerRecord =>
  ({
    config: { cmd: null, entrypoint: null, env: [], workingDir: '', exposedPorts: [], labels: {}, ...config },
  }) as ContainerRecord;

describe('docker commit', () => {
  const image = { ...emptyImageConfig(), env: ['PATH=/bin', 'A=1'], cmd: ['sh'], exposedPorts: ['80/tcp'], labels: { base: 'yes' } };

  it("keeps the container's settings over its image's", () => {
    const config = containerImageConfig(record({ env: ['A=2', 'B=3'], labels: { team: 'x' }, exposedPorts: ['8080/tcp'], workingDir: '/srv' }), image);
    assert.deepEqual(config, {
      env: ['PATH=/bin', 'A=2', 'B=3'],
      cmd: ['sh'],
      entrypoint: null,
      workingDir: '/srv',
      exposedPorts: ['80/tcp', '8080/tcp'],
      labels: { base: 'yes', team: 'x' },
    });
    assert.equal(containerImageConfig(record({ entrypoint: ['/bin/top'] }), image).cmd, null, "an entrypoint given drops the image's cmd, as Docker's create");
  });

  it('lays the request config, then --change, over it; a bad change is refused', () => {
    const container = containerImageConfig(record({}), image);
    const config = commitConfig(container, commitOverridesFromWire('{"Env":["C=4"],"Labels":{"l":"v"}}'), ['CMD ["cat", "/x"]', 'WORKDIR /w', 'EXPOSE 53/udp']);
    assert.deepEqual(
      [config.cmd, config.workingDir, config.exposedPorts, config.env.at(-1), config.labels['l']],
      [['cat', '/x'], '/w', ['80/tcp', '53/udp'], 'C=4', 'v'],
    );
    assert.deepEqual(commitOverridesFromWire('null'), {}, "the docker CLI's body");
    assert.throws(() => commitConfig(container, {}, ['FROBNICATE x']), /frobnicate is not a valid change command/);
  });
});

describe('docker-archive', () => {
  it('reads manifest.json and refuses paths that leave the archive', () => {
    assert.deepEqual(parseManifest('[{"Config":"abc.json","RepoTags":["busybox:latest"],"Layers":["l1/layer.tar","./l2/layer.tar"]}]'), [
      { config: 'abc.json', repoTags: ['busybox:latest'], layers: ['l1/layer.tar', 'l2/layer.tar'] },
    ]);
    assert.deepEqual(parseManifest('[{"Config":"abc.json","RepoTags":null,"Layers":[]}]')[0]!.repoTags, []);
    assert.throws(() => parseManifest('[{"Config":"../../etc/passwd","Layers":[]}]'), /leaves the archive/);
    assert.throws(() => parseManifest('[{"Config":"a.json","Layers":["/etc/shadow"]}]'), /leaves the archive/);
    assert.throws(() => parseManifest('{"Config":"a.json"}'), /not a list of images/);
    assert.throws(() => parseManifest('[{"Config":"a.json"}]'), /Layers must be a list/);
    assert.throws(() => parseManifest('not json'), /invalid manifest.json/);
  });

  it("writes an image config Docker reads back to the same config, its one layer's digest as diff id", () => {
    const image = {
      id: 'sha256:1',
      repoTags: [],
      created: '2024-01-01T00:00:00.000Z',
      size: 1,
      rootfsPath: '/x',
      comment: 'c',
      config: { env: ['A=1'], cmd: ['sh'], entrypoint: null, workingDir: '/w', exposedPorts: ['80/tcp'], labels: { k: 'v' } },
    };
    const text = imageConfigToDocker(image, 'sha256:feed');
    const parsed = JSON.parse(text) as { os: string; rootfs: { type: string; diff_ids: string[] }; config: { ExposedPorts: object } };
    assert.deepEqual([parsed.os, parsed.rootfs, parsed.config.ExposedPorts], ['linux', { type: 'layers', diff_ids: ['sha256:feed'] }, { '80/tcp': {} }]);
    const back = imageConfigFromDocker(text);
    assert.deepEqual(back, {
      config: image.config,
      created: image.created,
      comment: 'c',
      author: '',
      diffIds: ['sha256:feed'],
      steps: [{ created: image.created, created_by: 'skiff', comment: 'c' }],
    });
    assert.deepEqual(imageConfigFromDocker('{"config":{"Env":null,"Labels":null}}').config, emptyImageConfig());
  });
});
