/**
 * docker rename: a neighbour resolves the new name (and no longer the old
 * one) through the embedded DNS; network inspect shows it; bad names get
 * Docker's errors and change nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

test('rename: a neighbour pings the new name and no longer resolves the old one', async () => {
  await daemon.ok('network', 'create', 'ren');
  await daemon.ok('run', '-d', '--name', 'e1', '--network', 'ren', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'neighbour', '--network', 'ren', 'busybox', 'sleep', '300');
  await daemon.ok('rename', 'e1', 'e2');
  assert.equal((await daemon.ok('inspect', '-f', '{{.Name}}', 'e2')).trim(), '/e2');
  const ping = await daemon.docker('exec', 'neighbour', 'ping', '-c', '1', '-W', '2', 'e2');
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  assert.notEqual((await daemon.docker('exec', 'neighbour', 'nslookup', 'e1')).code, 0, 'the old name is gone');
  const [network] = JSON.parse(await daemon.ok('network', 'inspect', 'ren')) as Array<{ Containers: Record<string, { Name: string }> }>;
  assert.deepEqual(
    Object.values(network!.Containers)
      .map((container) => container.Name)
      .sort(),
    ['e2', 'neighbour'],
  );
  // Stopped and started again, it joins under the new name.
  await daemon.ok('restart', '-t', '1', 'e2');
  assert.equal((await daemon.docker('exec', 'neighbour', 'ping', '-c', '1', '-W', '2', 'e2')).code, 0);

  const taken = await daemon.docker('rename', 'e2', 'neighbour');
  assert.match(taken.stderr, /The container name "\/neighbour" is already in use/);
  assert.match((await daemon.docker('rename', 'e2', 'e2')).stderr, /Renaming a container with the same name as its current name/);
  assert.match((await daemon.docker('rename', 'e2', 'bad name')).stderr, /Invalid container name \(bad name\)/);
  assert.match((await daemon.docker('rename', 'nosuch', 'x1')).stderr, /No such container: nosuch/);
  assert.deepEqual((await daemon.ok('ps', '--format', '{{.Names}}')).split('\n').filter(Boolean).sort(), ['e2', 'neighbour']);
  await daemon.ok('rm', '-f', 'e2', 'neighbour');
  await daemon.ok('network', 'rm', 'ren');
});
