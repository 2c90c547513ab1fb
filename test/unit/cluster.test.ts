import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SkiffError } from '../../src/errors.js';
import {
  KeyLayout,
  parseClusterStoreUrl,
  chooseAddress,
  chooseSubnet,
  chooseVni,
  chooseGateway,
  ClusterView,
  type NetworkRecord,
  type EndpointRecord,
} from '../../src/cluster/index.js';
import { prefixEnd } from '../../src/cluster/keys.js';
import { planEndpointAdd, planEndpointRemove, planNetworkCreate, planNetworkRemove } from '../../src/cluster/plan.js';
import { encodeRecord } from '../../src/cluster/records.js';

const keys = new KeyLayout('/t/');

function rejects(action: () => unknown, message: string | RegExp, kind: SkiffError['kind']): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof SkiffError, String(error));
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    assert.equal(error.kind, kind);
    return true;
  });
}

const network: NetworkRecord = {
  id: 'n1',
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
const endpoint: EndpointRecord = {
  id: 'e1',
  networkId: 'n1',
  nodeId: 'h1',
  vtep: '192.168.250.11',
  containerId: 'c1',
  containerName: 'web',
  aliases: [],
  mac: '02:42:0a:00:00:02',
  ipv4: '10.0.0.2',
};

describe('cluster store address', () => {
  it('takes etcd://HOST[:PORT],… and nothing else', () => {
    assert.deepEqual(parseClusterStoreUrl('etcd://10.1.0.1:2379,10.1.0.2,[fd00::1]:4001'), [
      'http://10.1.0.1:2379',
      'http://10.1.0.2:2379',
      'http://[fd00::1]:4001',
    ]);
    rejects(
      () => parseClusterStoreUrl('consul://10.1.0.1:8500'),
      'cluster store "consul://10.1.0.1:8500": only etcd://HOST:PORT[,HOST:PORT…] is supported',
      'invalid',
    );
    rejects(() => parseClusterStoreUrl('etcd://10.1.0.1:99999'), /"10.1.0.1:99999" is not HOST\[:PORT\]/, 'invalid');
    rejects(() => parseClusterStoreUrl('etcd://a b'), /is not HOST/, 'invalid');
  });
});

describe('key layout', () => {
  it('names and parses every kind of key under the root', () => {
    assert.equal(keys.endpoint('n1', 'e1'), '/t/endpoints/n1/e1');
    assert.deepEqual(keys.parse('/t/nodes/h1'), { kind: 'node', nodeId: 'h1' });
    assert.deepEqual(keys.parse('/t/networks/n1'), { kind: 'network', networkId: 'n1' });
    assert.deepEqual(keys.parse('/t/endpoints/n1/e1'), { kind: 'endpoint', networkId: 'n1', endpointId: 'e1' });
    assert.deepEqual(keys.parse('/t/addresses/n1/10.0.0.2'), { kind: 'address', networkId: 'n1', address: '10.0.0.2' });
    assert.equal(keys.parse('/other/nodes/h1'), undefined);
    assert.equal(keys.parse('/t/nodes/h1/extra'), undefined);
    rejects(() => keys.node('../x/y'), /node id "..\/x\/y" cannot be a cluster store key/, 'invalid');
    rejects(() => new KeyLayout('skiff'), /must be \/SEGMENT\//, 'invalid');
  });

  it('ends a prefix range just past the prefix', () => {
    assert.equal(prefixEnd('/t/endpoints/n1/'), '/t/endpoints/n10');
  });
});

describe('cluster-wide choices', () => {
  it('hands out /24s of 10.0.0.0/8 in order, around whatever is taken', () => {
    assert.equal(chooseSubnet([]), '10.0.0.0/24');
    assert.equal(chooseSubnet(['10.0.0.0/24', '10.0.1.0/24']), '10.0.2.0/24');
    assert.equal(chooseSubnet(['10.0.0.0/16']), '10.1.0.0/24');
    assert.equal(chooseSubnet(['10.0.0.128/25']), '10.0.1.0/24');
    assert.equal(chooseSubnet(['10.0.0.0/9']), '10.128.0.0/24');
    rejects(
      () => chooseSubnet(['10.0.0.0/8']),
      'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
      'invalid',
    );
  });

  it('takes a requested subnet only if it overlaps nothing', () => {
    assert.equal(chooseSubnet(['10.0.0.0/24'], '10.9.3.7/16'), '10.9.0.0/16');
    rejects(() => chooseSubnet(['10.9.4.0/24'], '10.9.0.0/16'), 'Pool overlaps with other one on this address space', 'forbidden');
    rejects(() => chooseSubnet([], 'fd00::/64'), /IPv4 subnets only/, 'invalid');
  });

  it('gives the lowest free VNI from 4096', () => {
    assert.equal(chooseVni([]), 4096);
    assert.equal(chooseVni([4096, 4098]), 4097);
  });

  it('puts the gateway on the first address unless told', () => {
    assert.equal(chooseGateway('10.0.3.0/24'), '10.0.3.1');
    assert.equal(chooseGateway('10.0.3.0/24', '10.0.3.254'), '10.0.3.254');
    rejects(() => chooseGateway('10.0.3.0/24', '10.0.4.1'), /not a host address/, 'invalid');
  });

  it('gives addresses in order past the gateway; a holder gets its own back', () => {
    assert.equal(chooseAddress(network, new Map(), 'e1'), '10.0.0.2');
    assert.equal(chooseAddress(network, new Map([['10.0.0.2', 'e9']]), 'e1'), '10.0.0.3');
    assert.equal(chooseAddress(network, new Map([['10.0.0.7', 'e1']]), 'e1', '10.0.0.7'), '10.0.0.7');
    rejects(() => chooseAddress(network, new Map([['10.0.0.7', 'e9']]), 'e1', '10.0.0.7'), 'Address already in use', 'forbidden');
    rejects(() => chooseAddress(network, new Map(), 'e1', '10.0.0.1'), 'Address already in use', 'forbidden');
    rejects(() => chooseAddress(network, new Map(), 'e1', '10.0.0.255'), 'Requested address is out of range', 'invalid');
    const full = new Map(Array.from({ length: 253 }, (_, i) => [`10.0.0.${i + 2}`, `e${i}`] as [string, string]));
    rejects(() => chooseAddress(network, full, 'new'), "no available IPv4 addresses on this network's address pools: ov (n1)", 'unavailable');
  });
});

describe('transaction plans', () => {
  it('creates a network guarded by the revision the list was read at', () => {
    const { plan, network: created } = planNetworkCreate(keys, [network], 41, { id: 'n2', name: 'second' }, new Date(0));
    assert.deepEqual([created.subnet, created.gateway, created.vni], ['10.0.1.0/24', '10.0.1.1', 4097]);
    assert.deepEqual(plan.compare, [{ key: '/t/networks/', rangeEnd: '/t/networks0', target: 'mod', result: 'less', value: 42 }]);
    assert.deepEqual(plan.success, [{ op: 'put', key: '/t/networks/n2', value: encodeRecord(created) }]);
    rejects(() => planNetworkCreate(keys, [network], 1, { id: 'n3', name: 'ov' }, new Date(0)), 'network with name ov already exists', 'conflict');
  });

  it('removes a network only while no endpoint is on it, with its address claims', () => {
    const plan = planNetworkRemove(keys, 'n1');
    assert.deepEqual(plan.compare[1], { key: '/t/endpoints/n1/', rangeEnd: '/t/endpoints/n10', target: 'version', result: 'equal', value: 0 });
    assert.deepEqual(plan.success[1], { op: 'delete', key: '/t/addresses/n1/', rangeEnd: '/t/addresses/n10' });
  });

  it('claims an address and publishes the endpoint under the lease in one transaction', () => {
    const node = { nodeId: 'h1', hostname: 'h1', advertiseAddress: '192.168.250.11', joined: '' };
    const context = { network, networkCreateRevision: 7, claims: new Map() };
    const { plan, endpoint: added } = planEndpointAdd(keys, context, node, '99', {
      id: 'e1',
      networkId: 'n1',
      containerId: 'c1',
      containerName: 'web',
      macOf: (ip) => `mac-of-${ip}`,
    });
    assert.deepEqual([added.ipv4, added.mac, added.vtep], ['10.0.0.2', 'mac-of-10.0.0.2', '192.168.250.11']);
    assert.deepEqual(plan.compare, [
      { key: '/t/networks/n1', target: 'create', result: 'equal', value: 7 },
      { key: '/t/addresses/n1/10.0.0.2', target: 'create', result: 'equal', value: 0 },
    ]);
    assert.equal(plan.success[0]!.op === 'put' && plan.success[0]!.lease, undefined, 'the claim outlives the lease');
    assert.equal(plan.success[1]!.op === 'put' && plan.success[1]!.lease, '99');

    const held = encodeRecord({ endpointId: 'e1', nodeId: 'h1' });
    const again = planEndpointAdd(
      keys,
      { ...context, claims: new Map([['10.0.0.2', { claim: { endpointId: 'e1', nodeId: 'h1' }, encoded: held }]]) },
      node,
      '100',
      { id: 'e1', networkId: 'n1', containerId: 'c1', containerName: 'web', ipv4: '10.0.0.2', macOf: () => 'm' },
    );
    assert.deepEqual(again.plan.compare[1], { key: '/t/addresses/n1/10.0.0.2', target: 'value', result: 'equal', value: held });
  });

  it("releases an address only if it is still the endpoint's", () => {
    const plan = planEndpointRemove(keys, endpoint);
    assert.equal(plan.compare[0]!.value, encodeRecord({ endpointId: 'e1', nodeId: 'h1' }));
    assert.deepEqual(plan.failure, [{ op: 'delete', key: '/t/endpoints/n1/e1' }]);
  });
});

describe('cluster view', () => {
  const put = (key: string, record: object, modRevision: number) => ({ type: 'put' as const, key, value: encodeRecord(record as EndpointRecord), modRevision });
  const del = (key: string, modRevision: number) => ({ type: 'delete' as const, key, value: '', modRevision });
  const summary = (changes: Array<{ type: string; kind: string; key: string }>) => changes.map((change) => `${change.type} ${change.key}`);

  it('turns events into changes once, however often they are delivered', () => {
    const view = new ClusterView(keys, assert.fail);
    const batch = [
      put('/t/networks/n1', network, 5),
      put('/t/endpoints/n1/e1', endpoint, 6),
      put('/t/addresses/n1/10.0.0.2', { endpointId: 'e1', nodeId: 'h1' }, 6),
    ];
    assert.deepEqual(summary(view.applyEvents(batch)), ['added /t/networks/n1', 'added /t/endpoints/n1/e1']);
    assert.deepEqual(view.applyEvents(batch), []);
    assert.deepEqual(summary(view.applyEvents([del('/t/endpoints/n1/e1', 7)])), ['removed /t/endpoints/n1/e1']);
    assert.deepEqual(view.applyEvents([put('/t/endpoints/n1/e1', endpoint, 6), del('/t/endpoints/n1/e1', 7)]), []);
    assert.equal(view.revision, 7);
  });

  it("keeps one transaction's keys together though they share a revision", () => {
    const view = new ClusterView(keys, assert.fail);
    assert.equal(view.applyEvents([put('/t/endpoints/n1/e1', endpoint, 3), put('/t/endpoints/n1/e2', { ...endpoint, id: 'e2' }, 3)]).length, 2);
  });

  it('a removal carries the record as last seen', () => {
    const view = new ClusterView(keys, assert.fail);
    view.applyEvents([put('/t/endpoints/n1/e1', endpoint, 3)]);
    const [removed] = view.applyEvents([del('/t/endpoints/n1/e1', 4)]);
    assert.ok(removed?.kind === 'endpoint');
    assert.equal(removed.endpoint.mac, endpoint.mac);
  });

  it('a re-read yields exactly what changed while the watch was away', () => {
    const view = new ClusterView(keys, assert.fail);
    view.applyEvents([put('/t/endpoints/n1/e1', endpoint, 3), put('/t/endpoints/n1/e2', { ...endpoint, id: 'e2' }, 4)]);
    const read = [
      { key: '/t/endpoints/n1/e2', value: encodeRecord({ ...endpoint, id: 'e2' }), createRevision: 4, modRevision: 9 },
      { key: '/t/endpoints/n1/e3', value: encodeRecord({ ...endpoint, id: 'e3' }), createRevision: 8, modRevision: 8 },
    ];
    assert.deepEqual(summary(view.resync(read, 10)), ['removed /t/endpoints/n1/e1', 'added /t/endpoints/n1/e3']);
    assert.deepEqual(view.resync(read, 10), []);
    assert.deepEqual(
      view
        .endpoints('n1')
        .map((each) => each.id)
        .sort(),
      ['e2', 'e3'],
    );
  });

  it('reports a record it cannot read and goes on', () => {
    const problems: string[] = [];
    const view = new ClusterView(keys, (error) => problems.push(error.message));
    assert.deepEqual(view.applyEvents([{ type: 'put', key: '/t/nodes/h1', value: '{"nodeId":1}', modRevision: 2 }]), []);
    assert.match(problems[0]!, /^cluster store key \/t\/nodes\/h1: node record has bad or missing nodeId, hostname, advertiseAddress, joined$/);
  });
});
