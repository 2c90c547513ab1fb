/**
 * Load: many users at once through the stock docker CLI. 50 concurrent
 * `docker run -d` on one network (50 distinct addresses, each reaching every
 * other by name); 20 concurrent `network create` with default pools (20
 * distinct subnets); one container connected to and disconnected from 10
 * networks concurrently (the end state is the last call per network).
 * Times are printed as `load: …` lines (bench/load.sh collects them); nothing
 * here asserts a time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, tryRun } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';
import { invariantViolations } from '../helpers/invariants.js';
import { seededRandom } from '../helpers/random.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

function report(what: string, startedAt: number, count: number): void {
  const seconds = (performance.now() - startedAt) / 1000;
  process.stdout.write(`load: ${what}: ${seconds.toFixed(2)} s (${((seconds * 1000) / count).toFixed(0)} ms each, ${count} at once)\n`);
}

describe('load', () => {
  const names = Array.from({ length: 50 }, (_, index) => `l${index}`);

  it('50 concurrent docker run -d on one network: all start, 50 distinct addresses', async () => {
    await daemon.ok('network', 'create', 'load');
    const started = performance.now();
    const runs = await Promise.all(names.map((name) => daemon.docker('run', '-d', '--name', name, '--network', 'load', 'busybox', 'sleep', '3600')));
    report('50 concurrent docker run -d', started, 50);
    assert.deepEqual(
      runs.filter((run) => run.code !== 0).map((run) => run.stderr),
      [],
    );
    const members = JSON.parse(await daemon.ok('network', 'inspect', '-f', '{{json .Containers}}', 'load')) as Record<string, { IPv4Address: string }>;
    const addresses = Object.values(members).map((member) => member.IPv4Address);
    assert.equal(addresses.length, 50);
    assert.equal(new Set(addresses).size, 50, 'no address twice');
    assert.deepEqual(await invariantViolations(daemon), []);
  });

  /**
   * All pairs means 2,450 ARP entries, and the kernel's neighbour table is one for every namespace on the
   * machine (gc_thresh3 = 1024 here: "arp_cache: neighbor table overflow!"), shared with every other test
   * world running. Asked all at once, the pings of every world then fail in bursts. So one container asks
   * at a time, and every sandbox's neighbour entries are flushed after each, keeping this test's share
   * of that table near 100 entries.
   */
  it('the 50 reach each other by name', async () => {
    const sandboxes = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', ...names)).split('\n').filter(Boolean);
    const pinged = performance.now();
    const unreachable: string[] = [];
    for (const from of names) {
      const others = names.filter((name) => name !== from).join(' ');
      // A name that does not answer says whether its lookup failed too (dns) or only the ping (ping).
      const script = `for n in ${others}; do ping -c 1 -W 2 $n >/dev/null 2>&1 || ping -c 1 -W 2 $n >/dev/null 2>&1 || { nslookup $n >/dev/null 2>&1 && echo "$n ping" || echo "$n dns"; }; done`;
      const result = await daemon.docker('exec', from, 'sh', '-c', script);
      unreachable.push(
        ...result.stdout
          .split('\n')
          .filter(Boolean)
          .map((failure) => `${from} -> ${failure}`),
      );
      await Promise.all(sandboxes.map((sandbox) => tryRun('nsenter', [`--net=${sandbox}`, 'ip', 'neigh', 'flush', 'all'])));
    }
    report('50 × 49 pings by name, one container at a time', pinged, 50);
    assert.deepEqual(unreachable, []);
    const removed = performance.now();
    await daemon.ok('rm', '-f', ...names);
    report('docker rm -f of 50', removed, 50);
    await daemon.ok('network', 'rm', 'load');
  });

  it('20 concurrent network create with default pools: 20 distinct subnets', async () => {
    const names = Array.from({ length: 20 }, (_, index) => `ln${index}`);
    const started = performance.now();
    const creates = await Promise.all(names.map((name) => daemon.docker('network', 'create', name)));
    report('20 concurrent network create', started, 20);
    assert.deepEqual(
      creates.filter((create) => create.code !== 0).map((create) => create.stderr),
      [],
    );
    const subnets = (await daemon.ok('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', ...names)).split('\n').filter(Boolean);
    assert.equal(subnets.length, 20);
    assert.equal(new Set(subnets).size, 20, `distinct subnets: ${subnets.join(' ')}`);
    assert.deepEqual(await invariantViolations(daemon), []);
    const removed = performance.now();
    await Promise.all(names.map((name) => daemon.ok('network', 'rm', name)));
    report('20 concurrent network rm', removed, 20);
  });

  it('one container connected to and disconnected from 10 networks at once: the last call per network wins', async () => {
    const seed = Number(process.env['SKIFF_LOAD_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const random = seededRandom(seed);
    const networks = Array.from({ length: 10 }, (_, index) => `lc${index}`);
    for (const network of networks) await daemon.ok('network', 'create', network);
    await daemon.ok('run', '-d', '--name', 'hub', 'busybox', 'sleep', '3600');
    // Per network a sequence of calls, in order; the networks' sequences all at once.
    const plans = networks.map((network) => ({
      network,
      calls: Array.from({ length: 2 + Math.floor(random() * 4) }, () => (random() < 0.5 ? 'connect' : 'disconnect')),
    }));
    const started = performance.now();
    await Promise.all(
      plans.map(async ({ network, calls }) => {
        for (const call of calls) await daemon.docker('network', call, network, 'hub');
      }),
    );
    const total = plans.reduce((sum, plan) => sum + plan.calls.length, 0);
    report(`${total} connect/disconnect calls over 10 networks`, started, total);
    const attached = Object.keys(JSON.parse(await daemon.ok('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'hub')) as Record<string, unknown>);
    const expected = ['bridge', ...plans.filter((plan) => plan.calls[plan.calls.length - 1] === 'connect').map((plan) => plan.network)].sort();
    assert.deepEqual(attached.sort(), expected, `seed ${seed} (replay with SKIFF_LOAD_SEED=${seed}): ${JSON.stringify(plans)}`);
    assert.deepEqual(await invariantViolations(daemon, { reachability: true }), []);
    await daemon.ok('rm', '-f', 'hub');
    for (const network of networks) await daemon.ok('network', 'rm', network);
  });
});
