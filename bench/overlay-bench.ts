/**
 * skiff's overlay network on simulated hosts (test/helpers/cluster.ts: one
 * network namespace per host on an underlay bridge, an etcd of their own, a
 * skiff daemon per host), in one run on this machine:
 *
 *   - cross-host TCP throughput (iperf3) between containers on h1 and h2,
 *     against a bare VXLAN pair between the same two host namespaces and
 *     the underlay itself; cross-host ping RTT the same three ways;
 *   - a name visible on h1 after `run` starts on h2, gone after `rm`;
 *   - a SIGKILLed host's names and FDB entries gone on h1;
 *   - the daemon's memory per remote endpoint (endpoints of a simulated node
 *     published straight into etcd);
 *   - entry propagation to every other host at 3 and at 10 hosts.
 *
 *   node dist/bench/overlay-bench.js [--quick]
 *
 * Run as root. It re-runs itself in a throwaway world (world.ts) and touches
 * nothing outside it. It prints figures and never judges them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { makeCluster, type ClusterHost, type TestCluster } from '../test/helpers/cluster.js';
import { importBusybox, startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { scratchDir, sh } from '../test/helpers/world.js';
import { ClusterStore } from '../src/cluster/index.js';
import { macFromIpv4 } from '../src/drivers/mac.js';
import { pssKb } from './memory.js';
import { summarize, type Summary } from './stats.js';
import { emitResult, inWorld, runPhaseInWorld } from './world.js';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick') || process.env['SKIFF_OVERLAY_BENCH_QUICK'] === '1';
const ROUNDS = quick ? 3 : 7;
const IPERF_SECONDS = quick ? 3 : 5;
const SIMULATED_ENDPOINTS = quick ? 200 : 1000;
const BARE_VNI = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Cluster {
  world: TestCluster;
  daemons: TestDaemon[];
  remove: () => Promise<void>;
}

async function startCluster(dir: string, hostCount: number, withImage: readonly number[]): Promise<Cluster> {
  const world = await makeCluster(dir, hostCount);
  await world.etcd.start();
  // One after another: ten daemons dialling etcd at once on a busy 2-core machine can miss the 2 s connect deadline.
  const daemons: TestDaemon[] = [];
  for (const host of world.hosts)
    daemons.push(await startDaemon({ netnsPath: host.path, extraArgs: ['--cluster-store', world.etcd.url, '--cluster-advertise', host.address] }));
  await Promise.all(withImage.map((index) => importBusybox(daemons[index]!)));
  return {
    world,
    daemons,
    remove: async () => {
      for (const daemon of daemons) await daemon.cleanup();
      await world.remove();
    },
  };
}

const sandboxOf = async (daemon: TestDaemon, container: string) => (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', container)).trim();
const addressOf = async (daemon: TestDaemon, container: string, network: string) =>
  (await daemon.ok('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).trim();
const inNetns = (netnsPath: string, program: string, args: string[]) => sh('nsenter', [`--net=${netnsPath}`, '--', program, ...args]);

/** An iperf3 server in a namespace, ended by the returned function. */
function iperfServer(netnsPath: string): () => void {
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  return () => {
    child.kill('SIGKILL');
  };
}

async function iperfGbits(clientNetns: string, serverNetns: string, address: string): Promise<number> {
  const stop = iperfServer(serverNetns);
  try {
    await sleep(200);
    const report = JSON.parse(await inNetns(clientNetns, 'iperf3', ['-c', address, '-t', String(IPERF_SECONDS), '-J'])) as {
      end: { sum_received: { bits_per_second: number } };
    };
    return report.end.sum_received.bits_per_second / 1e9;
  } finally {
    stop();
  }
}

async function pingAvgMs(netnsPath: string, address: string): Promise<number> {
  const output = await inNetns(netnsPath, 'ping', ['-q', '-c', '50', '-i', '0.01', address]);
  const avg = /= [\d.]+\/([\d.]+)\//.exec(output)?.[1];
  if (avg === undefined) throw new Error(`no RTT in ping's output: ${output}`);
  return Number(avg);
}

/** A bare VXLAN device in each of two host namespaces, pointed at each other: the kernel's ceiling for this path. */
async function bareVxlanPair(a: ClusterHost, b: ClusterHost): Promise<{ addressOfB: string }> {
  const ends: Array<[ClusterHost, ClusterHost, string]> = [
    [a, b, '10.254.0.1/24'],
    [b, a, '10.254.0.2/24'],
  ];
  for (const [self, peer, address] of ends) {
    await self.exec('ip', [
      'link',
      'add',
      'bare-vx',
      'mtu',
      '1450',
      'type',
      'vxlan',
      'id',
      String(BARE_VNI),
      'dstport',
      '4789',
      'local',
      self.address,
      'remote',
      peer.address,
      'dev',
      'eth0',
    ]);
    await self.exec('ip', ['addr', 'add', address, 'dev', 'bare-vx']);
    await self.exec('ip', ['link', 'set', 'bare-vx', 'up']);
  }
  return { addressOfB: '10.254.0.2' };
}

/** Starts the name probe in a container's namespace; resolves once it asks, with the time it saw the change. */
async function nameProbe(netnsPath: string, mode: 'appear' | 'vanish', name: string): Promise<{ at: Promise<number>; child: ChildProcess }> {
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, join(here, 'overlay-name-probe.js'), mode, name, '10000'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const at = new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line === 'READY') ready();
      else if (line.startsWith('AT ')) resolve(Number(line.slice(3)));
      else reject(new Error(`name probe for ${name}: ${line}`));
    });
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`name probe for ${name} exited with ${code}`));
    });
  });
  await isReady;
  return { at, child };
}

/** Watches a host's neighbour table (ip monitor): the time of the first permanent entry added on a device after arm(). */
function neighbourMonitor(host: ClusterHost, device: string): { arm: () => Promise<number>; stop: () => void } {
  const child = spawn('nsenter', [`--net=${host.path}`, '--', 'ip', 'monitor', 'neigh', 'dev', device], { stdio: ['ignore', 'pipe', 'ignore'] });
  let waiter: ((at: number) => void) | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (waiter !== undefined && !line.startsWith('Deleted') && line.includes('PERMANENT')) {
      waiter(Date.now());
      waiter = undefined;
    }
  });
  return {
    arm: () =>
      new Promise<number>((resolve) => {
        waiter = resolve;
      }),
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}

/** Time from `run` starting on the runner host until its entry is on every other host: each host's delay and the slowest. */
async function entryPropagation(
  cluster: Cluster,
  network: string,
  runner: number,
  rounds: number,
  tag: string,
): Promise<{ slowest: Summary; eachHost: Summary }> {
  const id = (await cluster.daemons[runner]!.ok('network', 'inspect', '-f', '{{.Id}}', network)).trim();
  const device = `vx-${id.slice(0, 12)}`;
  const others = cluster.world.hosts.filter((_, index) => index !== runner);
  const monitors = others.map((host) => neighbourMonitor(host, device));
  await sleep(300);
  const slowest: number[] = [];
  const eachHost: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const arrivals = monitors.map((monitor) => monitor.arm());
      const started = Date.now();
      await cluster.daemons[runner]!.ok('run', '-d', '--name', `${tag}${round}`, '--network', network, 'busybox', 'sleep', '600');
      const delays = (await Promise.all(arrivals)).map((at) => at - started);
      eachHost.push(...delays);
      slowest.push(Math.max(...delays));
      await cluster.daemons[runner]!.ok('rm', '-f', `${tag}${round}`);
      await sleep(200);
    }
  } finally {
    for (const monitor of monitors) monitor.stop();
  }
  return { slowest: summarize(slowest), eachHost: summarize(eachHost) };
}

export interface OverlayBenchResult {
  throughputGbits: { overlay: Summary; bareVxlan: Summary; underlay: Summary };
  rttMs: { overlay: Summary; bareVxlan: Summary; underlay: Summary };
  nameVisibleAfterRunMs: Summary;
  runReturnedMs: Summary;
  nameGoneAfterRmMs: Summary;
  killedHost: { namesGoneMs: Summary; fdbGoneMs: Summary };
  memoryPerRemoteEndpointKb: { perEndpoint: number; endpoints: number; pssBeforeKb: number; pssAfterKb: number };
  propagation: Record<'3' | '10', { slowest: Summary; eachHost: Summary }>;
}

async function measureThreeHosts(dir: string): Promise<Omit<OverlayBenchResult, 'propagation'> & { propagation3: { slowest: Summary; eachHost: Summary } }> {
  const cluster = await startCluster(dir, 3, [0, 1, 2]);
  const { daemons, world } = cluster;
  const [h1, h2] = world.hosts as [ClusterHost, ClusterHost, ClusterHost];
  const [d1, d2, d3] = daemons as [TestDaemon, TestDaemon, TestDaemon];
  try {
    // A /16: room for the simulated node's endpoints of the memory figure.
    await d1.ok('network', 'create', '-d', 'overlay', '--subnet', '10.128.0.0/16', 'bench');
    for (const daemon of [d2, d3]) {
      for (let poll = 0; poll < 100 && (await daemon.docker('network', 'inspect', 'bench')).code !== 0; poll++) await sleep(50);
    }
    await d1.ok('run', '-d', '--name', 'client', '--network', 'bench', 'busybox', 'sleep', '3600');
    await d2.ok('run', '-d', '--name', 'server', '--network', 'bench', 'busybox', 'sleep', '3600');
    const [clientNs, serverNs, serverAddress] = await Promise.all([sandboxOf(d1, 'client'), sandboxOf(d2, 'server'), addressOf(d2, 'server', 'bench')]);
    const bare = await bareVxlanPair(h1, h2);

    console.log('# iperf3 and ping: overlay (container h1 → container h2), bare VXLAN (h1 → h2), underlay (h1 → h2), interleaved');
    const throughput = { overlay: [] as number[], bareVxlan: [] as number[], underlay: [] as number[] };
    const rtt = { overlay: [] as number[], bareVxlan: [] as number[], underlay: [] as number[] };
    const paths = [
      ['overlay', clientNs, serverNs, serverAddress],
      ['bareVxlan', h1.path, h2.path, bare.addressOfB],
      ['underlay', h1.path, h2.path, h2.address],
    ] as const;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [path, from, to, address] of paths) {
        throughput[path].push(await iperfGbits(from, to, address));
        rtt[path].push(await pingAvgMs(from, address));
      }
      console.log(
        `#  round ${round + 1}: ${paths.map(([path]) => `${path} ${throughput[path].at(-1)!.toFixed(2)} Gbit/s ${rtt[path].at(-1)!.toFixed(3)} ms`).join(', ')}`,
      );
    }

    console.log('# names: visible on h1 after run starts on h2, gone after rm starts');
    const visible: number[] = [];
    const runReturned: number[] = [];
    const gone: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const name = `named${round}`;
      const appear = await nameProbe(clientNs, 'appear', name);
      const started = Date.now();
      await d2.ok('run', '-d', '--name', name, '--network', 'bench', 'busybox', 'sleep', '600');
      runReturned.push(Date.now() - started);
      visible.push((await appear.at) - started);
      const vanish = await nameProbe(clientNs, 'vanish', name);
      const removing = Date.now();
      await d2.ok('rm', '-f', name);
      gone.push((await vanish.at) - removing);
    }

    console.log('# a SIGKILLed host (h3): its names and FDB entries gone on h1');
    const namesGone: number[] = [];
    const fdbGone: number[] = [];
    const benchId = (await d1.ok('network', 'inspect', '-f', '{{.Id}}', 'bench')).trim();
    let h3 = d3;
    for (let round = 0; round < Math.min(ROUNDS, 3); round++) {
      const name = `doomed${round}`;
      await h3.ok('run', '-d', '--name', name, '--network', 'bench', 'busybox', 'sleep', '600');
      const vtep = world.hosts[2]!.address;
      const vanish = await nameProbe(clientNs, 'vanish', name);
      const killed = Date.now();
      await h3.kill('SIGKILL');
      let fdbAt: number | undefined;
      while (fdbAt === undefined && Date.now() - killed < 10_000) {
        const fdb = await h1.exec('bridge', ['fdb', 'show', 'dev', `vx-${benchId.slice(0, 12)}`]);
        if (!fdb.includes(`dst ${vtep} `)) fdbAt = Date.now();
        else await sleep(20);
      }
      namesGone.push((await vanish.at) - killed);
      fdbGone.push((fdbAt ?? Number.NaN) - killed);
      h3 = await h3.restart();
      daemons[2] = h3;
      await h3.ok('rm', '-f', name);
    }

    console.log(`# memory: h1's daemon before and after ${SIMULATED_ENDPOINTS} remote endpoints of a simulated node`);
    const daemonPid = d1.process.pid!;
    await sleep(2_000);
    const pssBeforeKb = pssKb(daemonPid);
    const store = await ClusterStore.open({ url: world.etcd.url });
    const simulated = await store.join({ nodeId: 'simulated-node', hostname: 'simulated', advertiseAddress: '192.168.250.200' }, { ttlSeconds: 10 });
    // One at a time: endpoints added at once race for the same lowest free address and retry.
    for (let index = 0; index < SIMULATED_ENDPOINTS; index++) {
      const id = `sim${index}`.padEnd(64, '0');
      await simulated.addEndpoint({ id, networkId: benchId, containerId: id, containerName: `sim${index}`, macOf: macFromIpv4 });
    }
    const neighbourCount = async () =>
      (await h1.exec('ip', ['-4', 'neigh', 'show', 'dev', `vx-${benchId.slice(0, 12)}`, 'nud', 'permanent'])).trim().split('\n').length;
    for (let poll = 0; poll < 200 && (await neighbourCount()) < SIMULATED_ENDPOINTS; poll++) await sleep(50);
    await sleep(2_000);
    const pssAfterKb = pssKb(daemonPid);
    await simulated.leave();
    store.close();

    const propagation3 = await entryPropagation(cluster, 'bench', 1, ROUNDS, 'p3-');
    return {
      throughputGbits: { overlay: summarize(throughput.overlay), bareVxlan: summarize(throughput.bareVxlan), underlay: summarize(throughput.underlay) },
      rttMs: { overlay: summarize(rtt.overlay), bareVxlan: summarize(rtt.bareVxlan), underlay: summarize(rtt.underlay) },
      nameVisibleAfterRunMs: summarize(visible),
      runReturnedMs: summarize(runReturned),
      nameGoneAfterRmMs: summarize(gone),
      killedHost: { namesGoneMs: summarize(namesGone), fdbGoneMs: summarize(fdbGone) },
      memoryPerRemoteEndpointKb: { perEndpoint: (pssAfterKb - pssBeforeKb) / SIMULATED_ENDPOINTS, endpoints: SIMULATED_ENDPOINTS, pssBeforeKb, pssAfterKb },
      propagation3,
    };
  } finally {
    await cluster.remove();
  }
}

async function measureTenHosts(dir: string): Promise<{ slowest: Summary; eachHost: Summary }> {
  const cluster = await startCluster(dir, 10, [1]);
  try {
    await cluster.daemons[0]!.ok('network', 'create', '-d', 'overlay', 'bench');
    await sleep(1_000);
    return await entryPropagation(cluster, 'bench', 1, ROUNDS, 'p10-');
  } finally {
    await cluster.remove();
  }
}

const line = (label: string, summary: Summary, unit: string, digits = 2) =>
  `${label}: ${summary.median.toFixed(digits)} ${unit} (min ${summary.min.toFixed(digits)}, max ${summary.max.toFixed(digits)}, n ${summary.n})`;

async function inTheWorld(): Promise<void> {
  // The test helpers this bench builds its cluster with check for a world of their own: this is one.
  process.env['SKIFF_IN_WORLD'] = '1';
  await sh('ip', ['link', 'set', 'lo', 'up']);
  const scratch = scratchDir('skiff-overlay-bench-');
  try {
    // Each cluster in a folder of its own: the harness makes its etcd's data dir there.
    const [threeDir, tenDir] = [join(scratch.path, 'three'), join(scratch.path, 'ten')];
    mkdirSync(threeDir);
    mkdirSync(tenDir);
    const three = await measureThreeHosts(threeDir);
    const ten = await measureTenHosts(tenDir);
    const { propagation3, ...rest } = three;
    const result: OverlayBenchResult = { ...rest, propagation: { 3: propagation3, 10: ten } };
    console.log(
      [
        line('throughput overlay', result.throughputGbits.overlay, 'Gbit/s'),
        line('throughput bare VXLAN', result.throughputGbits.bareVxlan, 'Gbit/s'),
        line('throughput underlay', result.throughputGbits.underlay, 'Gbit/s'),
        `overlay / bare VXLAN: ${(result.throughputGbits.overlay.median / result.throughputGbits.bareVxlan.median).toFixed(2)}`,
        line('RTT overlay', result.rttMs.overlay, 'ms', 3),
        line('RTT bare VXLAN', result.rttMs.bareVxlan, 'ms', 3),
        line('RTT underlay', result.rttMs.underlay, 'ms', 3),
        line('name visible on h1 after run starts on h2', result.nameVisibleAfterRunMs, 'ms', 0),
        line('run -d returned after', result.runReturnedMs, 'ms', 0),
        line('name gone on h1 after rm starts on h2', result.nameGoneAfterRmMs, 'ms', 0),
        line('killed host: names gone on h1', result.killedHost.namesGoneMs, 'ms', 0),
        line('killed host: FDB entries gone on h1', result.killedHost.fdbGoneMs, 'ms', 0),
        `daemon memory per remote endpoint: ${result.memoryPerRemoteEndpointKb.perEndpoint.toFixed(2)} kB (PSS ${result.memoryPerRemoteEndpointKb.pssBeforeKb} → ${result.memoryPerRemoteEndpointKb.pssAfterKb} kB with ${result.memoryPerRemoteEndpointKb.endpoints})`,
        line('entry on every other host after run, 3 hosts (slowest host)', result.propagation[3].slowest, 'ms', 0),
        line('entry on every other host after run, 10 hosts (slowest host)', result.propagation[10].slowest, 'ms', 0),
        line('entry on one other host after run, 3 hosts (each host)', result.propagation[3].eachHost, 'ms', 0),
        line('entry on one other host after run, 10 hosts (each host)', result.propagation[10].eachHost, 'ms', 0),
      ]
        .map((text) => `# ${text}`)
        .join('\n'),
    );
    emitResult(result);
  } finally {
    scratch.remove();
  }
}

if (inWorld()) {
  await inTheWorld();
} else {
  if (quick) process.env['SKIFF_OVERLAY_BENCH_QUICK'] = '1';
  const result = await runPhaseInWorld(fileURLToPath(import.meta.url), 'overlay', 20 * 60_000);
  console.log(JSON.stringify(result, null, 2));
}
