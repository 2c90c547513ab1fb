/**
 * skiff's daemon idle, just started (issue 12: "idle ≤ 55 MB RSS"), with
 * variants of how it is started compared in one run: each round starts the
 * daemon once per variant, in turn, each in a network namespace and state
 * directory of its own, and reads its RSS (VmRSS, with RssAnon and RssFile)
 * 5 s after its socket first answers (the idle collection ran at 1 s), at 15 s (V8's memory reducer has run
 * by then, ~8 s after the daemon's first collection: src/daemon/idle-gc.ts)
 * and at 40 s.
 * Interleaving keeps a busy shared machine from favouring one variant.
 * Nothing here judges a size.
 *
 *   node dist/bench/memory-idle-bench.js [--rounds 5] [--variant 'NAME=WORD …']… [--logs DIR]
 *
 * A variant's words are node options (`--optimize-for-size`) or environment
 * variables for the daemon (`MALLOC_ARENA_MAX=2`); without --variant the one
 * variant is the daemon as shipped ("shipped="). --logs keeps each daemon's
 * log (with --trace-opt, say) as DIR/NAME-ROUND.log.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startSkiff } from './daemons.js';
import { daemonVariant, rssKb, rssPartsKb, withDaemonEnv, type DaemonVariant } from './memory.js';
import { summarize } from './stats.js';
import { loopbackUp, runStandalone, scratchDir } from './world.js';

const script = fileURLToPath(import.meta.url);
const OPTIONS_ENV = 'SKIFF_MEMORY_IDLE_BENCH';
const READINGS_MS = [5_000, 15_000, 40_000];

interface IdleOptions {
  rounds: number;
  variants: DaemonVariant[];
  logDir?: string;
}

/** kB figures of one reading. */
interface Reading {
  /** Milliseconds from the daemon's spawn to its first answer (the same in every reading of one start). */
  startMs: number;
  rss: number;
  anon: number;
  file: number;
}

export interface IdleResult {
  /** Per variant, per reading time (s): the readings of every round. */
  readings: Record<string, Record<number, Reading[]>>;
}

function optionsFrom(argv: readonly string[]): IdleOptions {
  const variants: DaemonVariant[] = [];
  let rounds = 5;
  let logDir: string | undefined;
  for (let index = 0; index < argv.length; index++) {
    if (argv[index] === '--variant') variants.push(daemonVariant(argv[++index]!));
    if (argv[index] === '--rounds') rounds = Number(argv[++index]);
    if (argv[index] === '--logs') logDir = resolve(argv[++index]!);
  }
  return { rounds, variants: variants.length > 0 ? variants : [daemonVariant('shipped=')], ...(logDir === undefined ? {} : { logDir }) };
}

function reading(pid: number, startMs: number): Reading {
  return { startMs, rss: rssKb(pid), ...rssPartsKb(pid) };
}

async function measure(dir: string, variant: DaemonVariant, keptLog: string | undefined): Promise<Reading[]> {
  const spawned = performance.now();
  const daemon = await withDaemonEnv(variant, () => startSkiff({ dir, nodeArgs: variant.nodeArgs }));
  const startMs = performance.now() - spawned;
  const readings: Reading[] = [];
  let waited = 0;
  for (const atMs of READINGS_MS) {
    await sleep(atMs - waited);
    waited = atMs;
    readings.push(reading(daemon.pid, startMs));
  }
  await daemon.stop();
  if (keptLog !== undefined) copyFileSync(daemon.logPath, keptLog);
  execFileSync('umount', [daemon.netnsPath]);
  rmSync(dir, { recursive: true, force: true });
  return readings;
}

const mb = (kb: number) => (kb / 1024).toFixed(1);

async function idlePhase(options: IdleOptions): Promise<IdleResult> {
  loopbackUp();
  if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true });
  const scratch = scratchDir('skiff-bench-memory-idle-');
  const readings: IdleResult['readings'] = {};
  try {
    for (let round = 1; round <= options.rounds; round++) {
      for (const variant of options.variants) {
        const keptLog = options.logDir === undefined ? undefined : join(options.logDir, `${variant.name}-${round}.log`);
        const taken = await measure(join(scratch.path, `${variant.name}-${round}`), variant, keptLog);
        const perTime = (readings[variant.name] ??= {});
        READINGS_MS.forEach((atMs, index) => (perTime[atMs / 1000] ??= []).push(taken[index]!));
        const atTimes = taken.map((r, index) => `${mb(r.rss)} MB at ${READINGS_MS[index]! / 1000} s`).join(', ');
        console.log(`round ${round} ${variant.name}: first answer after ${taken[0]!.startMs.toFixed(0)} ms; ${atTimes}`);
      }
    }
  } finally {
    scratch.remove();
  }
  console.log('\nVmRSS MB, median (min–max) [RssAnon / RssFile medians]:');
  for (const variant of options.variants) {
    const cells = READINGS_MS.map((atMs) => {
      const taken = readings[variant.name]![atMs / 1000]!;
      const rss = summarize(taken.map((r) => r.rss));
      const anon = summarize(taken.map((r) => r.anon)).median;
      const file = summarize(taken.map((r) => r.file)).median;
      return `${atMs / 1000} s ${mb(rss.median)} (${mb(rss.min)}–${mb(rss.max)}) [${mb(anon)} / ${mb(file)}]`;
    });
    console.log(
      `  ${variant.name} (${[...variant.nodeArgs, ...Object.entries(variant.env).map(([k, v]) => `${k}=${v}`)].join(' ') || 'as shipped'}): ${cells.join('; ')}`,
    );
  }
  return { readings };
}

await runStandalone({ script, phase: 'memory-idle', timeoutMs: 60 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: idlePhase });
