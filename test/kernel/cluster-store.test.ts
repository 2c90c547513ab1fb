/**
 * The cluster store against a real etcd in a world: three "hosts" on an
 * underlay, each with a cluster client in its own process (a daemon's
 * stand-in, SIGKILLable), etcd in a namespace of its own, and a watch in the
 * test's process. Leases and node records, a crashed host's records gone
 * within TTL + 1 s, concurrent allocations that never collide, the watch's
 * adds and removes, etcd crashing and coming back, and an etcd that cannot
 * be reached.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, scratchDir, leftovers } from '../helpers/world.js';
import { ClusterMember, SILENT_UNDERLAY_ADDRESS, makeCluster, type TestCluster } from '../helpers/cluster.js';
import {
  ClusterStore,
  DEFAULT_LEASE_TTL_SECONDS,
  type ClusterChange,
  type ClusterWatch,
  type EndpointRecord,
  type NetworkRecord,
} from '../../src/cluster/index.js';
import { SkiffError } from '../../src/errors.js';

assertInWorld();

const ROUNDS = 50;
const LEASE_BOUND_MS = (DEFAULT_LEASE_TTL_SECONDS + 1) * 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hex = (prefix: string, n: number) => `${prefix}${n.toString(16).padStart(8, '0')}`.padEnd(64, '0');

/** Waits until check() holds, polling every 20 ms, at most timeoutMs; returns the time it took. */
async function within(timeoutMs: number, what: string, check: () => boolean): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
  return Date.now() - start;
}

describe('cluster store on a real etcd', () => {
  let dir: { path: string; remove: () => void };
  let cluster: TestCluster;
  let members: ClusterMember[] = [];
  let store: ClusterStore;
  let watch: ClusterWatch;
  const changes: Array<ClusterChange & { at: number }> = [];

  const startMember = async (index: number) => {
    const host = cluster.hosts[index]!;
    const member = new ClusterMember(host);
    await member.call('open', { url: cluster.etcd.url });
    await member.call('join', { node: { nodeId: host.name, hostname: host.name, advertiseAddress: host.address } });
    return member;
  };

  before(async () => {
    dir = scratchDir('skiff-cluster-');
    cluster = await makeCluster(dir.path, 3);
    await cluster.etcd.start();
    store = await ClusterStore.open({ url: cluster.etcd.url });
    watch = await store.watch({
      onChanges: (batch) => changes.push(...batch.map((change) => ({ ...change, at: Date.now() }))),
      onError: () => undefined,
    });
  });

  after(async () => {
    await watch?.stop();
    store?.close();
    for (const member of members) await member.kill();
    await cluster?.remove();
    assert.deepEqual(await leftovers(dir.path), []);
    dir?.remove();
  });

  it('nodes join under a lease and their records are seen by the watch', async () => {
    members = [await startMember(0), await startMember(1), await startMember(2)];
    await within(2000, 'three nodes in the view', () => watch.view.nodes().length === 3);
    assert.deepEqual(
      watch.view
        .nodes()
        .map((node) => [node.nodeId, node.advertiseAddress])
        .sort(),
      cluster.hosts.map((host) => [host.name, host.address]),
    );
  });

  it("a SIGKILLed host's node and endpoints vanish within TTL + 1 s", async () => {
    const network = await members[0]!.call<NetworkRecord>('createNetwork', { request: { id: hex('a', 1), name: 'lease-net' } });
    const endpoint = await members[2]!.call<EndpointRecord>('addEndpoint', {
      request: { id: hex('e', 1), networkId: network.id, containerId: hex('c', 1), containerName: 'doomed' },
    });
    await within(2000, 'endpoint seen', () => watch.view.endpoints(network.id).some((each) => each.id === endpoint.id));
    await members[2]!.kill();
    const killedAt = Date.now();
    await within(
      LEASE_BOUND_MS + 2000,
      'dead node gone',
      () => !watch.view.nodes().some((node) => node.nodeId === 'h3') && watch.view.endpoints(network.id).length === 0,
    );
    const nodeGone = changes.find((change) => change.type === 'removed' && change.kind === 'node' && change.node.nodeId === 'h3')!;
    const endpointGone = changes.find((change) => change.type === 'removed' && change.kind === 'endpoint' && change.endpoint.id === endpoint.id)!;
    const elapsed = Math.max(nodeGone.at, endpointGone.at) - killedAt;
    console.log(
      `# lease expiry: h3 killed → its node and endpoint removed on the watch after ${elapsed} ms (TTL ${DEFAULT_LEASE_TTL_SECONDS} s, bound ${LEASE_BOUND_MS} ms)`,
    );
    assert.ok(elapsed <= LEASE_BOUND_MS, `took ${elapsed} ms`);
    assert.equal(endpointGone.kind === 'endpoint' && endpointGone.endpoint.mac, endpoint.mac, 'a removal carries the record, for FDB cleanup');

    // The host comes back: the address it held is still its own.
    members[2] = await startMember(2);
    const again = await members[2].call<EndpointRecord>('addEndpoint', {
      request: { id: endpoint.id, networkId: network.id, containerId: hex('c', 1), containerName: 'doomed', ipv4: endpoint.ipv4 },
    });
    assert.equal(again.ipv4, endpoint.ipv4);
    await members[2].call('removeEndpoint', { endpoint: again });
    await members[0]!.call('removeNetwork', { networkId: network.id });
  });

  it(`three hosts allocating at once never collide (${ROUNDS} rounds)`, async () => {
    const shared = await members[0]!.call<NetworkRecord>('createNetwork', { request: { id: hex('b', 0), name: 'shared' } });
    const subnets: string[] = [shared.subnet];
    const vnis: number[] = [shared.vni];
    const addresses: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const created = await Promise.all(
        members.map((member, index) =>
          member.call<NetworkRecord>('createNetwork', { request: { id: hex('b', round * 10 + index + 1), name: `r${round}-h${index}` } }),
        ),
      );
      subnets.push(...created.map((network) => network.subnet));
      vnis.push(...created.map((network) => network.vni));
      const attached = await Promise.all(
        members.map((member, index) =>
          member.call<EndpointRecord>('addEndpoint', {
            request: { id: hex('f', round * 10 + index), networkId: shared.id, containerId: hex('c', round * 10 + index), containerName: `c${round}-${index}` },
          }),
        ),
      );
      addresses.push(...attached.map((endpoint) => endpoint.ipv4));
    }
    assert.equal(new Set(subnets).size, subnets.length, 'duplicate subnet');
    assert.equal(new Set(vnis).size, vnis.length, 'duplicate VNI');
    assert.equal(new Set(addresses).size, addresses.length, 'duplicate address');
    assert.equal(Math.min(...vnis), 4096);
    assert.ok(subnets.every((subnet) => subnet.startsWith('10.') && subnet.endsWith('/24')));
    console.log(`# ${ROUNDS} rounds: ${subnets.length} subnets, ${vnis.length} VNIs, ${addresses.length} addresses, all distinct`);

    // The same --subnet asked by three hosts at once: one wins, two hear Docker's overlap error.
    const outcomes = await Promise.allSettled(
      members.map((member, index) => member.call('createNetwork', { request: { id: hex('d', index), name: `same-${index}`, subnet: '10.250.0.0/16' } })),
    );
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
    for (const outcome of outcomes.filter((each): each is PromiseRejectedResult => each.status === 'rejected')) {
      assert.equal((outcome.reason as Error).message, 'Pool overlaps with other one on this address space');
    }
  });

  it('the watch sees networks and endpoints come and go; a network with endpoints stays', async () => {
    const mark = changes.length;
    const network = await members[1]!.call<NetworkRecord>('createNetwork', { request: { id: hex('9', 1), name: 'watched', internal: true } });
    const endpoint = await members[0]!.call<EndpointRecord>('addEndpoint', {
      request: { id: hex('9', 2), networkId: network.id, containerId: hex('9', 3), containerName: 'web', aliases: ['www'] },
    });
    await assert.rejects(members[2]!.call('removeNetwork', { networkId: network.id }), {
      message: `error while removing network: network watched id ${network.id} has active endpoints`,
    });
    await members[0]!.call('removeEndpoint', { endpoint });
    await members[2]!.call('removeNetwork', { networkId: network.id });
    await assert.rejects(members[2]!.call('removeNetwork', { networkId: network.id }), { message: `network ${network.id} not found` });
    await within(2000, 'removals seen', () => changes.slice(mark).length >= 4);
    assert.deepEqual(
      changes.slice(mark).map((change) => `${change.type} ${change.kind}`),
      ['added network', 'added endpoint', 'removed endpoint', 'removed network'],
    );
    const added = changes[mark + 1]!;
    assert.ok(added.kind === 'endpoint');
    assert.deepEqual([added.endpoint.nodeId, added.endpoint.vtep, added.endpoint.aliases], ['h1', cluster.hosts[0]!.address, ['www']]);
  });

  for (const downMs of [1_000, 5_000]) {
    it(`etcd SIGKILLed and back after ${downMs / 1000} s: clients reconnect, the watch resyncs with nothing doubled or lost`, async () => {
      const network = await members[0]!.call<NetworkRecord>('createNetwork', { request: { id: hex('7', downMs), name: `crash-${downMs}` } });
      const before = await Promise.all(
        members.map((member, index) =>
          member.call<EndpointRecord>('addEndpoint', {
            request: { id: hex('6', downMs + index), networkId: network.id, containerId: hex('5', index), containerName: `pre${index}` },
          }),
        ),
      );
      await within(2000, 'endpoints seen', () => watch.view.endpoints(network.id).length === 3);
      const mark = changes.length;
      const resyncsBefore = watch.resyncs;

      await cluster.etcd.kill();
      await assert.rejects(members[0]!.call('createNetwork', { request: { id: hex('7', downMs + 1), name: 'while-down' } }), /cannot reach etcd/);
      await sleep(downMs);
      await cluster.etcd.start();

      // Changes made right after etcd is back, while clients are still reconnecting.
      await members[1]!.call('removeEndpoint', { endpoint: before[1] });
      const after = await members[2]!.call<EndpointRecord>('addEndpoint', {
        request: { id: hex('6', downMs + 9), networkId: network.id, containerId: hex('5', 9), containerName: 'post' },
      });

      const expected = [before[0]!.id, before[2]!.id, after.id].sort();
      const seen = () =>
        watch.view
          .endpoints(network.id)
          .map((each) => each.id)
          .sort();
      await within(8000, 'watch converged', () => watch.state === 'live' && JSON.stringify(seen()) === JSON.stringify(expected)).catch((error: Error) => {
        throw new Error(
          `${error.message}: watch ${watch.state}, sees [${seen().join(' ')}], expected [${expected.join(' ')}], lease events ${JSON.stringify(members.map((member) => member.events))}`,
        );
      });
      assert.ok(watch.resyncs > resyncsBefore, 'the watch read the cluster again');
      // Let any lease that lapsed while etcd was down play out before comparing with etcd itself.
      await sleep(LEASE_BOUND_MS);
      const fresh = await ClusterStore.open({ url: cluster.etcd.url });
      const check = await fresh.watch({ onChanges: () => undefined, onError: () => undefined });
      assert.deepEqual(
        watch.view
          .endpoints()
          .map((each) => each.id)
          .sort(),
        check.view
          .endpoints()
          .map((each) => each.id)
          .sort(),
      );
      assert.deepEqual(
        watch.view
          .nodes()
          .map((node) => node.nodeId)
          .sort(),
        ['h1', 'h2', 'h3'],
      );
      assert.deepEqual(
        check.view
          .nodes()
          .map((node) => node.nodeId)
          .sort(),
        ['h1', 'h2', 'h3'],
      );
      await check.stop();
      fresh.close();

      // Every change after the crash is consistent: no key added twice in a row, none removed that was absent.
      const present = new Set(watch.view.endpoints().map((each) => each.id));
      const during = changes.slice(mark).filter((change) => change.kind === 'endpoint');
      const replay = new Set([...before.map((each) => each.id)]);
      for (const change of during) {
        const id = change.kind === 'endpoint' ? change.endpoint.id : '';
        if (change.type === 'added') assert.ok(!replay.has(id), `${id} added twice`);
        if (change.type === 'removed') assert.ok(replay.has(id), `${id} removed while absent`);
        if (change.type === 'added') replay.add(id);
        else if (change.type === 'removed') replay.delete(id);
      }
      assert.deepEqual(
        [...replay].filter((id) => id.startsWith(hex('6', downMs).slice(0, 9))).sort(),
        [...present].filter((id) => id.startsWith(hex('6', downMs).slice(0, 9))).sort(),
      );
      const leaseEvents = members.flatMap((member) => member.events.map((each) => `${member.host.name} ${each.event}`));
      console.log(
        `# etcd down ${downMs} ms: watch resyncs ${watch.resyncs - resyncsBefore}, endpoint changes after the crash [${during.map((change) => `${change.type}`).join(', ')}], lease events [${leaseEvents.join(', ')}]`,
      );
      for (const member of members) member.events.length = 0;

      for (const endpoint of [before[0]!, before[2]!, after]) {
        await members[cluster.hosts.findIndex((host) => host.name === endpoint.nodeId)]!.call('removeEndpoint', { endpoint });
      }
      await members[0]!.call('removeNetwork', { networkId: network.id });
    });
  }

  it('an etcd that cannot be reached gives a clear error naming the store, and nothing changes', async () => {
    // From a process of its own, as a daemon that fails to start: gRPC cannot cancel a
    // connect nobody answers, and the socket would outlive the test by the kernel's SYN timeout.
    const starting = new ClusterMember(cluster.hosts[0]!);
    const started = Date.now();
    await assert.rejects(starting.call('open', { url: `etcd://${SILENT_UNDERLAY_ADDRESS}:2379` }), (error: Error & { kind?: string }) => {
      assert.equal(error.kind, 'unavailable');
      assert.match(
        error.message,
        new RegExp(`^cluster store etcd://${SILENT_UNDERLAY_ADDRESS.replaceAll('.', '\\.')}:2379: cannot reach etcd while connecting: `),
      );
      return true;
    });
    console.log(`# silent address: refused after ${Date.now() - started} ms`);
    await starting.kill();
    await assert.rejects(ClusterStore.open({ url: `etcd://${cluster.etcd.address}:2999` }), /cannot reach etcd while connecting/);
    await assert.rejects(ClusterStore.open({ url: 'consul://10.0.0.1:8500' }), /only etcd:\/\/HOST:PORT/);

    const before = (await store.networks()).map((network) => network.name).sort();
    await cluster.etcd.kill();
    await assert.rejects(
      store.createNetwork({ id: hex('8', 1), name: 'never' }),
      (error: unknown) =>
        error instanceof SkiffError && error.message.startsWith(`cluster store ${cluster.etcd.url}: cannot reach etcd while creating network never`),
    );
    await cluster.etcd.start();
    assert.deepEqual((await store.networks()).map((network) => network.name).sort(), before);
  });
});
