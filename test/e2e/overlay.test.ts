/**
 * Overlay networks across three hosts (namespaces on an underlay, an etcd of
 * their own), one skiff daemon per host, driven by the stock docker CLI:
 * a network created on h1 is seen on h2 and h3; containers on different
 * hosts reach each other by address and by name; networks are isolated;
 * an internal one reaches nothing outside; a removed or killed host's
 * containers vanish everywhere; nothing is left behind. Measured figures
 * (entry visibility after run, RTT, a killed host's entries gone) are printed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, scratchDir, sh } from '../helpers/world.js';
import { makeCluster, SILENT_UNDERLAY_ADDRESS, WORLD_UNDERLAY_ADDRESS, type ClusterHost, type TestCluster } from '../helpers/cluster.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { DEFAULT_LEASE_TTL_SECONDS } from '../../src/cluster/index.js';

assertInWorld();

const LEASE_BOUND_MS = (DEFAULT_LEASE_TTL_SECONDS + 1) * 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let scratch: { path: string; remove: () => void };
let cluster: TestCluster;
const daemons: TestDaemon[] = [];

function startOn(host: ClusterHost, advertise: string): Promise<TestDaemon> {
  return startDaemon({ netnsPath: host.path, extraArgs: ['--cluster-store', cluster.etcd.url, '--cluster-advertise', advertise] });
}

before(async () => {
  scratch = scratchDir('skiff-overlay-');
  cluster = await makeCluster(scratch.path, 3);
  await cluster.etcd.start();
  const [h1, h2, h3] = cluster.hosts as [ClusterHost, ClusterHost, ClusterHost];
  // h3 advertises its interface rather than its address: both forms are dockerd's.
  daemons.push(...(await Promise.all([startOn(h1, h1.address), startOn(h2, `${h2.address}:2376`), startOn(h3, 'eth0')])));
  await Promise.all(daemons.map((daemon) => importBusybox(daemon)));
});

after(async () => {
  for (const daemon of daemons) await daemon.cleanup();
  await cluster.remove();
  scratch.remove();
});

const d = (index: number) => daemons[index]!;
const host = (index: number) => cluster.hosts[index]!;

/** Waits until check() holds (polling), at most timeoutMs; returns the time it took. */
async function within(timeoutMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return Date.now() - start;
}

const networkId = async (daemon: TestDaemon, name: string) => (await daemon.ok('network', 'inspect', '-f', '{{.Id}}', name)).trim();
const addressOf = async (daemon: TestDaemon, container: string, network: string) =>
  (await daemon.ok('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).trim();

/** The permanent neighbour entries on a host's VXLAN device of a network. */
async function neighbours(index: number, id: string): Promise<string[]> {
  const result = await host(index).tryExec('ip', ['-json', '-4', 'neigh', 'show', 'dev', `vx-${id.slice(0, 12)}`]);
  if (result.code !== 0) return [];
  return (JSON.parse(result.stdout || '[]') as Array<{ dst: string; state?: string[] }>)
    .filter((entry) => entry.state?.includes('PERMANENT'))
    .map((entry) => entry.dst);
}

async function fdbDestinations(index: number, id: string): Promise<string[]> {
  const result = await host(index).tryExec('bridge', ['-json', 'fdb', 'show', 'dev', `vx-${id.slice(0, 12)}`]);
  if (result.code !== 0) return [];
  return (JSON.parse(result.stdout || '[]') as Array<{ mac: string; dst?: string }>)
    .filter((entry) => entry.dst !== undefined)
    .map((entry) => `${entry.mac} ${entry.dst}`);
}

const ping = async (index: number, container: string, target: string) =>
  (await d(index).docker('exec', container, 'ping', '-c', '1', '-W', '1', target)).code === 0;
const resolves = async (index: number, container: string, name: string) => (await d(index).docker('exec', container, 'nslookup', name)).code === 0;

test('a network created on h1 is listed and inspected on h2 and h3 with scope global', async () => {
  await d(0).ok('network', 'create', '-d', 'overlay', '--attachable', '-o', 'com.docker.network.driver.mtu=1400', 'ov-mtu');
  for (const index of [1, 2]) {
    await within(2_000, `ov-mtu listed on h${index + 1}`, async () =>
      (await d(index).ok('network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}')).includes('ov-mtu overlay global'),
    );
    const inspected = JSON.parse(await d(index).ok('network', 'inspect', 'ov-mtu')) as Array<{
      Scope: string;
      Driver: string;
      Attachable: boolean;
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
      Options: Record<string, string>;
    }>;
    assert.equal(inspected[0]!.Scope, 'global');
    assert.equal(inspected[0]!.Driver, 'overlay');
    assert.equal(inspected[0]!.Attachable, true);
    assert.deepEqual(inspected[0]!.IPAM.Config, [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }]);
    assert.equal(inspected[0]!.Options['com.docker.network.driver.overlay.vxlanid_list'], '4096');
  }
  const clash = await d(1).docker('network', 'create', '-d', 'overlay', 'ov-mtu');
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, /network with name ov-mtu already exists/);
  await d(2).ok('network', 'rm', 'ov-mtu');
  await within(2_000, 'ov-mtu gone on h1', async () => !(await d(0).ok('network', 'ls')).includes('ov-mtu'));
});

test('containers on three hosts reach each other by address and by name, both ways', async () => {
  await d(0).ok('network', 'create', '-d', 'overlay', '--subnet', '10.77.0.0/24', 'ov1');
  const id = await networkId(d(0), 'ov1');
  await within(
    2_000,
    'ov1 on h2 and h3',
    async () => (await d(1).docker('network', 'inspect', 'ov1')).code === 0 && (await d(2).docker('network', 'inspect', 'ov1')).code === 0,
  );
  await d(0).ok('run', '-d', '--name', 'c1', '--network', 'ov1', 'busybox', 'sleep', '600');

  // How soon h1 holds c2's entries after c2's `run` on h2 starts, polled from h1's namespace meanwhile.
  const runStarted = Date.now();
  let entryAt: number | undefined;
  const polling = (async () => {
    while (entryAt === undefined && Date.now() - runStarted < 10_000) {
      if ((await neighbours(0, id)).length > 0) entryAt = Date.now();
    }
  })();
  await d(1).ok('run', '-d', '--name', 'c2', '--network', 'ov1', '--network-alias', 'db', 'busybox', 'sleep', '600');
  const runReturned = Date.now();
  await polling;
  assert.ok(entryAt !== undefined, "c2's neighbour entry appeared on h1");
  console.log(
    `# overlay: c2's entry on h1 ${entryAt - runStarted} ms after run started; run took ${runReturned - runStarted} ms (entry ${entryAt <= runReturned ? 'before' : 'after'} run returned, by ${Math.abs(runReturned - entryAt)} ms)`,
  );
  await d(2).ok('run', '-d', '--name', 'c3', '--network', 'ov1', 'busybox', 'sleep', '600');

  const [a1, a2, a3] = await Promise.all([addressOf(d(0), 'c1', 'ov1'), addressOf(d(1), 'c2', 'ov1'), addressOf(d(2), 'c3', 'ov1')]);
  assert.deepEqual(new Set([a1, a2, a3]).size, 3, 'three distinct addresses');
  for (const address of [a1, a2, a3]) assert.match(address, /^10\.77\.0\.\d+$/);
  // Every other host's endpoint, and only those, on each host's VXLAN device.
  await within(2_000, 'entries on h1', async () => (await neighbours(0, id)).sort().join() === [a2, a3].sort().join());
  assert.deepEqual((await fdbDestinations(0, id)).map((entry) => entry.split(' ')[1]).sort(), [host(1).address, host(2).address]);
  assert.equal((await d(0).ok('exec', 'c1', 'cat', '/sys/class/net/eth0/mtu')).trim(), '1450', 'container MTU = underlay 1500 - 50');

  assert.ok(await ping(0, 'c1', a2), 'c1 (h1) reaches c2 (h2) by address');
  assert.ok(await ping(1, 'c2', a1), 'c2 (h2) reaches c1 (h1) by address');
  assert.ok(await ping(2, 'c3', a2), 'c3 (h3) reaches c2 (h2) by address');
  assert.ok(await ping(0, 'c1', 'c2'), 'c1 reaches c2 by name');
  assert.ok(await ping(1, 'c2', 'c1'), 'c2 reaches c1 by name');
  assert.ok(await ping(2, 'c3', 'db'), 'c3 reaches c2 by its alias');
  assert.match(await d(0).ok('exec', 'c1', 'nslookup', a3), /name = c3\.ov1/, 'PTR of a remote container');
  const rtt = await d(0).ok('exec', 'c1', 'ping', '-c', '10', '-i', '0.2', '-q', a2);
  console.log(`# overlay: cross-host ping c1 -> c2: ${/= ([\d./]+) ms/.exec(rtt)?.[1] ?? rtt} ms (min/avg/max)`);

  // Removing c2 takes its name and entries away on the other hosts.
  const rmStarted = Date.now();
  await d(1).ok('rm', '-f', 'c2');
  await within(2_000, "c2's entry gone on h1", async () => !(await neighbours(0, id)).includes(a2));
  console.log(`# overlay: c2's entry gone on h1 ${Date.now() - rmStarted} ms after rm started `);
  assert.equal(await resolves(0, 'c1', 'c2'), false, "c2's name is gone on h1");
});

test('two overlay networks are isolated; an internal one reaches nothing outside while a normal one goes out through its own host', async () => {
  await d(1).ok('network', 'create', '-d', 'overlay', 'ov2');
  await d(1).ok('network', 'create', '-d', 'overlay', '--internal', 'ovi');
  await within(2_000, 'ov2 and ovi on h1', async () => (await d(0).docker('network', 'inspect', 'ov2', 'ovi')).code === 0);
  await d(0).ok('run', '-d', '--name', 'x1', '--network', 'ov2', 'busybox', 'sleep', '600');
  await d(1).ok('run', '-d', '--name', 'x2', '--network', 'ov2', 'busybox', 'sleep', '600');
  await d(0).ok('run', '-d', '--name', 'i1', '--network', 'ovi', 'busybox', 'sleep', '600');
  await d(2).ok('run', '-d', '--name', 'i3', '--network', 'ovi', 'busybox', 'sleep', '600');
  const c3 = await addressOf(d(2), 'c3', 'ov1');
  assert.ok(await ping(1, 'x2', 'x1'), 'x2 (h2) reaches x1 (h1) on ov2');
  assert.equal(await ping(0, 'x1', c3), false, 'ov2 does not reach ov1');
  assert.equal(await resolves(0, 'x1', 'c3'), false, "ov1's names are not answered on ov2");
  assert.ok(await ping(2, 'i3', 'i1'), 'the internal network still spans hosts');
  assert.equal(await ping(0, 'i1', WORLD_UNDERLAY_ADDRESS), false, 'the internal network reaches nothing outside');
  assert.ok(await ping(0, 'c1', WORLD_UNDERLAY_ADDRESS), 'ov1 goes out through its own host (masquerade)');
  const removal = await d(0).docker('network', 'rm', 'ov2');
  assert.notEqual(removal.code, 0);
  assert.match(removal.stderr, /has active endpoints/);
  await d(1).ok('rm', '-f', 'x2');
  const elsewhere = await d(1).docker('network', 'rm', 'ov2');
  assert.match(elsewhere.stderr, /network ov2 id [0-9a-f]{64} has active endpoints/, 'refused while h1 still has x1 on it');
  await d(0).ok('rm', '-f', 'x1', 'i1');
  await d(2).ok('rm', '-f', 'i3');
  await d(1).ok('network', 'rm', 'ov2', 'ovi');
  for (const index of [0, 2]) await within(2_000, `ov2/ovi gone on h${index + 1}`, async () => !/ov2|ovi/.test(await d(index).ok('network', 'ls')));
});

test('-p on an overlay container publishes on its own host: from the host (loopback and underlay address), from another host and from outside', async () => {
  await d(0).ok(
    'run',
    '-d',
    '--name',
    'web',
    '--network',
    'ov1',
    '-p',
    '8080:80',
    'busybox',
    'sh',
    '-c',
    'echo served-by-web > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
  );
  const url = (address: string) => `http://${address}:8080/`;
  const fetchFrom = async (index: number, address: string) => (await host(index).tryExec('curl', ['-s', '-m', '2', url(address)])).stdout.trim();
  await within(3_000, "web answers on h1's loopback", async () => (await fetchFrom(0, '127.0.0.1')) === 'served-by-web');
  assert.equal(await fetchFrom(0, host(0).address), 'served-by-web', 'from h1 itself, by its underlay address');
  assert.equal(await fetchFrom(1, host(0).address), 'served-by-web', 'from h2 across the underlay');
  const outside = await fetch(url(host(0).address), { signal: AbortSignal.timeout(2_000) });
  assert.equal((await outside.text()).trim(), 'served-by-web', "from outside the cluster's hosts");
  assert.equal(await fetchFrom(1, '127.0.0.1'), '', 'not published on h2');
  assert.equal((await d(2).ok('exec', 'c3', 'wget', '-qO-', 'http://web/')).trim(), 'served-by-web', 'c3 (h3) reaches web by name on its own port');
  await d(0).ok('rm', '-f', 'web');
});

test('diagnose checks the VXLAN device, the lease and each remote entry; an FDB entry deleted by hand is reported, and a restart writes it again', async () => {
  const id = await networkId(d(0), 'ov1');
  const vxlan = `vx-${id.slice(0, 12)}`;
  const a3 = await addressOf(d(2), 'c3', 'ov1');
  const mac3 = (await d(2).ok('inspect', '-f', '{{(index .NetworkSettings.Networks "ov1").MacAddress}}', 'c3')).trim();
  const healthy = await d(0).skiff('network', 'diagnose', 'ov1');
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  for (const expected of [
    `VXLAN device ${vxlan} exists and is up`,
    `${vxlan}: VNI`,
    'holds its lease',
    'cluster watch is attached',
    `remote endpoint c3 (${a3} on ${host(2).address})`,
    'endpoint c1',
  ]) {
    assert.ok(healthy.stdout.includes(expected), `diagnose shows "${expected}":\n${healthy.stdout}`);
  }

  await host(0).exec('bridge', ['fdb', 'del', mac3, 'dev', vxlan, 'dst', host(2).address, 'self']);
  const broken = await d(0).skiff('network', 'diagnose', 'ov1');
  assert.notEqual(broken.code, 0);
  assert.match(broken.stdout, new RegExp(`FAIL +remote endpoint c3 \\(${a3.replaceAll('.', '\\.')} .*FDB entry missing`));
  assert.equal(await ping(0, 'c1', a3), false, 'without its FDB entry c3 is unreachable from h1 (nothing floods)');

  daemons[0] = await d(0).restart();
  const repaired = await d(0).skiff('network', 'diagnose', 'ov1');
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.ok(await ping(0, 'c1', 'c3'), 'c1 reaches c3 again, by name: a restarted daemon answers remote names');
});

test('a host whose daemon is SIGKILLed vanishes from the others within lease TTL + 1 s, and comes back with the same addresses', async () => {
  const id = await networkId(d(0), 'ov1');
  const a3 = await addressOf(d(2), 'c3', 'ov1');
  assert.ok((await neighbours(0, id)).includes(a3));
  const killedAt = Date.now();
  await d(2).kill('SIGKILL');
  // Neighbour and FDB entries go in two writes: wait for both, within the same bound.
  const h3Entries = async () => (await fdbDestinations(0, id)).some((entry) => entry.endsWith(` ${host(2).address}`));
  const gone = await within(LEASE_BOUND_MS + 1_000, 'c3 gone on h1', async () => !(await neighbours(0, id)).includes(a3) && !(await h3Entries()));
  console.log(`# overlay: a SIGKILLed host's entries gone on h1 after ${gone} ms (bound ${LEASE_BOUND_MS} ms)`);
  assert.ok(Date.now() - killedAt <= LEASE_BOUND_MS, `gone within ${LEASE_BOUND_MS} ms`);
  assert.ok(!(await h3Entries()), 'no FDB entry left for h3');
  assert.equal(await resolves(0, 'c1', 'c3'), false, "c3's name is gone on h1");

  // The daemon comes back: its running container is published again under the same address.
  daemons[2] = await d(2).restart();
  await within(3_000, 'c3 back on h1', async () => (await neighbours(0, id)).includes(a3));
  assert.equal(await addressOf(d(2), 'c3', 'ov1'), a3);
  assert.ok(await ping(0, 'c1', 'c3'), 'c1 reaches c3 by name again');
});

test('a cluster store that cannot be reached stops a daemon at start, naming it, before anything is changed', async () => {
  const url = `etcd://${SILENT_UNDERLAY_ADDRESS}:2379`;
  const linksBefore = await host(0).exec('ip', ['-o', 'link', 'show']);
  await assert.rejects(
    startDaemon({ netnsPath: host(0).path, extraArgs: ['--cluster-store', url, '--cluster-advertise', 'eth0'] }),
    (error: Error) => error.message.includes(SILENT_UNDERLAY_ADDRESS) && /daemon exited with [1-9]/.test(error.message),
  );
  assert.equal(await host(0).exec('ip', ['-o', 'link', 'show']), linksBefore, 'no link made or removed');
});

test('nothing is left behind: removing the last containers and the network clears every host', async () => {
  const id = await networkId(d(0), 'ov1');
  await d(0).ok('rm', '-f', 'c1');
  await d(2).ok('rm', '-f', 'c3');
  await d(1).ok('network', 'rm', 'ov1');
  for (let index = 0; index < 3; index++) {
    await within(2_000, `ov1's links gone on h${index + 1}`, async () => {
      const links = await sh('nsenter', [`--net=${host(index).path}`, 'ip', '-o', 'link', 'show']);
      return !links.includes(id.slice(0, 12));
    });
  }
});
