/**
 * Overlay networks under concurrency and faults, on three hosts (one daemon
 * each) and one etcd, driven by the stock docker CLI: creates racing from
 * three hosts get distinct subnets and VNIs, runs racing get distinct
 * addresses; connect/disconnect across hosts takes effect everywhere; etcd
 * SIGKILLed and restarted with daemons attached → they reconnect, read the
 * cluster again and follow it, with exactly the entries etcd implies (checked
 * by `skiff network diagnose` on every host) and names that still resolve.
 *
 * SKIFF_OVERLAY_ROUNDS sets how many times the races run (10 by default, to
 * keep CI short; scripts/overlay-races.sh runs more).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, scratchDir } from '../helpers/world.js';
import { makeCluster, type ClusterHost, type TestCluster } from '../helpers/cluster.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

const ROUNDS = Number(process.env['SKIFF_OVERLAY_ROUNDS'] ?? '10');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let scratch: { path: string; remove: () => void };
let cluster: TestCluster;
const daemons: TestDaemon[] = [];

before(async () => {
  scratch = scratchDir('skiff-overlay-faults-');
  cluster = await makeCluster(scratch.path, 3);
  await cluster.etcd.start();
  daemons.push(
    ...(await Promise.all(
      cluster.hosts.map((host) => startDaemon({ netnsPath: host.path, extraArgs: ['--cluster-store', cluster.etcd.url, '--cluster-advertise', host.address] })),
    )),
  );
  await Promise.all(daemons.map((daemon) => importBusybox(daemon)));
});

after(async () => {
  for (const daemon of daemons) await daemon.cleanup();
  await cluster.remove();
  scratch.remove();
});

const d = (index: number) => daemons[index]!;
const host = (index: number): ClusterHost => cluster.hosts[index]!;
const all = [0, 1, 2];

async function within(timeoutMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
  return Date.now() - start;
}

const inspectField = async (daemon: TestDaemon, format: string, ...names: string[]) =>
  (await daemon.ok('network', 'inspect', '-f', format, ...names)).trim().split('\n');
const addressOf = async (daemon: TestDaemon, container: string, network: string) =>
  (await daemon.ok('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).trim();
const ping = async (index: number, container: string, target: string) =>
  (await d(index).docker('exec', container, 'ping', '-c', '1', '-W', '1', target)).code === 0;
/** A first contact across hosts: `run` returning does not promise the other hosts' entries yet (see overlay-cluster.ts). */
const reaches = async (index: number, container: string, target: string) => {
  try {
    await within(3_000, `${container} reaches ${target}`, () => ping(index, container, target));
    return true;
  } catch {
    return false;
  }
};
const diagnosis = (index: number, network: string) => d(index).skiff('network', 'diagnose', network);
const healthyEverywhere = async (network: string) => (await Promise.all(all.map((index) => diagnosis(index, network)))).every((result) => result.code === 0);

test(`creates racing from three hosts get distinct subnets and VNIs (${ROUNDS} rounds)`, async () => {
  for (let round = 0; round < ROUNDS; round++) {
    const names = all.map((index) => `race${round}-h${index + 1}`);
    const results = await Promise.all(all.map((index) => d(index).docker('network', 'create', '-d', 'overlay', names[index]!)));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    await within(3_000, `round ${round}'s networks on h1`, async () => (await d(0).docker('network', 'inspect', ...names)).code === 0);
    const subnets = await inspectField(d(0), '{{(index .IPAM.Config 0).Subnet}}', ...names);
    const vnis = await inspectField(d(0), '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}', ...names);
    assert.equal(new Set(subnets).size, 3, `round ${round}: subnets ${subnets.join(', ')}`);
    assert.equal(new Set(vnis).size, 3, `round ${round}: VNIs ${vnis.join(', ')}`);
    // Removed from the host that did not create it, at once: each is refused nowhere.
    await Promise.all(all.map((index) => d((index + 1) % 3).ok('network', 'rm', names[index]!)));
  }
  for (const index of all) await within(3_000, `every race network gone on h${index + 1}`, async () => !(await d(index).ok('network', 'ls')).includes('race'));
});

test(`runs racing on three hosts get distinct addresses (${ROUNDS} rounds), and connect/disconnect takes effect across hosts`, async () => {
  await d(0).ok('network', 'create', '-d', 'overlay', '--attachable', 'ovr');
  await within(
    3_000,
    'ovr on h2 and h3',
    async () => (await d(1).docker('network', 'inspect', 'ovr')).code === 0 && (await d(2).docker('network', 'inspect', 'ovr')).code === 0,
  );
  const seen = new Set<string>();
  for (let round = 0; round < ROUNDS; round++) {
    const names = all.map((index) => `r${round}-h${index + 1}`);
    await Promise.all(all.map((index) => d(index).ok('run', '-d', '--name', names[index]!, '--network', 'ovr', 'busybox', 'sleep', '600')));
    const addresses = await Promise.all(all.map((index) => addressOf(d(index), names[index]!, 'ovr')));
    for (const address of addresses) {
      assert.ok(!seen.has(address), `round ${round}: ${address} given twice (${addresses.join(', ')})`);
      seen.add(address);
    }
  }
  assert.equal(seen.size, 3 * ROUNDS);
  assert.ok(await reaches(0, 'r0-h1', `r${ROUNDS - 1}-h3`), 'the first container on h1 reaches the last on h3 by name');
  // Keep one container per host for what follows; the rest go, all hosts at once.
  await Promise.all(all.map((index) => d(index).ok('rm', '-f', ...Array.from({ length: ROUNDS - 1 }, (_, round) => `r${round + 1}-h${index + 1}`))));

  // Connect a container of h2 (on the default bridge) to ovr: h1 reaches it by name, then loses it on disconnect.
  await d(1).ok('run', '-d', '--name', 'joiner', 'busybox', 'sleep', '600');
  await d(1).ok('network', 'connect', '--alias', 'late', 'ovr', 'joiner');
  const joined = await addressOf(d(1), 'joiner', 'ovr');
  assert.ok(await reaches(0, 'r0-h1', 'late'), 'h1 reaches joiner by its alias after connect');
  assert.ok(await reaches(1, 'joiner', 'r0-h3'), 'joiner reaches h3 through its new interface');
  await d(1).ok('network', 'disconnect', 'ovr', 'joiner');
  await within(2_000, 'joiner gone on h1', async () => (await d(0).docker('exec', 'r0-h1', 'nslookup', 'joiner')).code !== 0);
  assert.equal(await ping(0, 'r0-h1', joined), false, 'its address no longer answers from h1');
  assert.ok(await healthyEverywhere('ovr'), 'diagnose passes on every host after the disconnect');
  await d(1).ok('rm', '-f', 'joiner');
});

test('etcd SIGKILLed and restarted mid-run: daemons reconnect and read the cluster again, entries match etcd, a hand-deleted entry is mended, names resolve', async () => {
  const id = (await d(0).ok('network', 'inspect', '-f', '{{.Id}}', 'ovr')).trim();
  const vxlan = `vx-${id.slice(0, 12)}`;
  const mac3 = (await d(2).ok('inspect', '-f', '{{(index .NetworkSettings.Networks "ovr").MacAddress}}', 'r0-h3')).trim();
  await host(0).exec('bridge', ['fdb', 'del', mac3, 'dev', vxlan, 'dst', host(2).address, 'self']);
  assert.notEqual((await diagnosis(0, 'ovr')).code, 0, 'diagnose sees the deleted entry');

  const killedAt = Date.now();
  await cluster.etcd.kill();
  // While etcd is away: a clear error for what needs it, and traffic between running containers goes on.
  const refused = await d(1).docker('network', 'create', '-d', 'overlay', 'during-outage');
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, new RegExp(`cluster store ${cluster.etcd.url.replaceAll('.', '\\.')}: cannot reach etcd`));
  assert.ok(await reaches(1, 'r0-h2', 'r0-h3'), 'containers keep talking while etcd is away');
  const away = await diagnosis(1, 'ovr');
  assert.match(away.stdout, /FAIL +cluster store .* answers/, 'diagnose says etcd is away');
  // Longer than a lease: every daemon's lease is lost and must be replaced.
  await sleep(Math.max(0, 3_000 - (Date.now() - killedAt)));
  await cluster.etcd.start();
  const restartedAt = Date.now();

  const healed = await within(10_000, 'diagnose passes on every host', () => healthyEverywhere('ovr'));
  console.log(`# overlay: after etcd came back, every host matched etcd again within ${healed} ms`);
  for (const index of all) {
    const neighbours = (await host(index).exec('ip', ['-4', 'neigh', 'show', 'dev', vxlan, 'nud', 'permanent'])).trim().split('\n');
    const fdb = (await host(index).exec('bridge', ['fdb', 'show', 'dev', vxlan])).split('\n').filter((line) => line.includes(' dst '));
    assert.equal(neighbours.length, 2, `h${index + 1}: one neighbour entry per remote container:\n${neighbours.join('\n')}`);
    assert.equal(fdb.length, 2, `h${index + 1}: one FDB entry per remote container:\n${fdb.join('\n')}`);
  }
  assert.ok(await reaches(0, 'r0-h1', 'r0-h3'), 'the hand-deleted entry is back: h1 reaches h3 by name');
  assert.ok(await reaches(2, 'r0-h3', 'r0-h2'), 'h3 reaches h2 by name');
  await d(1).ok('run', '-d', '--name', 'after', '--network', 'ovr', 'busybox', 'sleep', '600');
  assert.ok(await reaches(0, 'r0-h1', 'after'), 'a container started after the outage is reached by name');
  console.log(`# overlay: etcd away ${restartedAt - killedAt} ms; lease and watch back, checked by diagnose`);
  await d(1).ok('rm', '-f', 'after');
});

test('nothing is left behind', async () => {
  await Promise.all(all.map((index) => d(index).ok('rm', '-f', `r0-h${index + 1}`)));
  await d(2).ok('network', 'rm', 'ovr');
  for (const index of all) {
    await within(
      3_000,
      `no overlay link left on h${index + 1}`,
      async () => !/ (ov|vx)-[0-9a-f]{12}/.test(await host(index).exec('ip', ['-o', 'link', 'show'])),
    );
  }
});
