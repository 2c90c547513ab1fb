/**
 * skiff with a crowd on one network (issue 12, item 4/5): N running
 * containers (default 1,000; a bridge holds 1,023 ports), then, with the crowd
 * running: `run -d` of one more, `run -d -p` of one more published port, `ps`,
 * `network inspect`, a lookup of a crowd member's name through the embedded
 * DNS (dig at 127.0.0.11 from a crowd member's namespace, the programs' start
 * included), the daemon's RSS and the shims' Pss per container, and a daemon
 * restart with the crowd running (SIGTERM to exit, start to the first answer,
 * the first `ps` after it). skiff alone, in a world of its own; nothing here
 * judges a number.
 *
 *   node dist/bench/scale-bench.js [--containers N] [--rounds N]
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { epochMs, execBreakdown, formatBreakdown, openContainerWorld, sandboxKey, type Side } from './container-world.js';
import { startSkiff } from './daemons.js';
import { pidsNamed, pssKb, rssKb, sum } from './memory.js';
import { describe, summarize, timed, type Summary } from './stats.js';
import { runStandalone } from './world.js';

const script = fileURLToPath(import.meta.url);
const phasesScript = join(dirname(script), 'network.js');
const OPTIONS_ENV = 'SKIFF_SCALE_BENCH';
const CONCURRENCY = 4;
const SETTLE_MS = 3_000;

interface ScaleOptions {
  containers: number;
  rounds: number;
}

export interface ScaleResult {
  containers: number;
  growSeconds: number;
  runDetached: Summary;
  runWithPort: Summary;
  ps: Summary;
  networkInspect: Summary;
  dnsLookup: Summary;
  daemonRssKb: { before: number; after: number; perContainer: number };
  shimPssKbPerContainer: number;
  restart: { stopMs: number; startToPingMs: number; firstPsMs: number };
  removeAfterRestart: Summary;
}

function optionsFrom(argv: readonly string[]): ScaleOptions {
  const value = (flag: string, fallback: number): number => {
    const index = argv.indexOf(flag);
    return index >= 0 ? Number(argv[index + 1]) : fallback;
  };
  return { containers: Math.min(value('--containers', 1000), 1000), rounds: value('--rounds', 8) };
}

async function grow(side: Side, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      await side.docker('run', '-d', '--name', `crowd-${index}`, '--network', 'scale', 'busybox', 'sleep', '36000');
      if (index % 100 === 99) console.log(`${index + 1} running`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function samples(rounds: number, call: () => Promise<unknown>): Promise<Summary> {
  const values: number[] = [];
  for (let round = 0; round < rounds; round++) values.push((await timed(call)).ms);
  return summarize(values);
}

async function scalePhase(options: ScaleOptions): Promise<ScaleResult> {
  const world = await openContainerWorld(phasesScript, 'scale', { skiffOnly: true, traceSkiff: true });
  try {
    const side = world.skiff;
    await side.docker('network', 'create', '--subnet', '10.90.0.0/16', 'scale');
    await sleep(SETTLE_MS);
    const rssBefore = rssKb(side.daemon.pid);
    const started = Date.now();
    await grow(side, options.containers);
    const growSeconds = (Date.now() - started) / 1000;
    console.log(`${options.containers} containers running on one network after ${growSeconds.toFixed(0)} s (${CONCURRENCY} at a time); with them running:`);

    const extra: string[] = [];
    const runDetached = await samples(options.rounds, async () => {
      extra.push((await side.docker('run', '-d', '--network', 'scale', 'busybox', 'sleep', '36000')).stdout.trim());
    });
    console.log(`  run -d (one more)        ${describe(runDetached)}`);
    await side.removeContainers(extra);
    let port = 30000;
    const runWithPort = await samples(options.rounds, () =>
      side.docker('run', '-d', '--name', `published-${port}`, '--network', 'scale', '-p', `${port++}:80`, 'busybox', 'sleep', '36000'),
    );
    console.log(`  run -d -p (one more)     ${describe(runWithPort)}`);
    await side.removeContainers(Array.from({ length: options.rounds }, (_, index) => `published-${30000 + index}`));
    const ps = await samples(options.rounds, () => side.docker('ps'));
    console.log(`  ps                       ${describe(ps)}`);
    const networkInspect = await samples(options.rounds, () => side.docker('network', 'inspect', 'scale'));
    console.log(`  network inspect          ${describe(networkInspect)}`);
    const asker = await sandboxKey(side, 'crowd-0');
    const dnsLookup = await samples(options.rounds * 3, () =>
      Promise.resolve(
        execFileSync('nsenter', [`--net=${asker}`, '--', 'dig', '+short', '+tries=1', '+time=2', '@127.0.0.11', `crowd-${options.containers - 1}`]),
      ),
    );
    console.log(`  DNS lookup (nsenter dig) ${describe(dnsLookup)}`);
    await sleep(SETTLE_MS);
    const rssAfter = rssKb(side.daemon.pid);
    const shims = pidsNamed('skiff-shim');
    const shimPssKbPerContainer = sum(shims.map(pssKb)) / shims.length;
    const perContainer = (rssAfter - rssBefore) / options.containers;
    console.log(
      `  daemon RSS ${(rssBefore / 1024).toFixed(1)} → ${(rssAfter / 1024).toFixed(1)} MB: ${perContainer.toFixed(1)} kB per container; shim Pss ${shimPssKbPerContainer.toFixed(0)} kB each`,
    );

    const stopMs = (await timed(() => side.daemon.stop())).ms;
    const restartAt = epochMs();
    const restarted = await timed(() =>
      startSkiff({
        dir: join(world.scratch.path, 'skiff'),
        netnsPath: side.daemon.netnsPath,
        execLogPath: join(world.scratch.path, 'skiff-execs.jsonl'),
        startBoundMs: 20 * 60_000,
      }),
    );
    side.daemon = restarted.value;
    const restartExecs = execBreakdown([side.execsBetween?.(restartAt, epochMs()) ?? []]);
    const firstPsMs = (await timed(() => side.docker('ps'))).ms;
    const running = (await side.docker('ps', '-q')).stdout.split('\n').filter(Boolean).length;
    console.log(
      `  restart: SIGTERM to exit ${stopMs.toFixed(0)} ms, start to first answer ${restarted.ms.toFixed(0)} ms, first ps ${firstPsMs.toFixed(0)} ms; ${running} running after it`,
    );
    console.log(`  restart's programs: ${formatBreakdown(restartExecs)}`);
    let removed = 0;
    const removeAfterRestart = await samples(options.rounds, () => side.docker('rm', '-f', `crowd-${removed++}`));
    console.log(`  rm -f of a running one after the restart ${describe(removeAfterRestart)}`);
    const result: ScaleResult = {
      containers: options.containers,
      growSeconds,
      runDetached,
      runWithPort,
      ps,
      networkInspect,
      dnsLookup,
      daemonRssKb: { before: rssBefore, after: rssAfter, perContainer },
      shimPssKbPerContainer,
      restart: { stopMs, startToPingMs: restarted.ms, firstPsMs },
      removeAfterRestart,
    };
    return result;
  } finally {
    await world.close();
  }
}

await runStandalone({ script, phase: 'scale', timeoutMs: 60 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: scalePhase });
