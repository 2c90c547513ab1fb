/**
 * Phase "dns": the embedded DNS server of skiff, of dockerd and of Podman
 * (aardvark-dns), asked at the nameserver of the container's resolv.conf
 * (127.0.0.11 for skiff and dockerd, the network's gateway for Podman) from
 * inside a container's network namespace by dnsperf (run with nsenter,
 * bounded by -l), for
 *   - a container's name on the same user network
 *   - names forwarded upstream: dnsmasq in a namespace of this world, joined
 *     to each daemon's namespace by a veth, answering NXDOMAIN for *.nx.bench
 * and the memory 1,000 names cost (see README: daemon RSS with 10 containers
 * × 100 aliases against 10 without, and the library's DnsRecords heap).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openContainerWorld, sandboxKey, type PerDaemon, type Side } from './container-world.js';
import { cpuMs, pidsNamed, rssKb, sum } from './memory.js';
import { benchSize } from './size.js';
import { ratio, summarize, type Summary } from './stats.js';
import { makeNetns, vethBetween } from './world.js';

const UPSTREAM: Record<Side['daemon']['name'], { daemonSide: string; upstream: string }> = {
  skiff: { daemonSide: '10.53.1.1/24', upstream: '10.53.1.2' },
  dockerd: { daemonSide: '10.53.2.1/24', upstream: '10.53.2.2' },
  podman: { daemonSide: '10.53.3.1/24', upstream: '10.53.3.2' },
};
const UPSTREAM_LINK: Record<Side['daemon']['name'], string> = { skiff: 'ups', dockerd: 'upd', podman: 'upp' };

/** The processes that answer a daemon's containers' DNS: skiff's and dockerd's own daemons; Podman's aardvark-dns. */
function dnsServerPids(side: Side): number[] {
  return side.daemon.name === 'podman' ? pidsNamed('aardvark-dns') : [side.daemon.pid];
}

export type QueryKind = 'names' | 'forwarded';

export interface DnsperfRun {
  qps: number;
  daemonCpu?: number;
  sent: number;
  lost: number;
  p50Ms: number;
  p99Ms: number;
  rcodes: string;
}

export interface DnsKindResult {
  qps: Summary;
  daemonCpu: Summary;
  p50Ms: Summary;
  p99Ms: Summary;
  lost: number;
  rcodes: string;
}

export interface DnsResult {
  dockerdSkipped?: string;
  podmanSkipped?: string;
  runs: Record<QueryKind, PerDaemon<DnsKindResult>>;
  /** names again, with 1,000 aliases on the network (one run each). */
  namesCrowded: PerDaemon<DnsperfRun>;
  /** The address dnsperf asked, per daemon (the client's resolv.conf nameserver). */
  servers: PerDaemon<string>;
  /** Daemon RSS (Podman: the service + aardvark-dns): N containers without aliases, then N with M aliases each. */
  aliasMemory: PerDaemon<{ plainKb: number; aliasedKb: number; bytesPerName: number }>;
  records: { count: number; bytesPerName: number; bytesPerNameWithAskers: number; totalBytes: number };
  leftovers: string[];
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

/** Parses dnsperf -v output: its summary and one "> RCODE name type seconds" line per answer. */
export function parseDnsperf(text: string): DnsperfRun {
  const number = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? NaN);
  const latencies: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('> ')) continue;
    const seconds = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(seconds)) latencies.push(seconds * 1000);
  }
  latencies.sort((a, b) => a - b);
  return {
    qps: number(/Queries per second:\s+([\d.]+)/),
    sent: number(/Queries sent:\s+(\d+)/),
    lost: number(/Queries lost:\s+(\d+)/),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    rcodes: /Response codes:\s+(.*)/.exec(text)?.[1]?.trim() ?? '',
  };
}

export function dnsperf(
  netns: string,
  server: string,
  queryFile: string,
  seconds: number,
  outFile: string,
  extraArgs: readonly string[] = [],
): Promise<DnsperfRun> {
  return new Promise((resolve, reject) => {
    const out = openSync(outFile, 'w');
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'dnsperf', '-s', server, '-d', queryFile, '-l', String(seconds), '-v', ...extraArgs], {
      stdio: ['ignore', out, 'pipe'],
    });
    closeSync(out);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`dnsperf exited ${code}: ${stderr}`));
        return;
      }
      resolve(parseDnsperf(readFileSync(outFile, 'utf8')));
    });
  });
}

/** RSS after a settle of the daemon that holds the names: dockerd alone (its resolver lives there), Podman's service + aardvark-dns. */
async function daemonRss(side: Side): Promise<number> {
  await sleep(benchSize().settleMs);
  return rssKb(side.daemon.pid) + (side.daemon.name === 'podman' ? sum(dnsServerPids(side).map(rssKb)) : 0);
}

/** Its DNS servers' CPU time (ms). */
function dnsCpuMs(side: Side): number {
  return sum(dnsServerPids(side).map(cpuMs));
}

export async function dnsPhase(script: string): Promise<DnsResult> {
  const size = benchSize().dns;
  const world = await openContainerWorld(script, 'dns', {
    dns: { skiff: UPSTREAM.skiff.upstream, dockerd: UPSTREAM.dockerd.upstream, podman: UPSTREAM.podman.upstream },
  });
  const leftovers: string[] = [];
  try {
    const { sides, scratch } = world;
    // The upstream: dnsmasq in a namespace of its own, one veth to each daemon's namespace.
    const upstream = makeNetns(join(scratch.path, 'upstream'));
    world.defer(() => upstream.remove());
    for (const side of sides) {
      const link = UPSTREAM[side.daemon.name];
      vethBetween(side.daemon.netnsPath, link.daemonSide, upstream.path, `${link.upstream}/24`, UPSTREAM_LINK[side.daemon.name]);
    }
    await startNxUpstream(
      world,
      upstream.path,
      sides.map((side) => UPSTREAM[side.daemon.name].upstream),
      join(scratch.path, 'dnsmasq.log'),
    );

    const namesFile = join(scratch.path, 'names.txt');
    writeFileSync(namesFile, 'target A\n');
    const forwardedFile = join(scratch.path, 'forwarded.txt');
    writeFileSync(forwardedFile, Array.from({ length: 1000 }, (_, index) => `q${index}.nx.bench A\n`).join(''));
    const files: Record<QueryKind, string> = { names: namesFile, forwarded: forwardedFile };

    const clients: Record<string, string> = {};
    const servers: PerDaemon<string> = {};
    for (const side of sides) {
      await side.docker('network', 'create', 'bench-dns');
      await side.docker('run', '-d', '--name', 'target', '--network', 'bench-dns', 'busybox', 'sleep', '3600');
      await side.docker('run', '-d', '--name', 'client', '--network', 'bench-dns', 'busybox', 'sleep', '3600');
      clients[side.daemon.name] = await sandboxKey(side, 'client');
      const resolvConf = (await side.docker('exec', 'client', 'cat', '/etc/resolv.conf')).stdout;
      const server = /^nameserver\s+(\S+)/m.exec(resolvConf)?.[1];
      if (server === undefined) throw new Error(`${side.daemon.name}: no nameserver in the client's resolv.conf:\n${resolvConf}`);
      servers[side.daemon.name] = server;
      // One query of each kind first, so a broken path shows as such and not as a rate.
      for (const kind of ['names', 'forwarded'] as const) {
        const check = await dnsperf(clients[side.daemon.name]!, server, files[kind], size.checkSeconds, join(scratch.path, 'check.txt'));
        console.log(
          `${side.daemon.name} ${kind} (${server}): ${size.checkSeconds} s check: ${check.rcodes || 'no response codes'} (${check.lost} lost of ${check.sent})`,
        );
      }
    }
    const ask = (side: Side, queryFile: string, seconds: number, outFile: string) =>
      dnsperf(clients[side.daemon.name]!, servers[side.daemon.name]!, queryFile, seconds, outFile);

    const perRun: Record<QueryKind, Record<string, DnsperfRun[]>> = { names: {}, forwarded: {} };
    for (let round = 0; round < size.rounds; round++) {
      for (const kind of ['names', 'forwarded'] as const) {
        for (const side of sides) {
          const cpuBefore = dnsCpuMs(side);
          const run = await ask(side, files[kind], size.seconds, join(scratch.path, 'dnsperf.txt'));
          // The DNS server's CPU over the run, in cores (1.0 = one core busy all the time).
          run.daemonCpu = (dnsCpuMs(side) - cpuBefore) / (size.seconds * 1000);
          (perRun[kind][side.daemon.name] ??= []).push(run);
          console.log(
            `${side.daemon.name} ${kind} round ${round + 1}: ${run.qps.toFixed(0)} q/s, p50 ${run.p50Ms.toFixed(3)} ms, p99 ${run.p99Ms.toFixed(3)} ms, ${run.lost} lost of ${run.sent}, ${run.rcodes}, daemon CPU ${run.daemonCpu.toFixed(2)} cores`,
          );
        }
      }
    }
    const runs = Object.fromEntries(
      (['names', 'forwarded'] as const).map((kind) => [
        kind,
        Object.fromEntries(
          Object.entries(perRun[kind]).map(([name, list]) => [
            name,
            {
              qps: summarize(list.map((run) => run.qps)),
              daemonCpu: summarize(list.map((run) => run.daemonCpu ?? NaN)),
              p50Ms: summarize(list.map((run) => run.p50Ms)),
              p99Ms: summarize(list.map((run) => run.p99Ms)),
              lost: list.reduce((total, run) => total + run.lost, 0),
              rcodes: list[0]?.rcodes ?? '',
            },
          ]),
        ),
      ]),
    ) as DnsResult['runs'];

    // Memory of names: N containers without aliases, then N with M aliases each (1,000 names at full size).
    const NAMES_CONTAINERS = size.aliasContainers;
    const ALIASES_EACH = size.aliasesEach;
    const aliasMemory: DnsResult['aliasMemory'] = {};
    const namesCrowded: DnsResult['namesCrowded'] = {};
    for (const side of sides) {
      for (let index = 0; index < NAMES_CONTAINERS; index++)
        await side.docker('run', '-d', '--name', `plain-${index}`, '--network', 'bench-dns', 'busybox', 'sleep', '3600');
      const plainKb = await daemonRss(side);
      await side.docker('rm', '-f', ...Array.from({ length: NAMES_CONTAINERS }, (_, index) => `plain-${index}`));
      for (let index = 0; index < NAMES_CONTAINERS; index++) {
        const aliases = Array.from({ length: ALIASES_EACH }, (_, alias) => ['--network-alias', `a${index}-${alias}`]).flat();
        await side.docker('run', '-d', '--name', `aliased-${index}`, '--network', 'bench-dns', ...aliases, 'busybox', 'sleep', '3600');
      }
      const aliasedKb = await daemonRss(side);
      aliasMemory[side.daemon.name] = { plainKb, aliasedKb, bytesPerName: ((aliasedKb - plainKb) * 1024) / (NAMES_CONTAINERS * ALIASES_EACH) };
      const aliasFile = join(scratch.path, 'alias.txt');
      writeFileSync(aliasFile, `a${NAMES_CONTAINERS - 1}-${ALIASES_EACH - 1} A\n`);
      const check = await ask(side, aliasFile, size.checkSeconds, join(scratch.path, 'check.txt'));
      namesCrowded[side.daemon.name] = await ask(side, namesFile, size.seconds, join(scratch.path, 'dnsperf.txt'));
      console.log(
        `${side.daemon.name}: daemon RSS ${(plainKb / 1024).toFixed(1)} MB with ${NAMES_CONTAINERS} plain containers, ${(aliasedKb / 1024).toFixed(1)} MB with ${NAMES_CONTAINERS} × ${ALIASES_EACH} aliases; ` +
          `an alias: ${check.sent - check.lost} of ${check.sent} answered, ${check.rcodes || 'no response codes'}; names with ${NAMES_CONTAINERS * ALIASES_EACH} aliases on the network: ${namesCrowded[side.daemon.name]!.qps.toFixed(0)} q/s, p99 ${namesCrowded[side.daemon.name]!.p99Ms.toFixed(3)} ms`,
      );
    }

    const recordsScript = join(dirname(fileURLToPath(import.meta.url)), 'dns-records-memory.js');
    const records = JSON.parse(
      await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--expose-gc', recordsScript, String(NAMES_CONTAINERS * ALIASES_EACH)], { encoding: 'utf8' }, (error, stdout) =>
          error === null ? resolve(stdout) : reject(new Error(error.message)),
        ),
      ),
    ) as DnsResult['records'];
    const result: DnsResult = {
      dockerdSkipped: world.dockerdSkipped,
      podmanSkipped: world.podmanSkipped,
      runs,
      servers,
      namesCrowded,
      aliasMemory,
      records,
      leftovers,
    };
    printDnsResult(result);
    return result;
  } finally {
    leftovers.push(...(await world.close()));
  }
}

export function printDnsResult(result: DnsResult): void {
  for (const kind of ['names', 'forwarded'] as const) {
    const record = result.runs[kind];
    const cell = (entry: DnsKindResult) =>
      `${entry.qps.median.toFixed(0)} q/s (${entry.qps.min.toFixed(0)}–${entry.qps.max.toFixed(0)}), p50 ${entry.p50Ms.median.toFixed(3)} ms, p99 ${entry.p99Ms.median.toFixed(3)} ms, ${entry.lost} lost, server CPU ${entry.daemonCpu.median.toFixed(2)} cores`;
    const cells = Object.entries(record).map(([name, entry]) => `${name} ${cell(entry)}`);
    const rates = Object.entries(record)
      .filter(([name]) => name !== 'skiff')
      .map(([name, entry]) => `rate skiff/${name} ${ratio(record.skiff?.qps.median ?? NaN, entry.qps.median)}`);
    console.log(`${kind.padEnd(10)} ${[...cells, ...rates].join('   ')}`);
  }
  for (const [name, memory] of Object.entries(result.aliasMemory))
    console.log(`${name}: ${memory.bytesPerName.toFixed(0)} bytes of daemon RSS per alias (${result.records.count} aliases)`);
  console.log(
    `DnsRecords (library): ${result.records.bytesPerName.toFixed(0)} bytes per name, ${result.records.bytesPerNameWithAskers.toFixed(0)} with every asker cached; ${(result.records.totalBytes / 1024).toFixed(0)} KB for ${result.records.count} names`,
  );
}

/**
 * The forwarded workload's upstream: a dnsmasq in the namespace at upstreamPath
 * answering NXDOMAIN for *.nx.bench without a cache, stopped with the world.
 */
export async function startNxUpstream(
  world: Pick<Awaited<ReturnType<typeof openContainerWorld>>, 'defer'>,
  upstreamPath: string,
  listenAddresses: string[],
  logPath: string,
): Promise<void> {
  const log = openSync(logPath, 'w');
  const dnsmasq = spawn(
    'nsenter',
    [
      `--net=${upstreamPath}`,
      '--',
      'dnsmasq',
      '--no-daemon',
      '--no-resolv',
      '--no-hosts',
      '--bind-interfaces',
      `--listen-address=${listenAddresses.join(',')}`,
      '--local=/nx.bench/',
      '--pid-file=',
      '--cache-size=0',
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  world.defer(async () => {
    if (dnsmasq.exitCode !== null) return;
    const exited = new Promise((resolve) => dnsmasq.once('exit', resolve));
    dnsmasq.kill('SIGTERM');
    await exited;
  });
  await sleep(500);
}
