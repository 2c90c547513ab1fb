/**
 * Phase "containers": real containers through the docker CLI against skiff
 * and dockerd, alternating daemons in every round.
 *   - `run -d` on a user network against `run -d --network none` (the network's share of start)
 *   - `network connect` / `disconnect` on a running container
 *   - a crowd of `sleep 3600` containers grown level by level (bench/size.ts),
 *     one daemon at a time; at each level `run -d`, `ps` and `network inspect`
 *     are timed and the memory is read: the daemon's (and containerd's, or
 *     aardvark-dns's) RSS plus every shim's (containerd-shim's, conmon's) Pss
 *   - memory per running container: that growth divided by the crowd
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { renderResolverRedirect } from '../src/firewall/resolver-redirect.js';
import { measureConnectRoutes, printConnectRoutes, type ConnectRoutesResult } from './connect-routes.js';
import { makeNetns } from './world.js';
import { epochMs, execBreakdown, openContainerWorld, Samples, timedDocker, type ExecBreakdown, type PerDaemon, type Side } from './container-world.js';
import { pidsNamed, pssKb, rssKb, sum } from './memory.js';
import { benchSize } from './size.js';
import { describe, ms, sidesLine, summarize, type Summary } from './stats.js';

/** The crowd's levels (bench/size.ts); SKIFF_BENCH_CROWD, when set, is the only level (every daemon; at most 300). */
function crowdLevels(): readonly number[] {
  const override = process.env['SKIFF_BENCH_CROWD'];
  return override === undefined ? benchSize().containers.crowdLevels : [Math.min(Number(override), 300)];
}
const CROWD_CONCURRENCY = 4;
const CROWD_BOUND_MS = 6 * 60_000;

export interface Footprint {
  daemonKb: number;
  shimsKb: number;
  shims: number;
}

/** One level of the crowd: what was timed and read with `containers` running. */
export interface CrowdLevel {
  containers: number;
  runDetached: Summary;
  ps: Summary;
  networkInspect: Summary;
  footprint: Footprint;
}

export interface CrowdResult {
  containers: number;
  /** Wall time to start the whole crowd, CROWD_CONCURRENCY at a time. */
  startAllMs: number;
  before: Footprint;
  after: Footprint;
  perContainerKb: number;
  daemonPerContainerKb: number;
  shimPerContainerKb: number;
  levels: CrowdLevel[];
}

export interface ContainersResult {
  cli: string;
  cliVersion: string;
  dockerdVersion?: string;
  dockerdSkipped?: string;
  podmanVersion?: string;
  podmanSkipped?: string;
  runUserNet: PerDaemon<Summary>;
  runNone: PerDaemon<Summary>;
  /** Median of per-round differences user network − none. */
  networkShare: PerDaemon<number>;
  connect: PerDaemon<Summary>;
  disconnect: PerDaemon<Summary>;
  /** The daemon's own time for connect, disconnect and rm -f of a running container (raw API calls, no CLI). */
  apiRoutes?: ConnectRoutesResult;
  runCrowded: PerDaemon<Summary>;
  crowd: PerDaemon<CrowdResult>;
  /** Bare programs in a fresh namespace (no skiff): what the DNS redirect's programs cost by themselves. */
  redirectControl: Record<string, Summary>;
  skiffExecs: { runUserNet: ExecBreakdown[]; runNone: ExecBreakdown[]; connect: ExecBreakdown[]; disconnect: ExecBreakdown[]; runCrowded: ExecBreakdown[] };
  leftovers: string[];
}

/**
 * The daemon side's memory: skiff = daemon RSS + Σ skiff-shim Pss; dockerd =
 * dockerd + containerd RSS + Σ containerd-shim Pss; podman = the API service
 * + aardvark-dns RSS + Σ conmon Pss.
 */
function footprint(side: Side): Footprint {
  if (side.daemon.name === 'skiff') {
    const shims = pidsNamed('skiff-shim');
    return { daemonKb: rssKb(side.daemon.pid), shimsKb: sum(shims.map(pssKb)), shims: shims.length };
  }
  if (side.daemon.name === 'podman') {
    const shims = pidsNamed('conmon');
    return { daemonKb: rssKb(side.daemon.pid) + sum(pidsNamed('aardvark-dns').map(rssKb)), shimsKb: sum(shims.map(pssKb)), shims: shims.length };
  }
  // containerd-shim-runc-v2, cut to 15 characters in comm.
  const shims = pidsNamed('containerd-shim');
  return { daemonKb: rssKb(side.daemon.pid) + sum(pidsNamed('containerd').map(rssKb)), shimsKb: sum(shims.map(pssKb)), shims: shims.length };
}

/** Starts crowd-FROM … crowd-(TO−1), CROWD_CONCURRENCY at a time; returns how many started. */
async function startCrowd(side: Side, from: number, to: number, deadline: number): Promise<number> {
  let next = from;
  let started = 0;
  const worker = async () => {
    while (next < to && Date.now() < deadline) {
      const index = next++;
      await side.docker('run', '-d', '--name', `crowd-${index}`, '--network', 'bench-a', 'busybox', 'sleep', '3600');
      started++;
    }
  };
  await Promise.all(Array.from({ length: CROWD_CONCURRENCY }, worker));
  return started;
}

const CONTROL_ROUNDS = 12;

/**
 * The program skiff ran for the 127.0.0.11 redirect when a container first
 * joined a user network (it now sends the same transaction as nf_tables
 * messages itself: resolver-redirect-bench.ts compares the two), run bare in
 * fresh namespaces: the nft script, and `nsenter true` as the floor.
 */
function redirectControl(dir: string): Record<string, Summary> {
  const script = renderResolverRedirect({ udp: 40001, tcp: 40002 });
  const nft = (netns: string) => execFileSync('nsenter', [`--net=${netns}`, '--', 'nft', '-f', '-'], { input: script });
  const cases: Record<string, (netns: string) => void> = {
    'nsenter true (floor)': (netns) => execFileSync('nsenter', [`--net=${netns}`, '--', 'true']),
    'nsenter nft -f (first join)': nft,
  };
  const samples: Record<string, number[]> = {};
  for (let round = 0; round < CONTROL_ROUNDS; round++) {
    for (const [label, work] of Object.entries(cases)) {
      const netns = makeNetns(join(dir, `control-${round}`));
      const start = process.hrtime.bigint();
      work(netns.path);
      (samples[label] ??= []).push(Number(process.hrtime.bigint() - start) / 1e6);
      netns.remove();
    }
    const repointed = makeNetns(join(dir, `control-${round}`));
    nft(repointed.path);
    const start = process.hrtime.bigint();
    nft(repointed.path);
    (samples['nsenter nft -f (re-point, table exists)'] ??= []).push(Number(process.hrtime.bigint() - start) / 1e6);
    repointed.remove();
  }
  return Object.fromEntries(Object.entries(samples).map(([label, values]) => [label, summarize(values)]));
}

export async function containersPhase(script: string): Promise<ContainersResult> {
  const rounds = benchSize().containers;
  const world = await openContainerWorld(script, 'containers', { traceSkiff: true });
  const startRun = new Samples();
  const startNone = new Samples();
  const shares: Record<string, number[]> = {};
  const connect = new Samples();
  const disconnect = new Samples();
  const crowded = new Samples();
  const crowd: PerDaemon<CrowdResult> = {};
  const leftovers: string[] = [];
  try {
    const { sides } = world;
    for (const { docker } of sides) {
      await docker('network', 'create', 'bench-a');
      await docker('network', 'create', 'bench-b');
      await docker('run', '-d', '--name', 'probe', '--network', 'bench-a', 'busybox', 'sleep', '3600');
    }

    // run -d on a user network against --network none; the container is removed (untimed) after each.
    for (let round = 0; round < rounds.warmup + rounds.start; round++) {
      const counted = round >= rounds.warmup;
      for (const side of sides) {
        const user = await timedDocker(side, counted ? startRun : undefined, 'run', '-d', '--network', 'bench-a', 'busybox', 'sleep', '3600');
        const none = await timedDocker(side, counted ? startNone : undefined, 'run', '-d', '--network', 'none', 'busybox', 'sleep', '3600');
        if (counted) (shares[side.daemon.name] ??= []).push(user.ms - none.ms);
        await side.docker('rm', '-f', user.stdout.trim(), none.stdout.trim());
      }
    }

    // network connect / disconnect of a running container.
    for (let round = 0; round < rounds.warmup + rounds.connect; round++) {
      const counted = round >= rounds.warmup;
      for (const side of sides) {
        await timedDocker(side, counted ? connect : undefined, 'network', 'connect', 'bench-b', 'probe');
        await timedDocker(side, counted ? disconnect : undefined, 'network', 'disconnect', 'bench-b', 'probe');
      }
    }

    const apiRoutes = await measureConnectRoutes(sides, { rounds: rounds.connect * 4, cliRounds: 0 }, 'bench-a', 'bench-b');

    // The crowd, one daemon after the other (each measured alone), level by level; run -d, ps and inspect at each level.
    const levels = crowdLevels();
    for (const side of sides) {
      await sleep(benchSize().settleMs);
      const before = footprint(side);
      const started = epochMs();
      const deadline = Date.now() + CROWD_BOUND_MS;
      const measured: CrowdLevel[] = [];
      let running = 0;
      for (const level of levels) {
        running += await startCrowd(side, running, level, deadline);
        if (running < level) break;
        // At the last level the calls go into `crowded`, with skiff's exec log (where the time goes).
        const runDetached = level === levels[levels.length - 1] ? crowded : new Samples();
        for (let round = 0; round < 1 + rounds.crowded; round++) {
          const result = await timedDocker(side, round >= 1 ? runDetached : undefined, 'run', '-d', '--network', 'bench-a', 'busybox', 'sleep', '3600');
          await side.docker('rm', '-f', result.stdout.trim());
        }
        const ps = new Samples();
        const inspect = new Samples();
        for (let round = 0; round < 1 + rounds.crowded; round++) {
          await timedDocker(side, round >= 1 ? ps : undefined, 'ps');
          await timedDocker(side, round >= 1 ? inspect : undefined, 'network', 'inspect', 'bench-a');
        }
        await sleep(benchSize().settleMs);
        const name = side.daemon.name;
        measured.push({
          containers: running,
          runDetached: runDetached.summaries()[name]!,
          ps: ps.summaries()[name]!,
          networkInspect: inspect.summaries()[name]!,
          footprint: footprint(side),
        });
        console.log(
          `${name}: ${running} running: run -d ${describe(runDetached.summaries()[name]!)}, ps ${ms(ps.summaries()[name]!.median)} ms, network inspect ${ms(inspect.summaries()[name]!.median)} ms`,
        );
      }
      const startAllMs = epochMs() - started;
      const last = measured[measured.length - 1];
      const after = last?.footprint ?? footprint(side);
      const count = last?.containers ?? 0;
      const daemonPerContainerKb = (after.daemonKb - before.daemonKb) / count;
      const shimPerContainerKb = (after.shimsKb - before.shimsKb) / count;
      crowd[side.daemon.name] = {
        containers: count,
        startAllMs,
        before,
        after,
        perContainerKb: daemonPerContainerKb + shimPerContainerKb,
        daemonPerContainerKb,
        shimPerContainerKb,
        levels: measured,
      };
      console.log(
        `${side.daemon.name}: ${count} containers running (grown in ${(startAllMs / 1000).toFixed(1)} s with the measurements, ${CROWD_CONCURRENCY} at a time); ` +
          `daemon ${(before.daemonKb / 1024).toFixed(1)} → ${(after.daemonKb / 1024).toFixed(1)} MB, shims ${before.shims} → ${after.shims} with Pss ${(before.shimsKb / 1024).toFixed(1)} → ${(after.shimsKb / 1024).toFixed(1)} MB`,
      );
      // The crowd goes before the next daemon's is measured.
      const ids = (await side.docker('ps', '-aq', '--filter', 'name=crowd-')).stdout.split('\n').filter((id) => id !== '');
      await side.removeContainers(ids);
    }

    const networkShare: PerDaemon<number> = Object.fromEntries(Object.entries(shares).map(([name, values]) => [name, summarize(values).median]));
    // The exec log holds one list per counted call, skiff's only.
    const result: ContainersResult = {
      cli: world.cli,
      cliVersion: world.cliVersion,
      dockerdVersion: world.dockerdVersion,
      dockerdSkipped: world.dockerdSkipped,
      podmanVersion: world.podmanVersion,
      podmanSkipped: world.podmanSkipped,
      runUserNet: startRun.summaries(),
      runNone: startNone.summaries(),
      networkShare,
      connect: connect.summaries(),
      disconnect: disconnect.summaries(),
      apiRoutes,
      runCrowded: crowded.summaries(),
      crowd,
      redirectControl: rounds.redirectControl ? redirectControl(world.scratch.path) : {},
      skiffExecs: {
        runUserNet: execBreakdown(startRun.execs),
        runNone: execBreakdown(startNone.execs),
        connect: execBreakdown(connect.execs),
        disconnect: execBreakdown(disconnect.execs),
        runCrowded: execBreakdown(crowded.execs),
      },
      leftovers,
    };
    printContainersResult(result);
    return result;
  } finally {
    leftovers.push(...(await world.close()));
  }
}

export function printContainersResult(result: ContainersResult): void {
  const line = (label: string, record: PerDaemon<Summary>) => console.log(sidesLine(label, record));
  line('run -d, user network', result.runUserNet);
  line('run -d, --network none', result.runNone);
  console.log(
    `${'network share (user − none)'.padEnd(30)} ${Object.entries(result.networkShare)
      .map(([name, value]) => `${name} ${ms(value)} ms`)
      .join('   ')}   (median of per-round differences)`,
  );
  line('network connect', result.connect);
  line('network disconnect', result.disconnect);
  if (result.apiRoutes !== undefined) printConnectRoutes(result.apiRoutes);
  line('run -d beside the crowd', result.runCrowded);
  for (const [name, crowd] of Object.entries(result.crowd)) {
    console.log(
      `memory per container, ${name}: ${(crowd.perContainerKb / 1024).toFixed(2)} MB (daemon ${(crowd.daemonPerContainerKb / 1024).toFixed(2)} + shim ${(crowd.shimPerContainerKb / 1024).toFixed(2)}) over ${crowd.containers} containers`,
    );
  }
  for (const [label, summary] of Object.entries(result.redirectControl)) console.log(`control, fresh netns: ${label.padEnd(36)} ${describe(summary)}`);
  const skiffExecs = result.skiffExecs;
  for (const [label, breakdown] of Object.entries(skiffExecs)) {
    console.log(
      `skiff ${label}: ${breakdown.map((entry) => `${entry.label} ×${entry.runsPerCall.toFixed(1)} ${ms(entry.medianMs)} ms`).join(', ') || 'no programs'}`,
    );
  }
}
