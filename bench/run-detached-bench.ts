/**
 * Where skiff's daemon spends a `docker run -d` (busybox sleep on a user
 * network), paired round by round with `--network none`:
 *   node dist/bench/run-detached-bench.js [--rounds 30] [--warmup 3]
 * As root; it runs in a world of its own with skiff alone. The daemon's time
 * is the sum of the API requests it served for the call (create and start,
 * from bench/daemon-exec-log.ts); the runtime's is the shim's `run` (runc
 * create + start, until the shim reports); the network's share is the median
 * of per-round differences user network − none.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { epochMs, execBreakdown, formatBreakdown, openContainerWorld, type ExecEntry, type Side } from './container-world.js';
import { summarize, type Summary } from './stats.js';
import { runStandalone } from './world.js';

interface Options {
  rounds: number;
  warmup: number;
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

async function timedRun(side: Side, network: string): Promise<{ id: string; sample: RunSample }> {
  const start = epochMs();
  const result = await side.docker('run', '-d', '--network', network, 'busybox', 'sleep', '3600');
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

function optionsFrom(argv: readonly string[]): Options {
  const value = (flag: string, fallback: number) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? Number(argv[index + 1]) : fallback;
  };
  return { rounds: value('--rounds', 30), warmup: value('--warmup', 3) };
}

await runStandalone<Options>({
  script: fileURLToPath(import.meta.url),
  phase: 'run-detached',
  timeoutMs: 20 * 60_000,
  optionsEnv: 'SKIFF_BENCH_RUN_DETACHED',
  optionsFrom,
  run: runDetachedPhase,
});
