/**
 * Links, addresses and nftables rules read by the daemon's own netlink dumps
 * against the real kernel: a bridge, an isolated and a plain port, and a
 * sandbox's interface read by readInterfaces and interfaceState come out as
 * `ip -json -details addr show` shows them; the DNS redirect skiff installs
 * reads back with its ports; a namespace that vanished is an error naming it
 * for readInterfaces and no link for interfaceState, and in a diagnose a
 * failed check with the reason while the other endpoints' checks go on; and
 * no thread of this process but the addon's own ever changed namespace.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, makeNetns, scratchDir, sh, type NetnsHandle } from '../helpers/world.js';
import { interfaceState, readInterfaces, type InterfaceState } from '../../src/kernel/links.js';
import { interfaceAddress } from '../../src/model/address.js';
import { stateFromIpJson, type IpJsonAddr } from '../helpers/ip-json.js';
import { installResolverRedirect } from '../../src/firewall/index.js';
import { readRedirectedPorts } from '../../src/engine/resolver-redirect-read.js';
import { listRules } from '../../src/kernel/nftables/rules.js';
import { diagnoseNetwork } from '../../src/engine/diagnose.js';
import { planNetwork } from '../../src/engine/network-plan.js';
import type { Endpoint, Sandbox } from '../../src/model/network.js';

assertInWorld();

let dir: { path: string; remove: () => void };
let sandbox: NetnsHandle;

/** What skiff made of `ip -json -details addr show` before it read the kernel itself. */
async function fromIp(netns?: NetnsHandle): Promise<Map<string, InterfaceState>> {
  const args = ['-json', '-details', 'addr', 'show'];
  const links = JSON.parse(netns === undefined ? await sh('ip', args) : await netns.exec('ip', args)) as IpJsonAddr[];
  return new Map(links.map((link) => [link.ifname, stateFromIpJson(link)]));
}

/** The network namespaces of this process's threads but the addon's own (skiff-nl-dump): one, the world's. */
function nodeThreadNamespaces(): Set<string> {
  const namespaces = new Set<string>();
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() !== 'skiff-nl-dump') namespaces.add(readlinkSync(`/proc/self/task/${task}/ns/net`));
    } catch {
      // a thread that exited meanwhile
    }
  }
  return namespaces;
}

before(async () => {
  dir = scratchDir();
  sandbox = await makeNetns(dir.path, 'sandbox');
  await sh('ip', ['link', 'add', 'brdump0', 'address', '02:aa:aa:aa:aa:aa', 'type', 'bridge']);
  await sh('ip', ['addr', 'add', '172.31.0.1/16', 'dev', 'brdump0']);
  await sh('ip', ['addr', 'add', 'fd00:31::1/64', 'dev', 'brdump0', 'nodad']);
  await sh('ip', ['link', 'set', 'brdump0', 'up']);
  await sh('ip', ['link', 'add', 'vethdumpa', 'master', 'brdump0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', sandbox.path]);
  await sh('ip', ['link', 'set', 'dev', 'vethdumpa', 'up', 'type', 'bridge_slave', 'isolated', 'on']);
  await sh('ip', ['link', 'add', 'vethdumpb', 'master', 'brdump0', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', sandbox.path]);
  await sandbox.exec('ip', ['addr', 'add', '172.31.0.2/16', 'dev', 'eth0']);
  await sandbox.exec('ip', ['addr', 'add', 'fd00:31::2/64', 'dev', 'eth0', 'nodad']);
  await sandbox.exec('ip', ['link', 'set', 'eth0', 'up']);
});

after(async () => {
  await sh('ip', ['link', 'delete', 'vethdumpa']);
  await sh('ip', ['link', 'delete', 'vethdumpb']);
  await sh('ip', ['link', 'delete', 'brdump0']);
  await sandbox.remove();
  dir.remove();
});

test("the daemon's namespace and a sandbox's read as ip -json -details addr show shows them", async () => {
  const world = nodeThreadNamespaces();
  assert.deepEqual(await readInterfaces(), await fromIp());
  assert.deepEqual(await readInterfaces(sandbox.path), await fromIp(sandbox));
  const host = await readInterfaces();
  assert.equal(host.get('vethdumpa')?.isolated, true);
  assert.equal(host.get('vethdumpb')?.isolated, false);
  assert.equal(host.get('vethdumpb')?.master, 'brdump0');
  assert.deepEqual(nodeThreadNamespaces(), world);
});

test('interfaceState reads one link as the whole namespace reads it, its master by name; undefined for none', async () => {
  const host = await fromIp();
  for (const name of ['brdump0', 'vethdumpa', 'vethdumpb', 'lo']) assert.deepEqual(await interfaceState(name), host.get(name), name);
  assert.deepEqual(await interfaceState('eth0', sandbox.path), (await fromIp(sandbox)).get('eth0'));
  assert.equal(await interfaceState('nosuchlink'), undefined);
  assert.equal(await interfaceState('eth0', `${dir.path}/no-such-netns`), undefined);
});

test('a namespace that cannot be read is an error naming it', async () => {
  const gone = `${dir.path}/no-such-netns`;
  await assert.rejects(readInterfaces(gone), { message: `failed to read netns "${gone}": open: No such file or directory` });
});

test('the DNS redirect skiff installs reads back with its ports; a namespace without one has none', async () => {
  assert.equal(await readRedirectedPorts(sandbox.path), undefined);
  assert.deepEqual(await listRules('ip', 'skiff_dns', sandbox.path), []);
  await installResolverRedirect(sandbox.path, { udp: 40001, tcp: 40002 });
  assert.deepEqual(await readRedirectedPorts(sandbox.path), { udp: 40001, tcp: 40002 });
  await installResolverRedirect(sandbox.path, { udp: 41001, tcp: 41002 });
  assert.deepEqual(await readRedirectedPorts(sandbox.path), { udp: 41001, tcp: 41002 });
});

test('in a diagnose, a sandbox whose namespace cannot be read fails its check with the reason; the others are checked', async () => {
  // Something else bound there (of another file system, as a namespace is): bound, but no namespace to enter.
  const notNetns = join(dir.path, 'not-a-netns');
  writeFileSync(notNetns, '');
  await sh('mount', ['--bind', '/dev/null', notNetns]);
  try {
    const planned = planNetwork(
      { name: 'dg', ipamConfig: [{ subnet: '172.31.0.0/16', gateway: '172.31.0.1' }] },
      { id: 'd'.repeat(64), created: '2026-01-01T00:00:00.000000000Z', existing: [] },
    );
    const network = { ...planned, driver: 'macvlan' as const, bridge: undefined };
    const endpoint = (name: string, address: string, sandboxId: string): Endpoint => ({
      id: name,
      name,
      networkId: network.id,
      sandboxId,
      ifName: 'eth0',
      hostIfName: '',
      macAddress: '02:42:ac:1f:00:02',
      ipv4: interfaceAddress(address, 16),
      linkLocalAddresses: [],
      aliases: [],
      containerId: '',
    });
    const sandboxOf = (id: string, netnsPath: string): Sandbox => ({ id, netnsPath, containerId: '', hostname: id, dnsServers: [] });
    const sandboxes = new Map([
      ['gone', sandboxOf('gone', notNetns)],
      ['alive', sandboxOf('alive', sandbox.path)],
    ]);
    const checks = await diagnoseNetwork(network, [endpoint('c1', '172.31.0.3', 'gone'), endpoint('c2', '172.31.0.2', 'alive')], sandboxes, 'skiff', undefined);
    const [gone, alive, ...rest] = checks.filter((check) => check.what.includes('inside holds'));
    assert.deepEqual(gone, {
      what: 'endpoint c1 (172.31.0.3): eth0 inside holds 172.31.0.3/16',
      ok: false,
      detail: `failed to read netns "${notNetns}": setns: Invalid argument`,
    });
    assert.equal(alive?.what, 'endpoint c2 (172.31.0.2): eth0 inside holds 172.31.0.2/16');
    assert.equal(alive?.ok, true);
    assert.match(alive?.detail ?? '', /^172\.31\.0\.2\/16, fd00:31::2\/64/);
    assert.deepEqual(rest, []);
  } finally {
    await sh('umount', [notNetns]);
  }
});
