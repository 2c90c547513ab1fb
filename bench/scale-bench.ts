/**
 * skiff with a crowd on one network (issue 12, item 4/5): the crowd grows in
 * levels (default 10, 250, 500, 1,000; a bridge holds 1,023 ports) and, at
 * each level: `run -d` of one more and `rm -f` of it, `run -d -p` of one
 * more published port, `ps`, `network inspect`, a lookup of a crowd member's
 * name through the embedded DNS (dig at 127.0.0.11 from a crowd member's
 * namespace, the programs' start included) and the daemon's RSS per
 * container. Each docker call is split into the daemon's part (its API
 * requests, from the daemon's own request log) and the rest (the CLI, the
 * socket); `run -d` and `rm -f` also list the programs the daemon ran. At
 * the last level: the shims' Pss and a daemon restart with the crowd running
 * (SIGTERM to exit, start to the first answer, the first `ps` after it).
 * skiff alone, in a world of its own; nothing here judges a number.
 *
 *   node dist/bench/scale-bench.js [--levels 10,250,500,1000] [--rounds N] [--cpu-prof DIR]
 */
import { mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { epochMs, execBreakdown, formatBreakdown, openContainerWorld, sandboxKey, type ExecEntry, type Side } from './container-world.js';
import { startSkiff } from './daemons.js';
import { pidsNamed, pssKb, rssKb, sum } from './memory.js';
import { describe, ms, summarize, timed, type Summary } from './stats.js';
import { runStandalone } from './world.js';

const script = fileURLToPath(import.meta.url);
const phasesScript = join(dirname(script), 'network.js');
const OPTIONS_ENV = 'SKIFF_SCALE_BENCH';
const CONCURRENCY = 4;
const SETTLE_MS = 3_000;
const MAX_CONTAINERS = 1000;

interface ScaleOptions {
  levels: number[];
  rounds: number;
  cpuProfDir?: string;
}

/** One docker call's time, and the part of it the daemon spent serving its API requests. */
export interface SplitSummary {
  total: Summary;
  daemon: Summary;
}

export interface LevelResult {
  containers: number;
  growSeconds: number;
  runDetached: SplitSummary;
  runDetachedPrograms: string;
  removeDetached: SplitSummary;
  removeDetachedPrograms: string;
  runWithPort: SplitSummary;
  ps: SplitSummary;
  networkInspect: SplitSummary;
  dnsLookup: Summary;
  daemonRssKb: number;
  daemonRssKbPerContainer: number;
}

export interface ScaleResult {
  levels: LevelResult[];
  shimPssKbPerContainer: number;
  restart: { containers: number; stopMs: number; startToPingMs: number; firstPsMs: number };
  removeAfterRestart: Summary;
}

function optionsFrom(argv: readonly string[]): ScaleOptions {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const levels = (value('--levels') ?? value('--containers') ?? '10,250,500,1000')
    .split(',')
    .map(Number)
    .map((level) => Math.min(level, MAX_CONTAINERS))
    .sort((a, b) => a - b);
  return { levels, rounds: Number(value('--rounds') ?? 8), cpuProfDir: value('--cpu-prof') };
}

async function grow(side: Side, from: number, to: number): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const index = next++;
      await side.docker('run', '-d', '--name', `crowd-${index}`, '--network', 'scale', 'busybox', 'sleep', '36000');
      if (index % 100 === 99) console.log(`${index + 1} running`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const isApi = (entry: ExecEntry): boolean => entry.label.startsWith('api ');

/** Times rounds of call; the daemon's part is the sum of its API requests' times within each round. */
async function splitSamples(side: Side, rounds: number, call: () => Promise<unknown>): Promise<SplitSummary & { programs: ExecEntry[][] }> {
  const totals: number[] = [];
  const daemon: number[] = [];
  const programs: ExecEntry[][] = [];
  for (let round = 0; round < rounds; round++) {
    const start = epochMs();
    totals.push((await timed(call)).ms);
    const entries = side.execsBetween?.(start, epochMs()) ?? [];
    daemon.push(sum(entries.filter(isApi).map((entry) => entry.ms)));
    programs.push(entries.filter((entry) => !isApi(entry)));
  }
  return { total: summarize(totals), daemon: summarize(daemon), programs };
}

function describeSplit(split: SplitSummary): string {
  return `${describe(split.total)}; daemon ${ms(split.daemon.median)} ms (${ms(split.daemon.min)}–${ms(split.daemon.max)})`;
}

async function measureLevel(side: Side, containers: number, growSeconds: number, rssBefore: number, rounds: number): Promise<LevelResult> {
  console.log(`${containers} containers running on one network (grown ${growSeconds.toFixed(0)} s, ${CONCURRENCY} at a time); with them running:`);
  const extra: string[] = [];
  const runDetached = await splitSamples(side, rounds, async () => {
    extra.push((await side.docker('run', '-d', '--network', 'scale', 'busybox', 'sleep', '36000')).stdout.trim());
  });
  const runDetachedPrograms = formatBreakdown(execBreakdown(runDetached.programs));
  console.log(`  run -d (one more)        ${describeSplit(runDetached)}`);
  console.log(`    its programs: ${runDetachedPrograms}`);
  const removeDetached = await splitSamples(side, rounds, () => side.docker('rm', '-f', extra.pop() ?? ''));
  const removeDetachedPrograms = formatBreakdown(execBreakdown(removeDetached.programs));
  console.log(`  rm -f (that one)         ${describeSplit(removeDetached)}`);
  console.log(`    its programs: ${removeDetachedPrograms}`);
  let port = 30000;
  const runWithPort = await splitSamples(side, rounds, () =>
    side.docker('run', '-d', '--name', `published-${port}`, '--network', 'scale', '-p', `${port++}:80`, 'busybox', 'sleep', '36000'),
  );
  console.log(`  run -d -p (one more)     ${describeSplit(runWithPort)}`);
  await side.removeContainers(Array.from({ length: rounds }, (_, index) => `published-${30000 + index}`));
  const ps = await splitSamples(side, rounds, () => side.docker('ps'));
  console.log(`  ps                       ${describeSplit(ps)}`);
  const networkInspect = await splitSamples(side, rounds, () => side.docker('network', 'inspect', 'scale'));
  console.log(`  network inspect          ${describeSplit(networkInspect)}`);
  const asker = await sandboxKey(side, 'crowd-0');
  const dnsValues: number[] = [];
  for (let round = 0; round < rounds * 3; round++) {
    const args = [`--net=${asker}`, '--', 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.11', `crowd-${containers - 1}`];
    dnsValues.push((await timed(() => Promise.resolve(execFileSync('nsenter', args)))).ms);
  }
  const dnsLookup = summarize(dnsValues);
  console.log(`  DNS lookup (nsenter dig) ${describe(dnsLookup)}`);
  await sleep(SETTLE_MS);
  const daemonRssKb = rssKb(side.daemon.pid);
  const daemonRssKbPerContainer = (daemonRssKb - rssBefore) / containers;
  console.log(`  daemon RSS ${(rssBefore / 1024).toFixed(1)} → ${(daemonRssKb / 1024).toFixed(1)} MB: ${daemonRssKbPerContainer.toFixed(1)} kB per container`);
  const split = ({ total, daemon }: SplitSummary): SplitSummary => ({ total, daemon });
  return {
    containers,
    growSeconds,
    runDetached: split(runDetached),
    runDetachedPrograms,
    removeDetached: split(removeDetached),
    removeDetachedPrograms,
    runWithPort: split(runWithPort),
    ps: split(ps),
    networkInspect: split(networkInspect),
    dnsLookup,
    daemonRssKb,
    daemonRssKbPerContainer,
  };
}

async function scalePhase(options: ScaleOptions): Promise<ScaleResult> {
  if (options.cpuProfDir !== undefined) mkdirSync(options.cpuProfDir, { recursive: true });
  const nodeArgs = options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir];
  const world = await openContainerWorld(phasesScript, 'scale', { skiffOnly: true, traceSkiff: true, skiffNodeArgs: nodeArgs });
  try {
    const side = world.skiff;
    await side.docker('network', 'create', '--subnet', '10.90.0.0/16', 'scale');
    await sleep(SETTLE_MS);
    const rssBefore = rssKb(side.daemon.pid);
    const levels: LevelResult[] = [];
    let running = 0;
    for (const level of options.levels) {
      const started = Date.now();
      await grow(side, running, level);
      running = level;
      levels.push(await measureLevel(side, level, (Date.now() - started) / 1000, rssBefore, options.rounds));
    }
    const shims = pidsNamed('skiff-shim');
    const shimPssKbPerContainer = sum(shims.map(pssKb)) / shims.length;
    console.log(`  shim Pss ${shimPssKbPerContainer.toFixed(0)} kB each`);

    const stopMs = (await timed(() => side.daemon.stop())).ms;
    const restartAt = epochMs();
    const restarted = await timed(() =>
      startSkiff({
        dir: join(world.scratch.path, 'skiff'),
        netnsPath: side.daemon.netnsPath,
        execLogPath: join(world.scratch.path, 'skiff-execs.jsonl'),
        nodeArgs,
        startBoundMs: 20 * 60_000,
      }),
    );
    side.daemon = restarted.value;
    const restartExecs = execBreakdown([side.execsBetween?.(restartAt, epochMs()) ?? []]);
    const firstPsMs = (await timed(() => side.docker('ps'))).ms;
    const afterRestart = (await side.docker('ps', '-q')).stdout.split('\n').filter(Boolean).length;
    console.log(
      `  restart: SIGTERM to exit ${stopMs.toFixed(0)} ms, start to first answer ${restarted.ms.toFixed(0)} ms, first ps ${firstPsMs.toFixed(0)} ms; ${afterRestart} running after it`,
    );
    console.log(`  restart's programs: ${formatBreakdown(restartExecs)}`);
    let removed = 0;
    const removals: number[] = [];
    for (let round = 0; round < options.rounds; round++) removals.push((await timed(() => side.docker('rm', '-f', `crowd-${removed++}`))).ms);
    const removeAfterRestart = summarize(removals);
    console.log(`  rm -f of a running one after the restart ${describe(removeAfterRestart)}`);
    return {
      levels,
      shimPssKbPerContainer,
      restart: { containers: running, stopMs, startToPingMs: restarted.ms, firstPsMs },
      removeAfterRestart,
    };
  } finally {
    await world.close();
  }
}

await runStandalone({ script, phase: 'scale', timeoutMs: 90 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: scalePhase });
