import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duplicateNameWarning, planNetwork, planPredefinedNetwork, sameDefaultBridge, validateNetworkName } from '../../src/engine/network-plan.js';
import { checkEndpointLimit, nextInterfaceName } from '../../src/engine/engine.js';
import { findByReference } from '../../src/engine/lookup.js';
import { macFromIpv4 } from '../../src/drivers/mac.js';
import { BRIDGE_MAX_PORTS, bridgeCreateLines, hostPortRequests, sandboxSideRequests, vethPairRequest } from '../../src/drivers/bridge.js';
import type { Network } from '../../src/model/network.js';
import { defaultGateways } from '../../src/engine/routes.js';

const context = (existing: Network[] = []) => ({ id: 'a'.repeat(64), created: '2026-01-01T00:00:00.000000000Z', existing });

test("a plain bridge network gets the first free default pool and Docker's defaults", () => {
  const network = planNetwork({ name: 'localnet' }, context());
  assert.equal(network.driver, 'bridge');
  assert.deepEqual(
    network.ipam.pools.map((p) => [p.subnet, p.gateway]),
    [['172.17.0.0/16', '172.17.0.1']],
  );
  assert.deepEqual(network.bridge, {
    bridgeName: 'br-aaaaaaaaaaaa',
    enableIcc: true,
    enableIpMasquerade: true,
    hostBindingIpv4: '0.0.0.0',
    mtu: 1500,
    isDefaultBridge: false,
  });
  const bridge = planPredefinedNetwork(
    'bridge',
    { ...context(), id: 'b'.repeat(64) },
    { bridgeName: 'skiff0', subnet: '172.17.0.0/16', mtu: 1500, icc: true, ipMasquerade: true, hostBindingIpv4: '0.0.0.0' },
  );
  const second = planNetwork({ name: 'other' }, context([bridge]));
  assert.equal(second.ipam.pools[0]?.subnet, '172.18.0.0/16');
  assert.equal(bridge.ipam.options, null);
  assert.equal(bridge.bridge?.isDefaultBridge, true);
});

test('options decide the bridge; bad ones are refused with the option named', () => {
  const network = planNetwork(
    {
      name: 'n',
      options: { 'com.docker.network.bridge.name': 'mybr', 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.driver.mtu': '1400' },
    },
    context(),
  );
  assert.equal(network.bridge?.bridgeName, 'mybr');
  assert.equal(network.bridge?.enableIcc, false);
  assert.equal(network.bridge?.mtu, 1400);
  assert.throws(() => planNetwork({ name: 'n', options: { 'com.docker.network.bridge.name': 'x'.repeat(16) } }, context()), /invalid bridge name/);
  assert.throws(
    () => planNetwork({ name: 'n', options: { 'com.docker.network.bridge.enable_ip_masquerade': 'perhaps' } }, context()),
    /invalid boolean "perhaps"/,
  );
  assert.throws(() => planNetwork({ name: 'n2', options: { 'com.docker.network.bridge.name': 'mybr' } }, context([network])), /networks have same bridge name/);
});

test("names, drivers and duplicates get Docker's errors", () => {
  // 20.10 takes any name but an empty one ("test 01" included).
  assert.doesNotThrow(() => validateNetworkName('test 01'));
  assert.throws(() => validateNetworkName('x'.repeat(1000)), /at most 255 characters/);
  assert.throws(() => validateNetworkName(''), /cannot be empty/);
  const existing = planNetwork({ name: 'taken' }, context());
  assert.throws(() => planNetwork({ name: 'taken', checkDuplicate: true }, { ...context([existing]), id: 'c'.repeat(64) }), {
    message: 'network with name taken already exists',
  });
  // Without CheckDuplicate a second network of the name is made, and create's Warning says so.
  const twin = planNetwork({ name: 'taken' }, { ...context([existing]), id: 'c'.repeat(64) });
  assert.equal(duplicateNameWarning(twin, [existing, twin]), `Network with name taken (id : ${existing.id}) already exists`);
  assert.equal(duplicateNameWarning(existing, [existing]), '');
  assert.throws(() => findByReference([existing, twin], 'taken'), { message: 'network taken is ambiguous (2 matches found based on name)' });
  assert.equal(findByReference([existing, twin], twin.id), twin);
  assert.throws(() => planNetwork({ name: 'bridge' }, context()), { message: 'operation is not permitted on predefined bridge network ' });
  assert.equal(existing.ipam.options, null);
  assert.deepEqual(planNetwork({ name: 'o', ipamOptions: { a: 'b' } }, context()).ipam.options, { a: 'b' });
  assert.throws(() => planNetwork({ name: 'n', driver: 'weird' }, context()), { message: 'plugin "weird" not found' });
  assert.throws(() => planNetwork({ name: 'n', driver: 'host' }, context()), { message: 'only one instance of "host" network is allowed' });
  assert.throws(() => planNetwork({ name: 'n', driver: 'ipvlan' }, context()), /ipvlan.*kernel/);
});

test('a bridge network refuses the endpoint past its ports, naming the limit', () => {
  assert.doesNotThrow(() => checkEndpointLimit({ name: 'big' }, BRIDGE_MAX_PORTS - 1, BRIDGE_MAX_PORTS));
  assert.throws(() => checkEndpointLimit({ name: 'big' }, BRIDGE_MAX_PORTS, BRIDGE_MAX_PORTS), {
    message: 'network big is full: a Linux bridge holds at most 1023 ports, and 1023 containers are attached; connect further containers to another network',
  });
});

test('lookup: full id, then name, then a unique id prefix', () => {
  const items = [
    { id: 'abc123', name: 'first' },
    { id: 'abd456', name: 'abc123x' },
  ];
  assert.equal(findByReference(items, 'abc123').name, 'first');
  assert.equal(findByReference(items, 'abc123x').id, 'abd456');
  assert.equal(findByReference(items, 'abd').name, 'abc123x');
  assert.throws(() => findByReference(items, 'ab'), /ambiguous/);
  assert.throws(() => findByReference(items, 'zz'), { message: 'network zz not found' });
});

test('interfaces, MACs, and the ip batch and rtnetlink requests of a join', () => {
  assert.equal(nextInterfaceName(['eth0', 'eth2']), 'eth1');
  assert.equal(macFromIpv4('172.17.0.2'), '02:42:ac:11:00:02');
  const network = planNetwork({ name: 'n' }, context());
  assert.deepEqual(bridgeCreateLines(network), [
    'link add br-aaaaaaaaaaaa address 02:aa:aa:aa:aa:aa mtu 1500 type bridge',
    'link set br-aaaaaaaaaaaa alias skiff',
    'addr add 172.17.0.1/16 dev br-aaaaaaaaaaaa',
    'link set br-aaaaaaaaaaaa up',
  ]);
  const endpoint = {
    id: 'e',
    name: 'c',
    networkId: network.id,
    sandboxId: 's',
    ifName: 'eth0',
    hostIfName: 'veth1234567',
    macAddress: '02:42:ac:11:00:02',
    ipv4: { family: 4 as const, address: '172.17.0.2', prefix: 16 },
    aliases: [],
    containerId: '',
  };
  const operations = (requests: ReadonlyArray<{ operation: string }>) => requests.map((request) => request.operation);
  assert.deepEqual(operations([vethPairRequest(network, endpoint, { fd: 7, path: '/run/skiff/netns/s' }), ...hostPortRequests(endpoint, network)]), [
    'link add veth1234567 mtu 1500 master br-aaaaaaaaaaaa type veth peer name eth0 address 02:42:ac:11:00:02 mtu 1500 netns /run/skiff/netns/s',
    'link set dev veth1234567 addrgenmode none',
    'link set dev veth1234567 up alias skiff type bridge_slave hairpin on isolated off',
  ]);
  // ICC off: the port is isolated from the bridge's other isolated ports.
  const quiet = { ...network, bridge: { ...network.bridge!, enableIcc: false } };
  assert.equal(operations(hostPortRequests(endpoint, quiet))[1], 'link set dev veth1234567 up alias skiff type bridge_slave hairpin on isolated on');
  assert.deepEqual(operations(sandboxSideRequests(endpoint, { defaultGateways: defaultGateways(network.ipam.pools, [endpoint.ipv4]) })), [
    'addr add 172.17.0.2/16 dev eth0',
    'link set dev eth0 up',
    'link set dev lo up',
    'route replace default via 172.17.0.1 dev eth0',
  ]);
  assert.deepEqual(
    operations(sandboxSideRequests(endpoint, { defaultGateways: [] })).filter((operation) => operation.includes('route')),
    [],
  );
});

test("macvlan networks: parent required (no dummy links here), no VLAN sub-interfaces, Docker's modes", () => {
  const network = planNetwork({ name: 'lan', driver: 'macvlan', options: { parent: 'eth1' }, ipamConfig: [{ subnet: '192.168.77.0/24' }] }, context());
  assert.equal(network.driver, 'macvlan');
  assert.equal(network.bridge, undefined);
  assert.throws(() => planNetwork({ name: 'n', driver: 'macvlan' }, context()), /need -o parent=<interface>.*CONFIG_DUMMY/);
  assert.throws(() => planNetwork({ name: 'n', driver: 'macvlan', internal: true, options: { parent: 'eth1' } }, context()), /CONFIG_DUMMY/);
  assert.throws(() => planNetwork({ name: 'n', driver: 'macvlan', options: { parent: 'eth1.10' } }, context()), /802\.1q/);
  assert.throws(
    () => planNetwork({ name: 'n', driver: 'macvlan', options: { parent: 'eth1', macvlan_mode: 'weird' } }, context()),
    /requested macvlan mode 'weird' is not valid/,
  );
});

test("the default bridge takes dockerd's --bip address as its gateway and --fixed-cidr as its range", () => {
  const defaults = {
    bridgeName: 'skiff0',
    subnet: '172.26.0.0/16',
    gateway: '172.26.0.5',
    ipRange: '172.26.1.0/24',
    mtu: 1500,
    icc: true,
    ipMasquerade: true,
    hostBindingIpv4: '0.0.0.0',
  };
  const bridge = planPredefinedNetwork('bridge', { ...context(), id: 'b'.repeat(64) }, defaults);
  assert.deepEqual(
    bridge.ipam.pools.map((pool) => [pool.subnet, pool.gateway, pool.ipRange, pool.userConfigured]),
    [['172.26.0.0/16', '172.26.0.5', '172.26.1.0/24', false]],
  );
  assert.throws(
    () => planPredefinedNetwork('bridge', { ...context(), id: 'b'.repeat(64) }, { ...defaults, ipRange: '10.0.0.0/24' }),
    /no matching subnet for range 10\.0\.0\.0\/24/,
  );
});

test('--ipv6 --fixed-cidr-v6 gives the default bridge an IPv6 pool; a change of its settings is told from the store', () => {
  const defaults = { bridgeName: 'skiff0', subnet: '172.17.0.0/16', mtu: 1500, icc: true, ipMasquerade: true, hostBindingIpv4: '0.0.0.0' };
  const plain = planPredefinedNetwork('bridge', { ...context(), id: 'a'.repeat(64) }, defaults);
  const withIpv6 = planPredefinedNetwork('bridge', { ...context(), id: 'b'.repeat(64) }, { ...defaults, subnet6: 'fd00:1::/64' });
  assert.equal(withIpv6.enableIPv6, true);
  assert.deepEqual(
    withIpv6.ipam.pools.map((pool) => [pool.subnet, pool.gateway]),
    [
      ['172.17.0.0/16', '172.17.0.1'],
      ['fd00:1::/64', 'fd00:1::1'],
    ],
  );
  assert.equal(plain.enableIPv6, false);
  // Ids and creation times differ at every plan: only the settings count.
  assert.equal(sameDefaultBridge(plain, planPredefinedNetwork('bridge', { ...context(), id: 'c'.repeat(64) }, defaults)), true);
  assert.equal(sameDefaultBridge(plain, withIpv6), false);
  assert.equal(sameDefaultBridge(plain, planPredefinedNetwork('bridge', context(), { ...defaults, icc: false })), false);
  assert.equal(sameDefaultBridge(plain, planPredefinedNetwork('bridge', context(), { ...defaults, subnet: '172.26.0.0/16' })), false);
  assert.equal(sameDefaultBridge(plain, planPredefinedNetwork('bridge', context(), { ...defaults, ipRange: '172.17.1.0/24' })), false);
});

test("a network without --subnet takes dockerd's default-address-pools and steps around the host's networks", () => {
  const network = planNetwork({ name: 'n' }, { ...context(), hostSubnets: ['10.10.0.0/24'], defaultPools: [{ base: '10.10.0.0/16', size: 24 }] });
  assert.equal(network.ipam.pools[0]?.subnet, '10.10.1.0/24');
});
