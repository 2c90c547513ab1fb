/**
 * skiff's embedded DNS alone, for working on it: the dns phase's setup
 * (a user network, a target and a client container, a dnsmasq upstream)
 * with skiff's daemon only, dnsperf from the client's namespace to
 * 127.0.0.11 for several rounds, and per kind the medians with min–max of
 * queries/s, p50, p99 and the daemon's CPU per answered query (µs: a count
 * of work that moves less with the machine's other load than a rate does).
 * A light-load run (-Q, a fixed rate) gives the latency a container sees
 * when the server is not saturated.
 *
 *   node dist/bench/dns-profile.js [--rounds N] [--seconds S] [--light QPS] [--only names|forwarded] [--cpu-prof DIR]
 *
 * With --cpu-prof the daemon runs under `node --cpu-prof` and writes its
 * .cpuprofile into DIR when it stops. Run as root; it re-runs itself in a
 * throwaway world, as every phase does. Nothing here judges a time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openContainerWorld, sandboxKey } from './container-world.js';
import { dnsperf, startNxUpstream, type DnsperfRun } from './dns-bench.js';
import { cpuMs } from './memory.js';
import { summarize, type Summary } from './stats.js';
import { makeNetns, runStandalone, vethBetween } from './world.js';

const script = fileURLToPath(import.meta.url);
/** The phases' script: the world's cleanup runs its engine `teardown` phase. */
const phasesScript = join(dirname(script), 'network.js');
const UPSTREAM = { daemonSide: '10.53.1.1/24', upstream: '10.53.1.2' };
const OPTIONS_ENV = 'SKIFF_DNS_PROFILE';

type QueryKind = 'names' | 'forwarded';

interface ProfileOptions {
  rounds: number;
  seconds: number;
  lightQps: number;
  kinds: QueryKind[];
  cpuProfDir?: string;
}

interface KindResult {
  qps: Summary;
  p50Ms: Summary;
  p99Ms: Summary;
  cpuUsPerQuery: Summary;
  lost: number;
  rcodes: string;
}

export interface DnsProfileResult {
  names?: KindResult;
  forwarded?: KindResult;
  light: { p50Ms: Summary; p99Ms: Summary };
}

function optionsFrom(argv: readonly string[]): ProfileOptions {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const cpuProf = value('--cpu-prof');
  return {
    rounds: Number(value('--rounds') ?? 5),
    seconds: Number(value('--seconds') ?? 5),
    lightQps: Number(value('--light') ?? 2000),
    kinds: value('--only') === undefined ? ['names', 'forwarded'] : [value('--only') as QueryKind],
    ...(cpuProf === undefined ? {} : { cpuProfDir: resolve(cpuProf) }),
  };
}

function kindResult(runs: readonly (DnsperfRun & { cpuUsPerQuery: number })[]): KindResult {
  return {
    qps: summarize(runs.map((run) => run.qps)),
    p50Ms: summarize(runs.map((run) => run.p50Ms)),
    p99Ms: summarize(runs.map((run) => run.p99Ms)),
    cpuUsPerQuery: summarize(runs.map((run) => run.cpuUsPerQuery)),
    lost: runs.reduce((total, run) => total + run.lost, 0),
    rcodes: runs[0]?.rcodes ?? '',
  };
}

async function profilePhase(options: ProfileOptions): Promise<DnsProfileResult> {
  if (options.cpuProfDir !== undefined) mkdirSync(options.cpuProfDir, { recursive: true });
  const nodeArgs = options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir];
  const world = await openContainerWorld(phasesScript, 'dns-profile', { dns: { skiff: UPSTREAM.upstream }, skiffOnly: true, skiffNodeArgs: nodeArgs });
  try {
    const { skiff, scratch } = world;
    const upstream = makeNetns(join(scratch.path, 'upstream'));
    world.defer(() => upstream.remove());
    vethBetween(skiff.daemon.netnsPath, UPSTREAM.daemonSide, upstream.path, `${UPSTREAM.upstream}/24`, 'ups');
    await startNxUpstream(world, upstream.path, [UPSTREAM.upstream], join(scratch.path, 'dnsmasq.log'));
    const files = { names: join(scratch.path, 'names.txt'), forwarded: join(scratch.path, 'forwarded.txt') };
    writeFileSync(files.names, 'target A\n');
    writeFileSync(files.forwarded, Array.from({ length: 1000 }, (_, index) => `q${index}.nx.bench A\n`).join(''));
    await skiff.docker('network', 'create', 'bench-dns');
    await skiff.docker('run', '-d', '--name', 'target', '--network', 'bench-dns', 'busybox', 'sleep', '3600');
    await skiff.docker('run', '-d', '--name', 'client', '--network', 'bench-dns', 'busybox', 'sleep', '3600');
    const client = await sandboxKey(skiff, 'client');
    const out = join(scratch.path, 'dnsperf.txt');
    const runs: Record<QueryKind, (DnsperfRun & { cpuUsPerQuery: number })[]> = { names: [], forwarded: [] };
    // One short warm-up per kind, not counted (the JIT, the asker cache).
    for (const kind of options.kinds) await dnsperf(client, '127.0.0.11', files[kind], 1, out);
    for (let round = 0; round < options.rounds; round++) {
      for (const kind of options.kinds) {
        const before = cpuMs(skiff.daemon.pid);
        const run = await dnsperf(client, '127.0.0.11', files[kind], options.seconds, out);
        const answered = run.sent - run.lost;
        const cpuUsPerQuery = ((cpuMs(skiff.daemon.pid) - before) * 1000) / Math.max(1, answered);
        runs[kind].push({ ...run, cpuUsPerQuery });
        console.log(
          `${kind} round ${round + 1}: ${run.qps.toFixed(0)} q/s, p50 ${run.p50Ms.toFixed(3)} ms, p99 ${run.p99Ms.toFixed(3)} ms, ${cpuUsPerQuery.toFixed(1)} µs CPU/query, ${run.lost} lost of ${run.sent}, ${run.rcodes}`,
        );
      }
    }
    const light: DnsperfRun[] = [];
    for (let round = 0; round < options.rounds; round++)
      light.push(await dnsperf(client, '127.0.0.11', files.names, options.seconds, out, ['-Q', String(options.lightQps)]));
    const result: DnsProfileResult = {
      ...(options.kinds.includes('names') ? { names: kindResult(runs.names) } : {}),
      ...(options.kinds.includes('forwarded') ? { forwarded: kindResult(runs.forwarded) } : {}),
      light: { p50Ms: summarize(light.map((run) => run.p50Ms)), p99Ms: summarize(light.map((run) => run.p99Ms)) },
    };
    const cell = (summary: Summary, digits: number): string =>
      `${summary.median.toFixed(digits)} (${summary.min.toFixed(digits)}–${summary.max.toFixed(digits)})`;
    for (const kind of options.kinds) {
      const entry = result[kind]!;
      console.log(
        `${kind}: ${cell(entry.qps, 0)} q/s, p50 ${cell(entry.p50Ms, 3)} ms, p99 ${cell(entry.p99Ms, 3)} ms, CPU ${cell(entry.cpuUsPerQuery, 1)} µs/query, ${entry.lost} lost`,
      );
    }
    console.log(`names at ${options.lightQps} q/s: p50 ${cell(result.light.p50Ms, 3)} ms, p99 ${cell(result.light.p99Ms, 3)} ms`);
    return result;
  } finally {
    await world.close();
  }
}

await runStandalone({ script, phase: 'dns-profile', timeoutMs: 20 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: profilePhase });
