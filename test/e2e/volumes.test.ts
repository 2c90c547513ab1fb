/**
 * Volumes through the docker CLI: data written to a named volume survives
 * docker rm and is seen by a new container; a new volume is filled from the
 * image's files at its path; anonymous volumes go with run --rm and rm -v;
 * volume ls/inspect/rm/prune answer as Docker's, a volume in use is kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

const volumeNames = async () => (await daemon.ok('volume', 'ls', '-q')).split('\n').filter(Boolean).sort();

test('data written to a named volume survives rm and is seen by a new container', async () => {
  await daemon.ok('run', '--name', 'writer', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/file');
  await daemon.ok('rm', 'writer');
  assert.equal(await daemon.ok('run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/file'), 'persisted\n');
  assert.deepEqual(await volumeNames(), ['keep']);
  const [shown] = JSON.parse(await daemon.ok('volume', 'inspect', 'keep')) as Array<{ Name: string; Driver: string; Mountpoint: string; Scope: string }>;
  assert.deepEqual([shown!.Name, shown!.Driver, shown!.Scope], ['keep', 'local', 'local']);
  assert.ok(shown!.Mountpoint.startsWith(daemon.dataRoot), shown!.Mountpoint);
  await daemon.ok('volume', 'rm', 'keep');
  assert.deepEqual(await volumeNames(), []);
});

test("a new volume gets the image's files at its path; inspect shows it under Mounts", async () => {
  await daemon.ok('create', '--name', 'seeded', '-v', 'etcvol:/etc', 'busybox', 'cat', '/etc/passwd');
  await daemon.ok('start', '-a', 'seeded');
  assert.match(await daemon.ok('logs', 'seeded'), /^root:/m, 'copied from the image on first use');
  const [mount] = JSON.parse(await daemon.ok('inspect', '-f', '{{json .Mounts}}', 'seeded')) as Array<Record<string, unknown>>;
  assert.deepEqual([mount!['Type'], mount!['Name'], mount!['Destination'], mount!['Driver'], mount!['RW']], ['volume', 'etcvol', '/etc', 'local', true]);
  const inUse = await daemon.docker('volume', 'rm', 'etcvol');
  assert.notEqual(inUse.code, 0);
  assert.match(inUse.stderr, /remove etcvol: volume is in use - \[[0-9a-f]{64}\]/);
  await daemon.ok('rm', 'seeded');
  await daemon.ok('volume', 'rm', 'etcvol');
});

test('anonymous volumes go with run --rm and rm -v; prune removes only unused volumes; bad names get Docker errors', async () => {
  await daemon.ok('run', '--rm', '-v', '/scratch', 'busybox', 'touch', '/scratch/x');
  assert.deepEqual(await volumeNames(), [], 'run --rm removed its anonymous volume');
  await daemon.ok('create', '--name', 'anon', '-v', '/scratch', 'busybox', 'true');
  assert.equal((await volumeNames()).length, 1);
  await daemon.ok('rm', '-v', 'anon');
  assert.deepEqual(await volumeNames(), [], 'rm -v removed it');

  await daemon.ok('volume', 'create', '--label', 'team=db', 'unused');
  await daemon.ok('volume', 'create', 'used');
  await daemon.ok('create', '--name', 'user', '--mount', 'type=volume,source=used,target=/u', 'busybox', 'true');
  assert.match(await daemon.ok('volume', 'prune', '-f'), /unused/);
  assert.deepEqual(await volumeNames(), ['used']);
  await daemon.ok('rm', 'user');
  await daemon.ok('volume', 'rm', 'used');

  const bad = await daemon.docker('volume', 'create', 'bad/name');
  assert.match(bad.stderr, /"bad\/name" includes invalid characters for a local volume name/);
  // Longer than any directory name may be: a bad request in dockerd's local driver's words, not a server error (the API fuzzer found a 500).
  const long = await daemon.docker('volume', 'create', 'x'.repeat(300));
  assert.equal(long.code, 1);
  assert.match(long.stderr, /Error response from daemon: create x{300}: error while creating volume root path '.*': mkdir .*: file name too long/);
  assert.match((await daemon.docker('volume', 'inspect', 'nope')).stderr, /no such volume/i);
  assert.deepEqual(await volumeNames(), []);
});
