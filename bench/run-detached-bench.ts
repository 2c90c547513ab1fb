/**
 * Where skiff's daemon spends a `docker run -d` (busybox sleep on a user
 * network), paired round by round with `--network none`:
 *   node dist/bench/run-detached-bench.js [--rounds 30] [--warmup 3]
 * or, with --runtimes runc,crun, the same run -d on the user network under
 * each OCI runtime in turn (`docker run --runtime`; the order alternates
 * round by round), with the `docker rm -f` of each container timed too.
 * As root; it runs in a world of its own with skiff alone. The daemon's time
 * is the sum of the API requests it served for the call (create and start,
 * from bench/daemon-exec-log.ts); the runtime's is the shim's `run` (runc
 * create + start, until the shim reports); the network's share is the median
 * of per-round differences user network − none.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { epochMs, execBreakdown, formatBreakdown, openContainerWorld, type ExecEntry, type Side } from './container-world.js';
import { ms, summarize, type Summary } from './stats.js';
import { runStandalone } from './world.js';

interface Options {
  rounds: number;
  warmup: number;
  /** Compare these OCI runtimes (--runtimes runc,crun) instead of user network against none. */
  runtimes: string[];
}

interface RunSample {
  cliMs: number;
  daemonMs: number;
  runtimeMs: number;
  execs: ExecEntry[];
}

export interface RunDetachedResult {
  rounds: number;
  userNet: { cli: Summary; daemon: Summary; runtime: Summary; breakdown: string };
  none: { cli: Summary; daemon: Summary; runtime: Summary; breakdown: string };
  /** Median of per-round differences of the daemon's time, user network − none. */
  networkShareMs: number;
  leftovers: string[];
}

const sumOf = (entries: readonly ExecEntry[], pick: (label: string) => boolean) =>
  entries.filter((entry) => pick(entry.label)).reduce((total, entry) => total + entry.ms, 0);

async function timedRun(side: Side, network: string, runtime?: string): Promise<{ id: string; sample: RunSample }> {
  const start = epochMs();
  const result = await side.docker('run', '-d', ...(runtime === undefined ? [] : ['--runtime', runtime]), '--network', network, 'busybox', 'sleep', '3600');
  const end = epochMs();
  // The log line of a request is written when its answer is sent: give the last one a moment.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const execs = side.execsBetween!(start, end);
  return {
    id: result.stdout.trim(),
    sample: {
      cliMs: result.ms,
      daemonMs: sumOf(execs, (label) => label.startsWith('api POST /containers')),
      runtimeMs: sumOf(execs, (label) => label === 'skiff-shim'),
      execs,
    },
  };
}

function summaryOf(samples: readonly RunSample[]): RunDetachedResult['userNet'] {
  return {
    cli: summarize(samples.map((sample) => sample.cliMs)),
    daemon: summarize(samples.map((sample) => sample.daemonMs)),
    runtime: summarize(samples.map((sample) => sample.runtimeMs)),
    breakdown: formatBreakdown(execBreakdown(samples.map((sample) => sample.execs.filter((entry) => !entry.label.startsWith('api HEAD'))))),
  };
}

async function runDetachedPhase(options: Options): Promise<RunDetachedResult> {
  const world = await openContainerWorld(join(dirname(fileURLToPath(import.meta.url)), 'network.js'), 'run-detached', { traceSkiff: true, skiffOnly: true });
  const user: RunSample[] = [];
  const none: RunSample[] = [];
  try {
    const side = world.skiff;
    await side.docker('network', 'create', 'bench-a');
    await side.docker('run', '-d', '--name', 'probe', '--network', 'bench-a', 'busybox', 'sleep', '3600');
    for (let round = 0; round < options.warmup + options.rounds; round++) {
      const onUser = await timedRun(side, 'bench-a');
      const onNone = await timedRun(side, 'none');
      if (round >= options.warmup) {
        user.push(onUser.sample);
        none.push(onNone.sample);
      }
      await side.docker('rm', '-f', onUser.id, onNone.id);
    }
  } finally {
    const leftovers = await world.close();
    if (leftovers.length > 0) console.log(`leftovers: ${leftovers.join(', ')}`);
  }
  const result: RunDetachedResult = {
    rounds: user.length,
    userNet: summaryOf(user),
    none: summaryOf(none),
    networkShareMs: summarize(user.map((sample, index) => sample.daemonMs - none[index]!.daemonMs)).median,
    leftovers: [],
  };
  const line = (name: string, part: RunDetachedResult['userNet']) =>
    console.log(
      `${name}: CLI ${part.cli.median.toFixed(1)} ms, daemon ${part.daemon.median.toFixed(1)} ms (min ${part.daemon.min.toFixed(1)}, max ${part.daemon.max.toFixed(1)}), runtime ${part.runtime.median.toFixed(1)} ms\n  ${part.breakdown}`,
    );
  line('run -d --network bench-a', result.userNet);
  line('run -d --network none', result.none);
  console.log(`network share (daemon, paired median): ${result.networkShareMs.toFixed(1)} ms over ${result.rounds} rounds`);
  return result;
}

export interface RuntimesResult {
  rounds: number;
  byRuntime: Record<string, { cli: Summary; daemon: Summary; runtime: Summary; rm: Summary; breakdown: string }>;
  /** Per-round ratios of each runtime to the first one's (CLI and daemon time of run -d). */
  ratios: Record<string, { cli: Summary; daemon: Summary }>;
}

const range = (summary: Summary) => `${ms(summary.median)} ms (${ms(summary.min)}–${ms(summary.max)})`;
const ratioRange = (summary: Summary) => `${summary.median.toFixed(2)}x (${summary.min.toFixed(2)}–${summary.max.toFixed(2)})`;

async function runtimesPhase(options: Options): Promise<RuntimesResult> {
  const world = await openContainerWorld(join(dirname(fileURLToPath(import.meta.url)), 'network.js'), 'run-detached', { traceSkiff: true, skiffOnly: true });
  const samples = new Map(options.runtimes.map((runtime) => [runtime, { runs: [] as RunSample[], rm: [] as number[] }]));
  try {
    const side = world.skiff;
    await side.docker('network', 'create', 'bench-a');
    await side.docker('run', '-d', '--name', 'probe', '--network', 'bench-a', 'busybox', 'sleep', '3600');
    for (let round = 0; round < options.warmup + options.rounds; round++) {
      const order = round % 2 === 0 ? options.runtimes : [...options.runtimes].reverse();
      const started: Array<{ runtime: string; id: string; sample: RunSample }> = [];
      for (const runtime of order) started.push({ runtime, ...(await timedRun(side, 'bench-a', runtime)) });
      for (const { runtime, id, sample } of started) {
        const removed = await side.docker('rm', '-f', id);
        if (round < options.warmup) continue;
        samples.get(runtime)!.runs.push(sample);
        samples.get(runtime)!.rm.push(removed.ms);
      }
    }
  } finally {
    const leftovers = await world.close();
    if (leftovers.length > 0) console.log(`leftovers: ${leftovers.join(', ')}`);
  }
  const [first] = options.runtimes;
  const base = samples.get(first!)!.runs;
  const result: RuntimesResult = { rounds: base.length, byRuntime: {}, ratios: {} };
  for (const [runtime, { runs, rm }] of samples) {
    result.byRuntime[runtime] = { ...summaryOf(runs), rm: summarize(rm) };
    result.ratios[runtime] = {
      cli: summarize(runs.map((sample, index) => sample.cliMs / base[index]!.cliMs)),
      daemon: summarize(runs.map((sample, index) => sample.daemonMs / base[index]!.daemonMs)),
    };
    const part = result.byRuntime[runtime];
    console.log(
      `run -d --runtime ${runtime} (median, min–max over ${runs.length} rounds): CLI ${range(part.cli)}, daemon ${range(part.daemon)}, shim ${range(part.runtime)}; rm -f ${range(part.rm)}\n  ${part.breakdown}`,
    );
  }
  for (const runtime of options.runtimes.slice(1))
    console.log(`${runtime}/${first} per round: CLI ${ratioRange(result.ratios[runtime]!.cli)}, daemon ${ratioRange(result.ratios[runtime]!.daemon)}`);
  return result;
}

function optionsFrom(argv: readonly string[]): Options {
  const value = (flag: string, fallback: number) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? Number(argv[index + 1]) : fallback;
  };
  const runtimes = argv.indexOf('--runtimes');
  return { rounds: value('--rounds', 30), warmup: value('--warmup', 3), runtimes: runtimes >= 0 ? argv[runtimes + 1]!.split(',') : [] };
}

await runStandalone<Options>({
  script: fileURLToPath(import.meta.url),
  phase: 'run-detached',
  timeoutMs: 20 * 60_000,
  optionsEnv: 'SKIFF_BENCH_RUN_DETACHED',
  optionsFrom,
  run: (options) => (options.runtimes.length > 0 ? runtimesPhase(options) : runDetachedPhase(options)),
});
