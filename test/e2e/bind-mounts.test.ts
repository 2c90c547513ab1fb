/**
 * Bind mounts through the docker CLI: -v HOST:CTR shares a host directory
 * both ways, :ro refuses writes, a missing -v source is made, --mount
 * type=bind wants its source to exist, and docker inspect shows Mounts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

test('-v HOST:CTR shares a directory both ways; :ro refuses writes; inspect shows the mounts', async () => {
  const shared = join(daemon.dir, 'shared');
  mkdirSync(shared);
  writeFileSync(join(shared, 'from-host'), 'hello\n');
  assert.equal(await daemon.ok('run', '--rm', '-v', `${shared}:/h`, 'busybox', 'sh', '-c', 'cat /h/from-host; echo back > /h/from-container'), 'hello\n');
  assert.equal(readFileSync(join(shared, 'from-container'), 'utf8'), 'back\n');
  const readOnly = await daemon.docker('run', '--rm', '-v', `${shared}:/h:ro`, 'busybox', 'touch', '/h/x');
  assert.notEqual(readOnly.code, 0);
  assert.match(readOnly.stderr, /Read-only file system/);

  const made = join(daemon.dir, 'made', 'by', 'v');
  await daemon.ok('create', '--name', 'shown', '-v', `${made}:/m:ro`, '--mount', `type=bind,source=${shared},target=/s`, 'busybox', 'true');
  const mounts = JSON.parse(await daemon.ok('inspect', '-f', '{{json .Mounts}}', 'shown')) as unknown;
  assert.deepEqual(mounts, [
    { Type: 'bind', Source: made, Destination: '/m', Mode: '', RW: false, Propagation: 'rprivate' },
    { Type: 'bind', Source: shared, Destination: '/s', Mode: '', RW: true, Propagation: 'rprivate' },
  ]);
  assert.equal((await daemon.ok('inspect', '-f', '{{json .HostConfig.Binds}}', 'shown')).trim(), JSON.stringify([`${made}:/m:ro`]));
  await daemon.ok('start', 'shown');
  assert.ok(existsSync(made), 'a missing -v source is made at start, as Docker makes it');
  // `true` may still be running when start returns: rm without -f wants it ended.
  await daemon.ok('wait', 'shown');
  await daemon.ok('rm', 'shown');
});

test('bad mounts get Docker errors and make nothing', async () => {
  const missing = await daemon.docker('run', '--name', 'badmount', '--mount', 'type=bind,source=/nonexistent/x,target=/x', 'busybox', 'true');
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /bind source path does not exist: \/nonexistent\/x/);
  const duplicate = await daemon.docker('run', '--name', 'badmount', '-v', '/tmp:/x', '-v', '/var:/x', 'busybox', 'true');
  assert.match(duplicate.stderr, /Duplicate mount point: \/x/);
  assert.equal((await daemon.ok('ps', '-aq', '--filter', 'name=badmount')).trim(), '');
});
