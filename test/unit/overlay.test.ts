/**
 * The overlay driver's pure decisions: which FDB/neighbour entries a host
 * needs from the cluster's endpoints, the difference from what is written,
 * the batch lines; overlay create requests and a record as this host's
 * network; the underlay found from --cluster-advertise.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { additionLines, desiredPeers, peerDiff, removalLines, vxlanName, type RemoteEndpoint } from '../../src/drivers/overlay-peers.js';
import { overlayBridgeMac, overlayCreateLines } from '../../src/drivers/overlay.js';
import { clashingOverlays, overlayNetworkOf, planOverlayCreate } from '../../src/engine/overlay-network.js';
import { pickUnderlay } from '../../src/kernel/underlay.js';
import type { NetworkRecord } from '../../src/cluster/index.js';

const net1 = 'a'.repeat(64);
const net2 = 'b'.repeat(64);
const remote = (nodeId: string, networkId: string, ipv4: string, vtep: string): RemoteEndpoint => ({
  nodeId,
  networkId,
  ipv4,
  vtep,
  mac: `02:42:0A:00:00:${ipv4.split('.')[3]!.padStart(2, '0')}`,
});

describe('overlay peers: the entries a host needs', () => {
  const endpoints = [
    remote('h1', net1, '10.0.0.2', '192.168.250.11'),
    remote('h2', net1, '10.0.0.3', '192.168.250.12'),
    remote('h3', net1, '10.0.0.4', '192.168.250.13'),
    remote('h2', net2, '10.0.1.2', '192.168.250.12'),
  ];

  it("takes every other node's endpoint on the networks built here, never its own", () => {
    const wanted = desiredPeers(endpoints, new Set([net1]), 'h1');
    assert.deepEqual(
      wanted.map((entry) => `${entry.device} ${entry.ipv4} ${entry.mac} ${entry.vtep}`),
      [`${vxlanName(net1)} 10.0.0.3 02:42:0a:00:00:03 192.168.250.12`, `${vxlanName(net1)} 10.0.0.4 02:42:0a:00:00:04 192.168.250.13`],
    );
  });

  it('a host that leaves (its lease expires) takes exactly its entries away; nothing written twice', () => {
    const before = desiredPeers(endpoints, new Set([net1, net2]), 'h1');
    const after = desiredPeers(
      endpoints.filter((endpoint) => endpoint.nodeId !== 'h2'),
      new Set([net1, net2]),
      'h1',
    );
    const { remove, add } = peerDiff(before, after);
    assert.deepEqual(remove.map((entry) => entry.ipv4).sort(), ['10.0.0.3', '10.0.1.2']);
    assert.deepEqual(add, []);
    assert.deepEqual(peerDiff(after, after), { remove: [], add: [] });
  });

  it('an address that moved to another container is replaced, not deleted after the new entry', () => {
    const old = desiredPeers([remote('h2', net1, '10.0.0.3', '192.168.250.12')], new Set([net1]), 'h1');
    const moved = desiredPeers([{ ...remote('h3', net1, '10.0.0.3', '192.168.250.13'), mac: '02:42:0a:00:00:99' }], new Set([net1]), 'h1');
    const { remove, add } = peerDiff(old, moved);
    const removal = removalLines(remove, moved);
    assert.deepEqual(removal.neighbour, [], 'the address is still wanted: replace takes it over');
    assert.deepEqual(removal.fdb, [`fdb del 02:42:0a:00:00:03 dev ${vxlanName(net1)} self`]);
    assert.deepEqual(additionLines(add), {
      fdb: [`fdb replace 02:42:0a:00:00:99 dev ${vxlanName(net1)} dst 192.168.250.13 self permanent`],
      neighbour: [`neigh replace 10.0.0.3 lladdr 02:42:0a:00:00:99 dev ${vxlanName(net1)} nud permanent`],
    });
  });
});

describe('overlay networks: requests and records', () => {
  const record: NetworkRecord = {
    id: net1,
    name: 'ov',
    subnet: '10.0.0.0/24',
    gateway: '10.0.0.1',
    vni: 4096,
    internal: false,
    attachable: true,
    labels: {},
    options: {},
    created: '2024-01-01T00:00:00.000Z',
  };

  it("a record becomes this host's network: scope global, VNI shown as Docker does, MTU from the underlay less 50", () => {
    const network = overlayNetworkOf(record, 1500);
    assert.equal(network.scope, 'global');
    assert.equal(network.options['com.docker.network.driver.overlay.vxlanid_list'], '4096');
    assert.equal(network.bridge?.mtu, 1450);
    assert.equal(network.bridge?.bridgeName, `ov-${net1.slice(0, 12)}`);
    assert.equal(overlayNetworkOf({ ...record, options: { 'com.docker.network.driver.mtu': '1400' } }, 9000).bridge?.mtu, 1400);
  });

  it("builds a bridge with the gateway and a VXLAN port on the underlay; each host's bridge has its own MAC", () => {
    const lines = overlayCreateLines(overlayNetworkOf(record, 1500), { address: '192.168.250.11', device: 'eth0', mtu: 1500 });
    assert.ok(lines.includes('addr add 10.0.0.1/24 dev ov-aaaaaaaaaaaa'));
    assert.ok(lines.includes('link add vx-aaaaaaaaaaaa mtu 1450 type vxlan id 4096 dstport 4789 nolearning proxy local 192.168.250.11 dev eth0'));
    assert.notEqual(overlayBridgeMac(net1, '192.168.250.11'), overlayBridgeMac(net1, '192.168.250.12'));
  });

  it('refuses what overlay networks do not take, with the reason', () => {
    const plan = (request: Parameters<typeof planOverlayCreate>[0]) => planOverlayCreate(request, net2, [], []);
    assert.throws(() => plan({ name: 'o', driver: 'overlay', enableIPv6: true }), /IPv4 only/);
    assert.throws(() => plan({ name: 'o', driver: 'overlay', options: { encrypted: '' } }), /do not take option encrypted/);
    assert.throws(() => plan({ name: 'o', driver: 'overlay', options: { 'com.docker.network.driver.mtu': 'big' } }), /invalid MTU "big"/);
    assert.throws(() => plan({ name: 'o', driver: 'overlay', ipamConfig: [{ subnet: '10.1.0.0/24' }, { subnet: '10.2.0.0/24' }] }), /one --subnet/);
    assert.throws(
      () => planOverlayCreate({ name: 'o', driver: 'overlay' }, net2, [overlayNetworkOf({ ...record, name: 'o' }, 1500)], []),
      /network with name o already exists/,
    );
    assert.deepEqual(plan({ name: 'o', driver: 'overlay', ipamConfig: [{ subnet: '10.1.0.0/24' }], internal: true }).subnet, '10.1.0.0/24');
  });

  it('a new network clashes with a removed one still built here that holds its VNI or an overlapping subnet, never with itself', () => {
    const stale = overlayNetworkOf(record, 1500);
    const sameVni = { ...record, id: net2, subnet: '10.0.9.0/24' };
    const sameSubnet = { ...record, id: net2, vni: 4097, subnet: '10.0.0.0/16' };
    assert.deepEqual(
      clashingOverlays(sameVni, [stale]).map((network) => network.id),
      [net1],
    );
    assert.deepEqual(
      clashingOverlays(sameSubnet, [stale]).map((network) => network.id),
      [net1],
    );
    assert.deepEqual(clashingOverlays({ ...record, id: net2, vni: 4097, subnet: '10.0.1.0/24' }, [stale]), []);
    assert.deepEqual(clashingOverlays(record, [stale]), []);
  });
});

describe('the underlay from --cluster-advertise', () => {
  const json = JSON.stringify([
    { ifname: 'lo', mtu: 65536, addr_info: [{ family: 'inet', local: '127.0.0.1' }] },
    { ifname: 'eth0', mtu: 1500, addr_info: [{ family: 'inet', local: '192.168.250.11' }] },
  ]);

  it('takes an address, an interface, either with :PORT', () => {
    const expected = { address: '192.168.250.11', device: 'eth0', mtu: 1500 };
    assert.deepEqual(pickUnderlay(json, '192.168.250.11'), expected);
    assert.deepEqual(pickUnderlay(json, '192.168.250.11:2376'), expected);
    assert.deepEqual(pickUnderlay(json, 'eth0'), expected);
    assert.deepEqual(pickUnderlay(json, 'eth0:2376'), expected);
  });

  it('refuses an address or interface this host does not have', () => {
    assert.throws(() => pickUnderlay(json, '10.9.9.9'), /no interface of this host holds that address/);
    assert.throws(() => pickUnderlay(json, 'eth7'), /no interface of this host/);
  });
});
