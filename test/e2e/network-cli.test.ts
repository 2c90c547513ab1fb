/**
 * docker network create/ls/inspect/rm/prune through the stock docker CLI and
 * skiff's own CLI against a real daemon; every bad input gets Docker's error
 * and changes nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, sh, worldLinks, worldNftTables } from '../helpers/world.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon();
});
after(async () => {
  await daemon.cleanup();
  for (const link of await worldLinks()) await sh('ip', ['link', 'del', link]);
  await sh('nft', ['delete', 'table', 'inet', 'skiff']);
});

/** What a user could observe: networks, links, addresses and the firewall table. */
async function snapshot(): Promise<string> {
  const networks = (await daemon.docker('network', 'ls', '--no-trunc', '--format', '{{.ID}} {{.Name}}')).stdout;
  const links = await sh('ip', ['-br', 'addr']);
  const table = await sh('nft', ['list', 'table', 'inet', 'skiff']);
  return `${networks}\n${links}\n${table}`;
}

test('the predefined networks are there as Docker shows them', async () => {
  const ls = await daemon.docker('network', 'ls');
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /^NETWORK ID {5}NAME {6}DRIVER {4}SCOPE$/m);
  assert.match(ls.stdout, /^[0-9a-f]{12} {3}bridge {4}bridge {4}local$/m);
  assert.match(ls.stdout, /^[0-9a-f]{12} {3}host {6}host {6}local$/m);
  assert.match(ls.stdout, /^[0-9a-f]{12} {3}none {6}null {6}local$/m);
  const inspect = JSON.parse((await daemon.docker('network', 'inspect', 'bridge')).stdout) as Array<Record<string, unknown>>;
  const bridge = inspect[0]!;
  assert.deepEqual(Object.keys(bridge), [
    'Name',
    'Id',
    'Created',
    'Scope',
    'Driver',
    'EnableIPv6',
    'IPAM',
    'Internal',
    'Attachable',
    'Ingress',
    'ConfigFrom',
    'ConfigOnly',
    'Containers',
    'Options',
    'Labels',
  ]);
  assert.deepEqual(bridge['IPAM'], { Driver: 'default', Options: null, Config: [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] });
  assert.deepEqual(bridge['Options'], {
    'com.docker.network.bridge.default_bridge': 'true',
    'com.docker.network.bridge.enable_icc': 'true',
    'com.docker.network.bridge.enable_ip_masquerade': 'true',
    'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
    'com.docker.network.bridge.name': 'skiff0',
    'com.docker.network.driver.mtu': '1500',
  });
  assert.match(String(bridge['Created']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.match(await sh('ip', ['-br', 'addr', 'show', 'skiff0']), /172\.17\.0\.1\/16/);
});

test("create, inspect, ls with filters and formats, rm: the seeds' localnet walkthrough", async () => {
  const created = await daemon.docker('network', 'create', '-d', 'bridge', 'localnet');
  assert.equal(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.match(await sh('ip', ['-br', 'addr', 'show', `br-${id.slice(0, 12)}`]), /172\.18\.0\.1\/16/);
  const inspected = JSON.parse((await daemon.docker('network', 'inspect', 'localnet')).stdout) as Array<Record<string, unknown>>;
  assert.equal(inspected[0]!['Id'], id);
  assert.deepEqual(inspected[0]!['IPAM'], { Driver: 'default', Options: {}, Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] });
  assert.deepEqual(inspected[0]!['Containers'], {});
  const format = await daemon.docker('network', 'inspect', 'localnet', '--format', '{{json .Containers}}');
  assert.equal(format.stdout.trim(), '{}');
  const subnet = await daemon.docker('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', 'localnet');
  assert.equal(subnet.stdout.trim(), '172.18.0.0/16');
  const filtered = await daemon.docker('network', 'ls', '-q', '--filter', 'name=local', '--no-trunc');
  assert.equal(filtered.stdout.trim(), id);
  const custom = await daemon.docker('network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}}');
  assert.equal(custom.stdout.trim(), 'localnet');
  const mine = await daemon.skiff('network', 'ls', '--format', '{{.Name}} {{.Driver}}');
  assert.match(mine.stdout, /^localnet bridge$/m);
  const removed = await daemon.docker('network', 'rm', 'localnet');
  assert.equal(removed.code, 0, removed.stderr);
  assert.equal(removed.stdout.trim(), 'localnet');
  assert.ok(!(await worldLinks()).includes(`br-${id.slice(0, 12)}`));
});

test('subnet, gateway, ip-range, aux-address, options and labels appear in inspect and in the kernel', async () => {
  const created = await daemon.skiff(
    'network',
    'create',
    '--subnet',
    '10.30.0.0/16',
    '--gateway',
    '10.30.255.254',
    '--ip-range',
    '10.30.5.0/24',
    '--aux-address',
    'router=10.30.0.2',
    '-o',
    'com.docker.network.bridge.name=skiffdemo',
    '-o',
    'com.docker.network.driver.mtu=1400',
    '--label',
    'team=net',
    '--internal',
    '--attachable',
    'shaped',
  );
  assert.equal(created.code, 0, created.stderr);
  const [network] = JSON.parse((await daemon.docker('network', 'inspect', 'shaped')).stdout) as Array<{ IPAM: { Config: unknown } } & Record<string, unknown>>;
  assert.deepEqual(network!.IPAM.Config, [
    { Subnet: '10.30.0.0/16', IPRange: '10.30.5.0/24', Gateway: '10.30.255.254', AuxiliaryAddresses: { router: '10.30.0.2' } },
  ]);
  assert.equal(network!['Internal'], true);
  assert.equal(network!['Attachable'], true);
  assert.deepEqual(network!['Labels'], { team: 'net' });
  const link = JSON.parse(await sh('ip', ['-json', 'addr', 'show', 'skiffdemo'])) as Array<{ mtu: number; addr_info: Array<{ local: string }> }>;
  assert.equal(link[0]!.mtu, 1400);
  assert.ok(link[0]!.addr_info.some((a) => a.local === '10.30.255.254'));
  assert.match(await sh('nft', ['list', 'set', 'inet', 'skiff', 'internal_bridges']), /skiffdemo/);
  const byLabel = await daemon.docker('network', 'ls', '--filter', 'label=team=net', '--format', '{{.Name}}');
  assert.equal(byLabel.stdout.trim(), 'shaped');
  assert.equal((await daemon.docker('network', 'rm', 'shaped')).code, 0);
});

test("bad input gets Docker's error and changes nothing", async () => {
  const base = await daemon.docker('network', 'create', '--subnet', '10.40.0.0/24', 'taken');
  assert.equal(base.code, 0, base.stderr);
  const before = await snapshot();
  const cases: Array<{ args: string[]; error: RegExp }> = [
    { args: ['--subnet', '10.0.0.0/33', 'bad1'], error: /invalid CIDR address: 10\.0\.0\.0\/33/ },
    { args: ['--subnet', 'nonsense', 'bad1'], error: /invalid CIDR address: nonsense/ },
    { args: ['--subnet', '10.41.0.0/24', '--gateway', '10.99.0.1', 'bad2'], error: /no matching subnet for gateway 10\.99\.0\.1/ },
    { args: ['--subnet', '10.40.0.0/16', 'bad3'], error: /Pool overlaps with other one on this address space/ },
    { args: ['taken'], error: /network with name taken already exists/ },
    { args: ['-d', 'nosuchdriver', 'bad4'], error: /plugin "nosuchdriver" not found/ },
    { args: ['-d', 'ipvlan', 'bad5'], error: /ipvlan/ },
    // 'bad;rm -rf /' and '$(reboot)' are plain names to Docker 20.10 (no shell sees them): the clients test makes 'test 01'.
    { args: ['x'.repeat(1000)], error: /invalid network name/ },
    { args: ['-o', 'com.docker.network.bridge.name=a;b', 'bad6'], error: /invalid bridge name/ },
    // An interface skiff did not make is never taken over, nor deleted by the undo of a failed create.
    { args: ['-o', 'com.docker.network.bridge.name=lo', 'bad9'], error: /bridge name lo is already used by an interface on this host/ },
    { args: ['-o', 'com.docker.network.bridge.enable_icc=maybe', 'bad7'], error: /invalid boolean "maybe"/ },
    { args: ['-o', 'com.docker.network.driver.mtu=9', 'bad8'], error: /invalid MTU/ },
  ];
  for (const { args, error } of cases) {
    const result = await daemon.docker('network', 'create', ...args);
    assert.notEqual(result.code, 0, `docker network create ${args.join(' ')} must fail`);
    assert.match(result.stderr, error, `docker network create ${args.join(' ')}`);
  }
  for (const name of ['bridge', 'host', 'none']) {
    const result = await daemon.docker('network', 'rm', name);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${name} is a pre-defined network and cannot be removed`));
  }
  const missing = await daemon.docker('network', 'rm', 'nosuch');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nosuch/);
  const garbage = await daemon.http('POST', '/v1.41/networks/create', '{"Name": "g", ');
  assert.equal(garbage.status, 400);
  assert.match(garbage.body, /"message":"invalid JSON/);
  const wrongType = await daemon.http('POST', '/v1.41/networks/create', '{"Name": 5}');
  assert.equal(wrongType.status, 400);
  const array = await daemon.http('POST', '/v1.41/networks/create', '[1,2]');
  assert.equal(array.status, 400);
  assert.equal(await snapshot(), before, 'nothing changed');
  assert.equal((await daemon.docker('network', 'rm', 'taken')).code, 0);
});

test("default pools are handed out in Docker's order and their exhaustion is Docker's error", async () => {
  const names: string[] = [];
  const subnets: string[] = [];
  for (let index = 0; index < 40; index++) {
    const name = `pool${index}`;
    const result = await daemon.docker('network', 'create', name);
    if (result.code !== 0) {
      assert.match(result.stderr, /could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network/);
      break;
    }
    names.push(name);
    subnets.push((await daemon.docker('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', name)).stdout.trim());
  }
  assert.equal(subnets[0], '172.18.0.0/16');
  assert.equal(subnets[13], '172.31.0.0/16');
  assert.equal(subnets[14], '192.168.0.0/20');
  assert.equal(subnets[15], '192.168.16.0/20');
  assert.equal(names.length, 30, 'the 172.18-31 /16s and sixteen 192.168 /20s (172.17 is the default bridge)');
  const pruned = await daemon.docker('network', 'prune', '-f');
  assert.equal(pruned.code, 0, pruned.stderr);
  assert.match(pruned.stdout, /Deleted Networks:\npool0\n/);
  const left = await daemon.docker('network', 'ls', '--format', '{{.Name}}');
  assert.deepEqual(left.stdout.trim().split('\n').sort(), ['bridge', 'host', 'none']);
});

test('a restarted daemon keeps its networks, bridges and table', async () => {
  await daemon.docker('network', 'create', '--subnet', '10.50.0.0/24', 'survivor');
  const before = await snapshot();
  daemon = await daemon.restart();
  assert.equal(await snapshot(), before);
  assert.equal((await daemon.docker('network', 'rm', 'survivor')).code, 0);
  assert.deepEqual(
    (await worldNftTables()).filter((t) => t.includes('skiff')),
    ['table inet skiff'],
  );
});
