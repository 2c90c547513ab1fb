/**
 * docker container/image/volume/network/system prune through the docker CLI
 * and the API: only what Docker's prune removes goes (a running container,
 * its image and its network stay, a used volume stays), until= and label
 * filters keep what they keep, and a bad filter gets Docker's error with
 * nothing removed. The JSON is dockerd 20.10's (null lists when nothing went)
 * and matches the Engine API 1.41 specification.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir, tryRun } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { specChecked } from '../helpers/api-spec.js';

assertInWorld();

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };

before(async () => {
  scratch = scratchDir('skiff-prune-');
  daemon = await startDaemon();
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
  scratch.remove();
});

const filters = (value: Record<string, string[]>) => encodeURIComponent(JSON.stringify(value));
const prune = async (kind: string, value: Record<string, string[]> = {}) => {
  const answer = await daemon.http('POST', `/v1.41/${kind}/prune?filters=${filters(value)}`);
  // The specification gives prunes no 400: errors are checked against dockerd's words instead.
  const body = answer.status === 400 ? JSON.parse(answer.body) : specChecked('POST', `/${kind}/prune`, answer);
  return { status: answer.status, body: body as Record<string, unknown> };
};
const names = async (...args: string[]) => (await daemon.ok(...args)).split('\n').filter(Boolean).sort();

/** A tiny image of its own (one file), imported untagged unless a tag is given: a dangling image. */
async function importTiny(content: string, tag?: string): Promise<string> {
  const root = join(scratch.path, content);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'file'), content);
  const tar = join(scratch.path, `${content}.tar`);
  const made = await tryRun('tar', ['-C', root, '-cf', tar, '.']);
  assert.equal(made.code, 0, made.stderr);
  return (await daemon.ok('import', tar, ...(tag === undefined ? [] : [tag]))).trim();
}

test('container prune removes stopped containers only; until and label filters keep theirs; bad filters change nothing', async () => {
  await daemon.ok('run', '-d', '--name', 'up', 'busybox', 'sleep', '300');
  await daemon.ok('run', '--name', 'done', '--label', 'team=a', 'busybox', 'true');
  await daemon.ok('create', '--name', 'fresh', 'busybox', 'true');
  const all = () => names('ps', '-a', '--format', '{{.Names}}');

  const refusals: Array<[Record<string, string[]>, number, string]> = [
    [{ foo: ['x'] }, 400, "Invalid filter 'foo'"],
    [{ until: ['bad'] }, 500, 'failed to parse value as time or duration: "bad"'],
    [{ until: ['1h', '2h'] }, 500, 'more than one until filter specified'],
  ];
  for (const [filter, status, message] of refusals) {
    const refused = await prune('containers', filter);
    assert.deepEqual([refused.status, refused.body], [status, { message }]);
  }
  const cli = await daemon.docker('container', 'prune', '-f', '--filter', 'until=yesterday');
  assert.match(cli.stderr, /failed to parse value as time or duration: "yesterday"/);
  assert.deepEqual(await all(), ['done', 'fresh', 'up'], 'a refused prune removes nothing');

  assert.deepEqual((await prune('containers', { until: ['1h'] })).body, { ContainersDeleted: null, SpaceReclaimed: 0 }, 'all are newer than an hour ago');
  const doneId = (await daemon.ok('inspect', '-f', '{{.Id}}', 'done')).trim();
  assert.deepEqual((await prune('containers', { label: ['team=a'] })).body, { ContainersDeleted: [doneId], SpaceReclaimed: 0 });
  await daemon.ok('run', '--name', 'writer', 'busybox', 'sh', '-c', 'head -c 5000 /dev/zero > /payload');
  const output = await daemon.ok('container', 'prune', '-f', '--filter', `until=${new Date(Date.now() + 60_000).toISOString()}`);
  assert.match(output, /Deleted Containers:\n[0-9a-f]{64}\n[0-9a-f]{64}\n/);
  assert.match(output, /Total reclaimed space: 5kB/, "the writer's own layer");
  assert.deepEqual(await all(), ['up'], 'the running container stays');
  await daemon.ok('rm', '-f', 'up');
});

test('image prune removes dangling images; -a every image no container uses; a used image keeps its last tag', async () => {
  const dangling = await importTiny('dangling');
  const unused = await importTiny('unused', 'unused:1');
  await daemon.ok('tag', 'busybox', 'alias:1');
  await daemon.ok('create', '--name', 'user', 'busybox', 'true');
  const images = () => names('images', '--format', '{{.Repository}}:{{.Tag}}');

  assert.deepEqual((await prune('images', { dangling: ['x'] })).body, { message: "Invalid filter 'dangling=[x]'" });
  assert.deepEqual((await prune('images', { dangling: ['false'], until: ['1h'] })).body, { ImagesDeleted: null, SpaceReclaimed: 0 });
  const danglingOnly = await prune('images');
  assert.deepEqual(danglingOnly.body['ImagesDeleted'], [{ Deleted: dangling }]);
  assert.ok((danglingOnly.body['SpaceReclaimed'] as number) > 0);
  assert.deepEqual(await images(), ['alias:1', 'busybox:latest', 'unused:1']);

  const everything = await prune('images', { dangling: ['false'] });
  // Docker walks its images in no set order (a Go map), each image's tags in lexical order.
  const report = (everything.body['ImagesDeleted'] as Array<Record<string, string>>).map((item) => JSON.stringify(item)).sort();
  assert.deepEqual(
    report,
    [{ Deleted: unused }, { Untagged: 'alias:1' }, { Untagged: 'unused:1' }].map((item) => JSON.stringify(item)),
  );
  assert.deepEqual(await images(), ['busybox:latest'], "the created container's image stays, as Docker's conflict keeps it");
  assert.match(await daemon.ok('image', 'prune', '-a', '-f'), /Total reclaimed space: 0B/);
  await daemon.ok('rm', 'user');
});

test('volume prune keeps used volumes and what label/label! keep; until is refused as by 20.10', async () => {
  await daemon.ok('volume', 'create', '--label', 'keep=yes', 'kept');
  await daemon.ok('volume', 'create', 'loose');
  await daemon.ok('volume', 'create', 'used');
  await daemon.ok('create', '--name', 'holder', '-v', 'used:/u', 'busybox', 'true');
  assert.deepEqual((await prune('volumes', { until: ['1h'] })).body, { message: "Invalid filter 'until'" });
  await daemon.ok('run', '--rm', '-v', 'loose:/l', 'busybox', 'sh', '-c', 'head -c 3000 /dev/zero > /l/data');
  assert.deepEqual((await prune('volumes', { 'label!': ['keep'] })).body, { VolumesDeleted: ['loose'], SpaceReclaimed: 3000 });
  assert.deepEqual(await names('volume', 'ls', '-q'), ['kept', 'used']);
  assert.match(await daemon.ok('volume', 'prune', '-f', '--filter', 'label=keep=yes'), /Deleted Volumes:\nkept\n/);
  assert.deepEqual((await prune('volumes')).body, { VolumesDeleted: [], SpaceReclaimed: 0 }, 'an empty list, not null, as 20.10');
  await daemon.ok('rm', 'holder');
  await daemon.ok('volume', 'rm', 'used');
});

test('network prune: label, label! and until; unused user networks only', async () => {
  await daemon.ok('network', 'create', '--label', 'env=test', 'labelled');
  await daemon.ok('network', 'create', 'plain');
  await daemon.ok('network', 'create', 'busy');
  await daemon.ok('run', '-d', '--name', 'onbusy', '--network', 'busy', 'busybox', 'sleep', '300');
  assert.deepEqual((await prune('networks', { until: ['bad'] })).body, { message: 'failed to parse value as time or duration: "bad"' });
  assert.deepEqual((await prune('networks', { until: ['1h'] })).body, { NetworksDeleted: null });
  assert.deepEqual((await prune('networks', { 'label!': ['env'] })).body, { NetworksDeleted: ['plain'] });
  assert.match(await daemon.ok('network', 'prune', '-f', '--filter', 'label=env=test'), /Deleted Networks:\nlabelled\n/);
  assert.deepEqual(await names('network', 'ls', '--format', '{{.Name}}'), ['bridge', 'busy', 'host', 'none']);
  await daemon.ok('rm', '-f', 'onbusy');
  await daemon.ok('network', 'rm', 'busy');
});

test('docker system prune goes through every step: stopped containers, unused networks, dangling images, volumes with --volumes', async () => {
  assert.deepEqual((await daemon.http('POST', '/v1.41/build/prune')).body, '{"CachesDeleted":null,"SpaceReclaimed":0}\n');
  const refused = await daemon.http('POST', `/v1.41/build/prune?filters=${filters({ foo: ['x'] })}`);
  assert.deepEqual([refused.status, JSON.parse(refused.body)], [400, { message: "failed to prune build cache: Invalid filter 'foo'" }]);
  await daemon.ok('network', 'create', 'spare');
  await daemon.ok('network', 'create', 'kept');
  await daemon.ok('run', '-d', '--name', 'stays', '--network', 'kept', '-v', 'inuse:/v', 'busybox', 'sleep', '300');
  await daemon.ok('run', '--name', 'gone', '-v', 'orphan:/v', 'busybox', 'true');
  const dangling = await importTiny('system');
  const output = await daemon.ok('system', 'prune', '-f', '--volumes');
  assert.match(output, /Deleted Containers:\n[0-9a-f]{64}\n/);
  assert.match(output, /Deleted Networks:\nspare\n/);
  assert.match(output, /Deleted Volumes:\norphan\n/);
  assert.ok(output.includes(`deleted: ${dangling}`), output);
  assert.match(output, /Total reclaimed space:/);
  assert.deepEqual(await names('ps', '-a', '--format', '{{.Names}}'), ['stays']);
  assert.deepEqual(await names('network', 'ls', '--format', '{{.Name}}'), ['bridge', 'host', 'kept', 'none']);
  assert.deepEqual(await names('volume', 'ls', '-q'), ['inuse']);
  assert.deepEqual(await names('images', '--format', '{{.Repository}}'), ['busybox']);
  await daemon.ok('rm', '-f', '-v', 'stays');
  await daemon.ok('volume', 'rm', 'inuse');
  await daemon.ok('network', 'rm', 'kept');
});
