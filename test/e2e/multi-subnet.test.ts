/**
 * A bridge network with two subnets (Docker 20.10 refuses these; skiff serves
 * them): addresses come from the first subnet until it is full, then from the
 * next; every gateway is on the bridge; each container's default route goes
 * through the gateway of its own subnet, so containers on either subnet reach
 * each other, by address and by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

const addressOf = async (name: string) =>
  (await daemon.ok('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.Gateway}}{{end}}', name)).trim().split(' ') as [string, string];

test('two subnets on one bridge: the first fills, the next takes over, both reach each other', async () => {
  // Through the API, as compose sends it: the docker CLI puts its --subnet flags in a Go map, so their order is random.
  const created = await daemon.http(
    'POST',
    '/v1.41/networks/create',
    JSON.stringify({ Name: 'two', IPAM: { Config: [{ Subnet: '10.5.0.0/30' }, { Subnet: '10.6.0.0/29' }] } }),
  );
  assert.equal(created.status, 201, created.body);
  const gateways = (await daemon.ok('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}} {{end}}', 'two')).trim();
  assert.equal(gateways, '10.5.0.1 10.6.0.1');
  for (const name of ['first', 'second', 'third']) await daemon.ok('run', '-d', '--name', name, '--network', 'two', 'busybox', 'sleep', '300');
  const [first, firstGateway] = await addressOf('first');
  const [second, secondGateway] = await addressOf('second');
  const [third] = await addressOf('third');
  assert.deepEqual([first, second, third], ['10.5.0.2', '10.6.0.2', '10.6.0.3'], 'a /30 holds one container; then the /29');
  assert.deepEqual([firstGateway, secondGateway], ['10.5.0.1', '10.6.0.1'], 'each shows the gateway of its own subnet');
  const route = await daemon.ok('exec', 'second', 'ip', 'route', 'show', 'default');
  assert.match(route, /default via 10\.6\.0\.1 dev eth0/);
  for (const [from, to] of [
    ['first', second],
    ['second', first],
    ['third', first],
    ['first', 'third'],
    ['second', 'first'],
  ] as const) {
    const ping = await daemon.docker('exec', from, 'ping', '-c', '1', '-W', '2', to);
    assert.equal(ping.code, 0, `${from} reaches ${to}: ${ping.stdout}${ping.stderr}`);
  }
  await daemon.ok('rm', '-f', 'first', 'second', 'third');
  await daemon.ok('network', 'rm', 'two');
});
