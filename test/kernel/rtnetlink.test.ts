/**
 * Endpoints joined by skiff's own rtnetlink requests against the real kernel:
 * a veth endpoint comes out as `ip -batch` used to make it (the same link,
 * alias, master, hairpin, MTU, MAC, addresses and routes, read back with
 * `ip -json`); a refused request reads as `ip`'s error and leaves nothing
 * behind; a namespace that vanished is an error to join and nothing to
 * leave; and no thread of this process ever changed namespace.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { assertInWorld, leftovers, makeNetns, scratchDir, sh, tryRun, type NetnsHandle } from '../helpers/world.js';
import { planNetwork } from '../../src/engine/network-plan.js';
import { BridgeDriver, detachVethEndpoint, joinVethEndpoint, leaveVethEndpoint, setDefaultRouteIn } from '../../src/drivers/bridge.js';
import { deleteLink, ipBatch } from '../../src/kernel/links.js';
import { parseInterfaceAddress, type InterfaceAddress } from '../../src/model/address.js';
import type { Endpoint, Network, Sandbox } from '../../src/model/network.js';

assertInWorld();

let dir: { path: string; remove: () => void };
let network: Network;
const driver = new BridgeDriver();

const address = (text: string): InterfaceAddress => parseInterfaceAddress(text) ?? assert.fail(`not an address: ${text}`);

const endpoint: Endpoint = {
  id: 'e1',
  name: 'c1',
  networkId: 'n',
  sandboxId: 's1',
  ifName: 'eth0',
  hostIfName: 'veth5a5bd80',
  macAddress: '02:42:ac:1e:00:02',
  ipv4: address('172.30.0.2/16'),
  ipv6: address('fd00:30::2/64'),
  linkLocalAddresses: [address('169.254.30.2/16'), address('fe80::30:2/64')],
  aliases: [],
  containerId: '',
};
const gateways = ['172.30.0.1', 'fd00:30::1'];

const sandboxOf = (netns: NetnsHandle): Sandbox => ({ id: 's1', netnsPath: netns.path, containerId: '', hostname: 'c1', dnsServers: [] });

/** The lines skiff gave `ip -batch` for a veth endpoint before it spoke rtnetlink itself: the reference. */
function ipBatchJoin(netnsPath: string): { host: string[]; sandbox: string[] } {
  const { bridgeName, mtu } = network.bridge!;
  return {
    host: [
      `link add ${endpoint.hostIfName} mtu ${mtu} master ${bridgeName} type veth peer name eth0 address ${endpoint.macAddress} mtu ${mtu} netns ${netnsPath}`,
      `link set dev ${endpoint.hostIfName} addrgenmode none`,
      `link set ${endpoint.hostIfName} alias skiff up`,
      `link set dev ${endpoint.hostIfName} type bridge_slave hairpin on`,
    ],
    sandbox: [
      'addr add 172.30.0.2/16 dev eth0',
      'addr add fd00:30::2/64 dev eth0 nodad',
      'addr add 169.254.30.2/16 dev eth0',
      'addr add fe80::30:2/64 dev eth0 nodad',
      'link set eth0 up',
      'link set lo up',
      'route replace default via 172.30.0.1 dev eth0',
      'route replace default via fd00:30::1 dev eth0',
    ],
  };
}

interface IpLink {
  ifname: string;
  flags: string[];
  mtu: number;
  address: string;
  ifalias?: string;
  master?: string;
  inet6_addr_gen_mode?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: Array<{ family: string; local: string; prefixlen: number; scope: string; nodad?: boolean; permanent?: boolean }>;
}

async function json<T>(netns: NetnsHandle | undefined, args: string[]): Promise<T> {
  return JSON.parse(netns === undefined ? await sh('ip', ['-json', ...args]) : await netns.exec('ip', ['-json', ...args])) as T;
}

/** What a user would compare: the host end, the sandbox's interface and lo, the sandbox's addresses and routes. */
async function endpointAsSeen(netns: NetnsHandle) {
  const [hostEnd] = await json<IpLink[]>(undefined, ['-details', 'link', 'show', 'dev', endpoint.hostIfName]);
  const [inside] = await json<IpLink[]>(netns, ['-details', 'addr', 'show', 'dev', 'eth0']);
  const [lo] = await json<IpLink[]>(netns, ['link', 'show', 'dev', 'lo']);
  const routes = [...(await json<object[]>(netns, ['-4', 'route', 'show'])), ...(await json<object[]>(netns, ['-6', 'route', 'show']))];
  return {
    hostEnd: {
      ifname: hostEnd?.ifname,
      flags: hostEnd?.flags,
      mtu: hostEnd?.mtu,
      alias: hostEnd?.ifalias,
      master: hostEnd?.master,
      kind: hostEnd?.linkinfo?.info_kind,
      slaveKind: hostEnd?.linkinfo?.info_slave_kind,
      hairpin: hostEnd?.linkinfo?.info_slave_data?.hairpin,
      addrGenMode: hostEnd?.inet6_addr_gen_mode,
    },
    inside: {
      flags: inside?.flags,
      mtu: inside?.mtu,
      mac: inside?.address,
      kind: inside?.linkinfo?.info_kind,
      addresses: inside?.addr_info
        ?.map(({ family, local, prefixlen, scope, nodad }) => ({ family, local, prefixlen, scope, nodad }))
        .filter((entry) => !(entry.family === 'inet6' && entry.local.startsWith('fe80::') && entry.local !== 'fe80::30:2')), // the kernel's own EUI-64 address
    },
    loFlags: lo?.flags,
    routes,
  };
}

/**
 * The namespaces of this process's threads but the rtnetlink addon's own (named
 * skiff-rtnetlink: each enters a sandbox's namespace for one batch, then exits):
 * one, the world's. None of Node's threads may ever change namespace.
 */
function nodeThreadNamespaces(): Set<string> {
  const tasks = readdirSync('/proc/self/task').filter((task) => {
    try {
      return readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() !== 'skiff-rtnetlink';
    } catch {
      return false; // a thread that exited meanwhile
    }
  });
  return new Set(
    tasks.flatMap((task) => {
      try {
        return [readlinkSync(`/proc/self/task/${task}/ns/net`)];
      } catch {
        return [];
      }
    }),
  );
}

before(async () => {
  dir = scratchDir();
  network = planNetwork(
    {
      name: 'rt',
      enableIPv6: true,
      ipamConfig: [
        { subnet: '172.30.0.0/16', gateway: '172.30.0.1' },
        { subnet: 'fd00:30::/64', gateway: 'fd00:30::1' },
      ],
      options: { 'com.docker.network.driver.mtu': '1450' },
    },
    { id: '5a5bd80'.padEnd(64, '0'), created: '2026-01-01T00:00:00.000000000Z', existing: [] },
  );
  await driver.createNetwork(network);
});

after(async () => {
  await driver.deleteNetwork(network);
  assert.deepEqual(await leftovers(dir.path), []);
  dir.remove();
});

test('a veth endpoint joined by rtnetlink is the one ip -batch made: link, alias, master, hairpin, MTU, MAC, addresses, routes', async () => {
  const world = nodeThreadNamespaces();
  const byIp = await makeNetns(dir.path, 'by-ip');
  const lines = ipBatchJoin(byIp.path);
  await ipBatch(lines.host);
  await ipBatch(lines.sandbox, byIp.path);
  const expected = await endpointAsSeen(byIp);
  await deleteLink(endpoint.hostIfName);
  await byIp.remove();

  const byRtnetlink = await makeNetns(dir.path, 'by-rtnetlink');
  await joinVethEndpoint(network, endpoint, sandboxOf(byRtnetlink), { defaultGateways: gateways });
  const actual = await endpointAsSeen(byRtnetlink);
  assert.deepEqual(actual, expected);
  // The reference itself is what a join must give (a comparison of two empty results would prove nothing).
  assert.equal(actual.hostEnd.master, network.bridge!.bridgeName);
  assert.equal(actual.hostEnd.alias, 'skiff');
  assert.equal(actual.hostEnd.hairpin, true);
  assert.equal(actual.inside.mtu, 1450);
  assert.equal(actual.inside.mac, endpoint.macAddress);
  assert.equal(actual.inside.addresses?.length, 4);
  assert.ok(actual.loFlags?.includes('UP'));
  assert.equal(actual.routes.filter((route) => (route as { dst: string }).dst === 'default').length, 2);

  // Routes moved to another gateway, replacing the old ones; then the host end cut off (down, no master) and deleted.
  await setDefaultRouteIn(endpoint, sandboxOf(byRtnetlink), ['172.30.0.254']);
  assert.match(await byRtnetlink.exec('ip', ['-4', 'route', 'show', 'default']), /^default via 172\.30\.0\.254 dev eth0 \n?$/);
  await detachVethEndpoint(endpoint);
  const [detached] = await json<IpLink[]>(undefined, ['link', 'show', 'dev', endpoint.hostIfName]);
  assert.equal(detached?.master, undefined);
  assert.ok(!detached?.flags.includes('UP'));
  await leaveVethEndpoint(endpoint);
  assert.equal((await tryRun('ip', ['link', 'show', 'dev', endpoint.hostIfName])).code, 1);
  assert.equal((await byRtnetlink.tryExec('ip', ['link', 'show', 'dev', 'eth0'])).code, 1, 'the pair went with its host end');
  // Gone is gone: cutting off and deleting again are success.
  await detachVethEndpoint(endpoint);
  await leaveVethEndpoint(endpoint);
  await byRtnetlink.remove();
  assert.deepEqual(nodeThreadNamespaces(), world);
  assert.equal(world.size, 1);
});

test('a link name already taken on the host: the error names the request, the taken link stays, nothing else is left', async () => {
  const netns = await makeNetns(dir.path, 'taken');
  await sh('ip', ['link', 'add', endpoint.hostIfName, 'type', 'veth', 'peer', 'name', 'someone-else']);
  await assert.rejects(joinVethEndpoint(network, endpoint, sandboxOf(netns), { defaultGateways: gateways }), {
    message: `link add ${endpoint.hostIfName} mtu 1450 master ${network.bridge!.bridgeName} type veth peer name eth0 address ${endpoint.macAddress} mtu 1450 netns ${netns.path}: RTNETLINK answers: File exists`,
  });
  const [taken] = await json<IpLink[]>(undefined, ['link', 'show', 'dev', endpoint.hostIfName]);
  assert.equal(taken?.master, undefined, "someone else's link is left as it was");
  assert.equal((await netns.tryExec('ip', ['link', 'show', 'dev', 'eth0'])).code, 1);
  await sh('ip', ['link', 'del', endpoint.hostIfName]);
  await netns.remove();
});

test('the sandbox side refused (a gateway off every subnet): the kernel says why, and the host end is deleted again', async () => {
  const netns = await makeNetns(dir.path, 'refused');
  await assert.rejects(joinVethEndpoint(network, endpoint, sandboxOf(netns), { defaultGateways: ['10.9.9.9'] }), (error: Error) => {
    assert.match(
      error.message,
      new RegExp(`^in netns "${netns.path}": route replace default via 10\\.9\\.9\\.9 dev eth0: RTNETLINK answers: Network is unreachable`),
    );
    return true;
  });
  assert.equal((await tryRun('ip', ['link', 'show', 'dev', endpoint.hostIfName])).code, 1);
  assert.equal((await netns.tryExec('ip', ['link', 'show', 'dev', 'eth0'])).code, 1);
  await netns.remove();
});

test('a sandbox whose namespace vanished: joining is an error naming it, leaving is nothing to do', async () => {
  const netns = await makeNetns(dir.path, 'vanished');
  await netns.remove();
  await assert.rejects(joinVethEndpoint(network, endpoint, sandboxOf(netns), { defaultGateways: gateways }), {
    message: `failed to open netns "${netns.path}": no such file`,
  });
  // Its file is back but bound to no namespace (an unmount without the removal).
  writeFileSync(netns.path, '');
  await assert.rejects(joinVethEndpoint(network, endpoint, sandboxOf(netns), { defaultGateways: gateways }), /RTNETLINK answers: Invalid argument/);
  await assert.rejects(setDefaultRouteIn(endpoint, sandboxOf(netns), gateways), {
    message: `failed to open an rtnetlink socket in netns "${netns.path}": setns: Invalid argument`,
  });
  await deleteLink('eth0', netns.path);
  rmSync(netns.path);
  await deleteLink('eth0', netns.path);
  assert.equal((await tryRun('ip', ['link', 'show', 'dev', endpoint.hostIfName])).code, 1, 'no host end was left');
});

test('many joins at once each get their own socket in their own namespace', async () => {
  const sandboxes = await Promise.all(Array.from({ length: 6 }, (_, index) => makeNetns(dir.path, `many-${index}`)));
  const endpoints = sandboxes.map((_, index) => ({
    ...endpoint,
    hostIfName: `veth5a5bd8${index}`,
    macAddress: `02:42:ac:1e:01:0${index}`,
    ipv4: address(`172.30.1.${index + 2}/16`),
    ipv6: undefined,
    linkLocalAddresses: [],
  }));
  await Promise.all(sandboxes.map((netns, index) => joinVethEndpoint(network, endpoints[index]!, sandboxOf(netns), { defaultGateways: ['172.30.0.1'] })));
  for (const [index, netns] of sandboxes.entries()) {
    const [inside] = await json<IpLink[]>(netns, ['addr', 'show', 'dev', 'eth0']);
    assert.equal(inside?.addr_info?.find((entry) => entry.family === 'inet')?.local, `172.30.1.${index + 2}`);
  }
  await Promise.all(endpoints.map((each) => leaveVethEndpoint(each)));
  for (const netns of sandboxes) await netns.remove();
});
