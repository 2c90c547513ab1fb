/**
 * Phase "dns": the embedded DNS server of skiff and of dockerd, asked at
 * 127.0.0.11 from inside a container's network namespace by dnsperf (run
 * with nsenter, bounded by -l), for
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
import { cpuMs, rssKb } from './memory.js';
import { ratio, summarize, type Summary } from './stats.js';
import { makeNetns, vethBetween } from './world.js';

export const DNS_ROUNDS = 2;
export const DNSPERF_SECONDS = 10;
const NAMES_CONTAINERS = 10;
const ALIASES_EACH = 100;
const SETTLE_MS = 3000;
const UPSTREAM: Record<Side['daemon']['name'], { daemonSide: string; upstream: string }> = {
  skiff: { daemonSide: '10.53.1.1/24', upstream: '10.53.1.2' },
  dockerd: { daemonSide: '10.53.2.1/24', upstream: '10.53.2.2' },
};

export type QueryKind = 'names' | 'forwarded';

export interface DnsperfRun { qps: number; daemonCpu?: number; sent: number; lost: number; p50Ms: number; p99Ms: number; rcodes: string }

export interface DnsKindResult { qps: Summary; daemonCpu: Summary; p50Ms: Summary; p99Ms: Summary; lost: number; rcodes: string }

export interface DnsResult {
  dockerdSkipped?: string;
  runs: Record<QueryKind, PerDaemon<DnsKindResult>>;
  /** names again, with 1,000 aliases on the network (one run each). */
  namesCrowded: PerDaemon<DnsperfRun>;
  /** Daemon RSS: 10 containers without aliases, then 10 with 100 aliases each. */
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

function dnsperf(netns: string, queryFile: string, seconds: number, outFile: string): Promise<DnsperfRun> {
  return new Promise((resolve, reject) => {
    const out = openSync(outFile, 'w');
    const child = spawn('nsenter', [`--net=${netns}`, '--', 'dnsperf', '-s', '127.0.0.11', '-d', queryFile, '-l', String(seconds), '-v'], { stdio: ['ignore', out, 'pipe'] });
    closeSync(out);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) { reject(new Error(`dnsperf exited ${code}: ${stderr}`)); return; }
      resolve(parseDnsperf(readFileSync(outFile, 'utf8')));
    });
  });
}

/** Daemon RSS after a settle; for dockerd, dockerd alone (its resolver lives there). */
async function daemonRss(side: Side): Promise<number> {
  await sleep(SETTLE_MS);
  return rssKb(side.daemon.pid);
}

export async function dnsPhase(script: string): Promise<DnsResult> {
  const world = await openContainerWorld(script, 'dns', { dns: { skiff: UPSTREAM.skiff.upstream, dockerd: UPSTREAM.dockerd.upstream } });
  const leftovers: string[] = [];
  try {
    const { sides, scratch } = world;
    // The upstream: dnsmasq in a namespace of its own, one veth to each daemon's namespace.
    const upstream = makeNetns(join(scratch.path, 'upstream'));
    world.defer(() => upstream.remove());
    for (const side of sides) {
      const link = UPSTREAM[side.daemon.name];
      vethBetween(side.daemon.netnsPath, link.daemonSide, upstream.path, `${link.upstream}/24`, side.daemon.name === 'skiff' ? 'ups' : 'upd');
    }
    const dnsmasqLog = openSync(join(scratch.path, 'dnsmasq.log'), 'w');
    const dnsmasq = spawn('nsenter', [`--net=${upstream.path}`, '--', 'dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', '--bind-interfaces',
      `--listen-address=${sides.map((side) => UPSTREAM[side.daemon.name].upstream).join(',')}`, '--local=/nx.bench/', '--pid-file=', '--cache-size=0'],
    { stdio: ['ignore', dnsmasqLog, dnsmasqLog] });
    closeSync(dnsmasqLog);
    world.defer(async () => {
      if (dnsmasq.exitCode !== null) return;
      const exited = new Promise((resolve) => dnsmasq.once('exit', resolve));
      dnsmasq.kill('SIGTERM');
      await exited;
    });
    await sleep(500);

    const namesFile = join(scratch.path, 'names.txt');
    writeFileSync(namesFile, 'target A\n');
    const forwardedFile = join(scratch.path, 'forwarded.txt');
    writeFileSync(forwardedFile, Array.from({ length: 1000 }, (_, index) => `q${index}.nx.bench A\n`).join(''));
    const files: Record<QueryKind, string> = { names: namesFile, forwarded: forwardedFile };

    const clients: Record<string, string> = {};
    for (const side of sides) {
      await side.docker('network', 'create', 'bench-dns');
      await side.docker('run', '-d', '--name', 'target', '--network', 'bench-dns', 'busybox', 'sleep', '3600');
      await side.docker('run', '-d', '--name', 'client', '--network', 'bench-dns', 'busybox', 'sleep', '3600');
      clients[side.daemon.name] = await sandboxKey(side, 'client');
      // One query of each kind first, so a broken path shows as such and not as a rate.
      for (const kind of ['names', 'forwarded'] as const) {
        const check = await dnsperf(clients[side.daemon.name]!, files[kind], 1, join(scratch.path, 'check.txt'));
        console.log(`${side.daemon.name} ${kind}: 1 s check: ${check.rcodes || 'no response codes'} (${check.lost} lost of ${check.sent})`);
      }
    }

    const perRun: Record<QueryKind, Record<string, DnsperfRun[]>> = { names: {}, forwarded: {} };
    for (let round = 0; round < DNS_ROUNDS; round++) {
      for (const kind of ['names', 'forwarded'] as const) {
        for (const side of sides) {
          const cpuBefore = cpuMs(side.daemon.pid);
          const run = await dnsperf(clients[side.daemon.name]!, files[kind], DNSPERF_SECONDS, join(scratch.path, 'dnsperf.txt'));
          // The daemon's CPU over the run, in cores (1.0 = one core busy all the time).
          run.daemonCpu = (cpuMs(side.daemon.pid) - cpuBefore) / (DNSPERF_SECONDS * 1000);
          (perRun[kind][side.daemon.name] ??= []).push(run);
          console.log(`${side.daemon.name} ${kind} round ${round + 1}: ${run.qps.toFixed(0)} q/s, p50 ${run.p50Ms.toFixed(3)} ms, p99 ${run.p99Ms.toFixed(3)} ms, ${run.lost} lost of ${run.sent}, ${run.rcodes}, daemon CPU ${run.daemonCpu.toFixed(2)} cores`);
        }
      }
    }
    const runs = Object.fromEntries((['names', 'forwarded'] as const).map((kind) => [kind, Object.fromEntries(Object.entries(perRun[kind]).map(([name, list]) => [name, {
      qps: summarize(list.map((run) => run.qps)), daemonCpu: summarize(list.map((run) => run.daemonCpu ?? NaN)), p50Ms: summarize(list.map((run) => run.p50Ms)), p99Ms: summarize(list.map((run) => run.p99Ms)),
      lost: list.reduce((total, run) => total + run.lost, 0), rcodes: list[0]?.rcodes ?? '',
    }]))])) as DnsResult['runs'];

    // Memory of names: 10 containers without aliases, then 10 with 100 aliases each (1,000 names).
    const aliasMemory: DnsResult['aliasMemory'] = {};
    const namesCrowded: DnsResult['namesCrowded'] = {};
    for (const side of sides) {
      for (let index = 0; index < NAMES_CONTAINERS; index++) await side.docker('run', '-d', '--name', `plain-${index}`, '--network', 'bench-dns', 'busybox', 'sleep', '3600');
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
      const check = await dnsperf(clients[side.daemon.name]!, aliasFile, 1, join(scratch.path, 'check.txt'));
      namesCrowded[side.daemon.name] = await dnsperf(clients[side.daemon.name]!, namesFile, DNSPERF_SECONDS, join(scratch.path, 'dnsperf.txt'));
      console.log(`${side.daemon.name}: daemon RSS ${(plainKb / 1024).toFixed(1)} MB with ${NAMES_CONTAINERS} plain containers, ${(aliasedKb / 1024).toFixed(1)} MB with ${NAMES_CONTAINERS} × ${ALIASES_EACH} aliases; ` +
        `an alias: ${check.sent - check.lost} of ${check.sent} answered, ${check.rcodes || 'no response codes'}; names with 1,000 aliases on the network: ${namesCrowded[side.daemon.name]!.qps.toFixed(0)} q/s, p99 ${namesCrowded[side.daemon.name]!.p99Ms.toFixed(3)} ms`);
    }

    const recordsScript = join(dirname(fileURLToPath(import.meta.url)), 'dns-records-memory.js');
    const records = JSON.parse(await new Promise<string>((resolve, reject) => execFile(process.execPath, ['--expose-gc', recordsScript, '1000'], { encoding: 'utf8' }, (error, stdout) => (error === null ? resolve(stdout) : reject(new Error(error.message)))))) as DnsResult['records'];
    const result: DnsResult = { dockerdSkipped: world.dockerdSkipped, runs, namesCrowded, aliasMemory, records, leftovers };
    printDnsResult(result);
    return result;
  } finally {
    leftovers.push(...(await world.close()));
  }
}

export function printDnsResult(result: DnsResult): void {
  for (const kind of ['names', 'forwarded'] as const) {
    const { skiff, dockerd } = result.runs[kind];
    const cell = (entry: DnsKindResult | undefined) => entry === undefined ? '-' : `${entry.qps.median.toFixed(0)} q/s (${entry.qps.min.toFixed(0)}–${entry.qps.max.toFixed(0)}), p50 ${entry.p50Ms.median.toFixed(3)} ms, p99 ${entry.p99Ms.median.toFixed(3)} ms, ${entry.lost} lost, daemon CPU ${entry.daemonCpu.median.toFixed(2)} cores`;
    console.log(`${kind.padEnd(10)} skiff ${cell(skiff)}   dockerd ${cell(dockerd)}   rate skiff/dockerd ${ratio(skiff?.qps.median ?? NaN, dockerd?.qps.median ?? NaN)}`);
  }
  for (const [name, memory] of Object.entries(result.aliasMemory)) console.log(`${name}: ${memory.bytesPerName.toFixed(0)} bytes of daemon RSS per alias (1,000 aliases)`);
  console.log(`DnsRecords (library): ${result.records.bytesPerName.toFixed(0)} bytes per name, ${result.records.bytesPerNameWithAskers.toFixed(0)} with every asker cached; ${(result.records.totalBytes / 1024).toFixed(0)} KB for ${result.records.count} names`);
}
