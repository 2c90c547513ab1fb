/** docker top: the container's processes from the host's ps, with the client's ps arguments; a stopped container is refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

test("docker top lists the container's processes and only those", async () => {
  await daemon.ok('run', '-d', '--name', 'busy', 'busybox', 'sh', '-c', 'sleep 301 & sleep 302 & wait');
  let listed = '';
  for (let attempt = 0; attempt < 50 && !listed.includes('sleep 301'); attempt++) listed = await daemon.ok('top', 'busy');
  assert.match(listed, /^UID\s+PID\s+PPID/m);
  assert.match(listed, /sleep 301/);
  assert.match(listed, /sleep 302/);
  assert.equal(listed.trim().split('\n').length, 4, `sh and its two sleeps, nothing of the host: ${listed}`);
  assert.match(await daemon.ok('top', 'busy', '-o', 'pid,comm'), /^\s*PID\s+COMMAND/m);
  await daemon.ok('stop', '-t', '1', 'busy');
  assert.match((await daemon.docker('top', 'busy')).stderr, /is not running/);
  await daemon.ok('rm', 'busy');
});
