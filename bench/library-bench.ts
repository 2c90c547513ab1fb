/**
 * Phase "library": the engine in this process, in this world's own network
 * namespace. Network create/delete and sandbox join/leave, each call's time
 * split over the programs it runs (exec-trace.ts) and what is left in-process
 * (planning, SQLite, the mutex); then join latency with 10, 100 and 1,000
 * endpoints already on the network.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import type { Sandbox } from '../src/model/network.js';
import { deleteTable } from '../src/firewall/index.js';
import { installExecTrace, withExecTrace, type ExecRecord } from './exec-trace.js';
import { describe, ms, ratio, summarize, table, timed, type Summary } from './stats.js';
import { kernelLeftovers, loopbackUp, mountsUnder, scratchDir } from './world.js';

export const LIBRARY_ROUNDS = { warmup: 3, networkOps: 20, joinLeave: 50, growthTail: 10 } as const;
export const ENDPOINT_LEVELS = [10, 100, 1000] as const;
const PHASE_BOUND_MS = 20 * 60_000;

interface TracedRun {
  ms: number;
  execs: ExecRecord[];
}

export interface ExecShare {
  label: string;
  callsPerOp: number;
  median: number;
}

export interface OpStats {
  total: Summary;
  /** Per program: how many runs of it one operation makes, and the median time they take per operation. */
  execs: ExecShare[];
  /** Operation time not spent waiting for a program. */
  inProcess: Summary;
}

export interface LevelResult {
  endpoints: number;
  join: OpStats;
  leave: OpStats;
  /** Joins of fresh sandboxes made while growing the network to this level (its last few). */
  growthJoin: Summary;
  createSandbox: OpStats;
}

export interface LibraryResult {
  createNetwork: OpStats;
  deleteNetwork: OpStats;
  levels: LevelResult[];
  /** Join at the first level again, measured after shrinking back to it: how far the machine drifted. */
  firstLevelAgain: { join: OpStats; leave: OpStats };
  /** Every sandbox of the crowd, deleted from 1,000 down to none. */
  deleteSandbox: OpStats;
  leftovers: string[];
}

export function opStats(runs: readonly TracedRun[]): OpStats {
  const labels = [...new Set(runs.flatMap((run) => run.execs.map((exec) => exec.label)))];
  const execs = labels.map((label) => {
    const perRun = runs.map((run) => run.execs.filter((exec) => exec.label === label));
    return {
      label,
      callsPerOp: perRun.reduce((sum, list) => sum + list.length, 0) / runs.length,
      median: summarize(perRun.map((list) => list.reduce((sum, exec) => sum + exec.ms, 0))).median,
    };
  });
  return {
    total: summarize(runs.map((run) => run.ms)),
    execs,
    inProcess: summarize(runs.map((run) => run.ms - run.execs.reduce((sum, exec) => sum + exec.ms, 0))),
  };
}

async function traced(work: () => Promise<unknown>): Promise<TracedRun> {
  const {
    value: { ms: spent },
    execs,
  } = await withExecTrace(() => timed(work));
  return { ms: spent, execs };
}

export function describeOp(name: string, stats: OpStats): string {
  const parts = stats.execs.map((exec) => `${exec.label} ×${exec.callsPerOp.toFixed(exec.callsPerOp % 1 === 0 ? 0 : 1)} ${ms(exec.median)} ms`);
  return `${name.padEnd(22)} ${describe(stats.total)}\n${' '.repeat(23)}= ${[...parts, `in-process ${ms(stats.inProcess.median)} ms`].join(' + ')}`;
}

export async function libraryPhase(): Promise<LibraryResult> {
  installExecTrace();
  loopbackUp();
  const deadline = Date.now() + PHASE_BOUND_MS;
  const inTime = () => {
    if (Date.now() > deadline) throw new Error(`library phase passed its bound of ${PHASE_BOUND_MS / 60_000} minutes`);
  };
  const scratch = scratchDir('skiff-bench-lib-');
  const leftovers: string[] = [];
  const engine = await Engine.open({ dataRoot: join(scratch.path, 'data'), execRoot: join(scratch.path, 'exec'), firewallTable: 'skiff' });
  try {
    console.log('\n== engine library, in-process (times split over the programs each call runs)');
    const creates: TracedRun[] = [];
    const deletes: TracedRun[] = [];
    for (let round = 0; round < LIBRARY_ROUNDS.warmup + LIBRARY_ROUNDS.networkOps; round++) {
      inTime();
      const created = await traced(() => engine.createNetwork({ name: `lib-net-${round}` }));
      const deleted = await traced(() => engine.deleteNetwork(`lib-net-${round}`));
      if (round >= LIBRARY_ROUNDS.warmup) {
        creates.push(created);
        deletes.push(deleted);
      }
    }
    const createNetwork = opStats(creates);
    const deleteNetwork = opStats(deletes);
    console.log(describeOp('createNetwork', createNetwork));
    console.log(describeOp('deleteNetwork', deleteNetwork));

    await engine.createNetwork({ name: 'lib-scale' });
    const probe = await engine.createSandbox({ hostname: 'probe' });
    const crowd: Sandbox[] = [];
    const measureProbe = async () => {
      const joins: TracedRun[] = [];
      const leaves: TracedRun[] = [];
      for (let round = 0; round < LIBRARY_ROUNDS.warmup + LIBRARY_ROUNDS.joinLeave; round++) {
        inTime();
        const joined = await traced(() => engine.join(probe.id, 'lib-scale', { name: 'probe' }));
        const left = await traced(() => engine.leave(probe.id, 'lib-scale'));
        if (round >= LIBRARY_ROUNDS.warmup) {
          joins.push(joined);
          leaves.push(left);
        }
      }
      return { join: opStats(joins), leave: opStats(leaves) };
    };

    const levels: LevelResult[] = [];
    for (const level of ENDPOINT_LEVELS) {
      const growthJoins: number[] = [];
      const creations: TracedRun[] = [];
      while (crowd.length < level) {
        inTime();
        let made: Sandbox | undefined;
        const creation = await traced(async () => {
          made = await engine.createSandbox({ hostname: `crowd-${crowd.length}` });
        });
        const sandbox = made!;
        const joined = await timed(() => engine.join(sandbox.id, 'lib-scale', { name: `crowd-${crowd.length}` }));
        crowd.push(sandbox);
        if (level - crowd.length < LIBRARY_ROUNDS.growthTail) {
          growthJoins.push(joined.ms);
          creations.push(creation);
        }
      }
      const probeStats = await measureProbe();
      const result: LevelResult = { endpoints: level, ...probeStats, growthJoin: summarize(growthJoins), createSandbox: opStats(creations) };
      levels.push(result);
      console.log(`-- ${level} endpoints on the network`);
      console.log(describeOp('join (probe sandbox)', result.join));
      console.log(describeOp('leave (probe sandbox)', result.leave));
      console.log(`${'join (fresh sandbox)'.padEnd(22)} ${describe(result.growthJoin)}`);
      console.log(describeOp('createSandbox', result.createSandbox));
    }

    const deletions: TracedRun[] = [];
    const shrinkTo = async (count: number) => {
      while (crowd.length > count) {
        inTime();
        const sandbox = crowd.pop()!;
        deletions.push(await traced(() => engine.deleteSandbox(sandbox.id)));
      }
    };
    await shrinkTo(ENDPOINT_LEVELS[0]);
    const firstLevelAgain = await measureProbe();
    console.log(`-- ${ENDPOINT_LEVELS[0]} endpoints again, after shrinking back (drift check)`);
    console.log(describeOp('join (probe sandbox)', firstLevelAgain.join));
    await shrinkTo(0);
    const deleteSandbox = opStats(deletions);
    console.log(describeOp('deleteSandbox (1000→0)', deleteSandbox));

    const first = levels[0]!;
    console.log(
      table([
        ['endpoints', 'join median', 'vs first level', 'leave median', 'vs first level'],
        ...levels.map((level) => [
          String(level.endpoints),
          `${ms(level.join.total.median)} ms`,
          ratio(level.join.total.median, first.join.total.median),
          `${ms(level.leave.total.median)} ms`,
          ratio(level.leave.total.median, first.leave.total.median),
        ]),
      ]),
    );
    await engine.deleteSandbox(probe.id);
    await engine.deleteNetwork('lib-scale');
    return { createNetwork, deleteNetwork, levels, firstLevelAgain, deleteSandbox, leftovers };
  } finally {
    // Everything the engine made: sandboxes left by a failure, user networks, the default bridge, the table.
    for (const sandbox of engine.listSandboxes())
      await engine.deleteSandbox(sandbox.id).catch((error: unknown) => leftovers.push(`sandbox ${sandbox.id}: ${String(error)}`));
    await engine.pruneNetworks().catch((error: unknown) => leftovers.push(`networks: ${String(error)}`));
    execFileSync('ip', ['link', 'del', 'skiff0']);
    await deleteTable('skiff');
    await engine.close();
    leftovers.push(...kernelLeftovers(), ...mountsUnder(scratch.path).map((mount) => `mount ${mount}`));
    scratch.remove();
    console.log(`library world cleanup: ${leftovers.length === 0 ? 'nothing left' : leftovers.join(', ')}`);
  }
}
