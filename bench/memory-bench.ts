/**
 * skiff's daemon memory at idle and after load (issue 12's "idle ≤ 55 MB RSS
 * and no growth that stays"): RSS when it has just started, then after N
 * create/start/rm cycles of a container on a user network through the
 * Engine API (each cycle: POST /containers/create, POST …/start, DELETE
 * …?force=1), read after a settle each time. The daemon runs alone in a
 * throwaway world, as every phase does. Nothing here judges a size.
 *
 *   node dist/bench/memory-bench.js [--cycles N] [--heap-snapshots DIR]
 *
 * With --heap-snapshots the daemon runs with --heapsnapshot-signal=SIGUSR2
 * and writes a snapshot into DIR at idle and after the cycles.
 */
import { readdirSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openContainerWorld } from './container-world.js';
import { apiRequest } from './daemons.js';
import { rssKb } from './memory.js';
import { runStandalone } from './world.js';

const script = fileURLToPath(import.meta.url);
const phasesScript = join(dirname(script), 'network.js');
const OPTIONS_ENV = 'SKIFF_MEMORY_BENCH';
const SETTLE_MS = 5_000;
/** Readings during the load, besides the first and the last. */
const CHECKPOINTS = 4;
const IDLE_READINGS_MS = [5_000, 15_000, 30_000, 60_000];

interface MemoryOptions {
  cycles: number;
  heapSnapshotDir?: string;
}

export interface MemoryResult {
  /** RSS (kB) right after start and a settle. */
  idleKb: number;
  /** RSS (kB) after a settle at each checkpoint: [cycles done, kB]. */
  afterCycles: [number, number][];
  /** RSS (kB) once everything is removed: [seconds idle, kB]. */
  idleAgain: [number, number][];
  cycleMs: number;
}

function optionsFrom(argv: readonly string[]): MemoryOptions {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const snapshots = value('--heap-snapshots');
  return { cycles: Number(value('--cycles') ?? 1000), ...(snapshots === undefined ? {} : { heapSnapshotDir: resolve(snapshots) }) };
}

async function api(socketPath: string, method: string, path: string, body?: unknown): Promise<string> {
  const answer = await apiRequest(socketPath, method, path, body === undefined ? undefined : JSON.stringify(body));
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${answer.body}`);
  return answer.body;
}

async function snapshot(pid: number, dir: string | undefined): Promise<void> {
  if (dir === undefined) return;
  const before = readdirSync(dir).length;
  process.kill(pid, 'SIGUSR2');
  for (let tries = 0; tries < 100 && readdirSync(dir).length === before; tries++) await sleep(200);
}

async function memoryPhase(options: MemoryOptions): Promise<MemoryResult> {
  if (options.heapSnapshotDir !== undefined) mkdirSync(options.heapSnapshotDir, { recursive: true });
  const nodeArgs = options.heapSnapshotDir === undefined ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${options.heapSnapshotDir}`];
  const world = await openContainerWorld(phasesScript, 'memory', { skiffOnly: true, skiffNodeArgs: nodeArgs });
  try {
    const { skiff } = world;
    const socket = skiff.daemon.socketPath;
    await sleep(SETTLE_MS);
    const idleKb = rssKb(skiff.daemon.pid);
    console.log(`idle after start: ${(idleKb / 1024).toFixed(1)} MB RSS`);
    await snapshot(skiff.daemon.pid, options.heapSnapshotDir);
    await api(socket, 'POST', '/networks/create', { Name: 'bench-mem', Driver: 'bridge' });
    const afterCycles: [number, number][] = [];
    const every = Math.max(1, Math.floor(options.cycles / CHECKPOINTS));
    const started = Date.now();
    for (let cycle = 1; cycle <= options.cycles; cycle++) {
      const created = JSON.parse(
        await api(socket, 'POST', '/containers/create?name=cycle', {
          Image: 'busybox',
          Cmd: ['sleep', '60'],
          HostConfig: { NetworkMode: 'bench-mem' },
        }),
      ) as { Id: string };
      await api(socket, 'POST', `/containers/${created.Id}/start`);
      await api(socket, 'DELETE', `/containers/${created.Id}?force=1`);
      if (cycle % every === 0 || cycle === options.cycles) {
        await sleep(SETTLE_MS);
        const kb = rssKb(skiff.daemon.pid);
        afterCycles.push([cycle, kb]);
        console.log(`after ${cycle} cycles: ${(kb / 1024).toFixed(1)} MB RSS`);
      }
    }
    const cycleMs = (Date.now() - started - afterCycles.length * SETTLE_MS) / options.cycles;
    await api(socket, 'DELETE', '/networks/bench-mem');
    // Idle again: V8 gives memory back only once it sees the allocation rate fall, so read a few times over a minute.
    const idleAgain: [number, number][] = [];
    let waited = 0;
    for (const atMs of IDLE_READINGS_MS) {
      await sleep(atMs - waited);
      waited = atMs;
      idleAgain.push([atMs / 1000, rssKb(skiff.daemon.pid)]);
    }
    const finalKb = idleAgain[idleAgain.length - 1]![1];
    console.log(
      `network removed, idle again: ${idleAgain.map(([seconds, kb]) => `${(kb / 1024).toFixed(1)} MB after ${seconds} s`).join(', ')} (${((finalKb / idleKb - 1) * 100).toFixed(1)}% over the start); ${cycleMs.toFixed(0)} ms a cycle`,
    );
    await snapshot(skiff.daemon.pid, options.heapSnapshotDir);
    return { idleKb, afterCycles, idleAgain, cycleMs };
  } finally {
    await world.close();
  }
}

await runStandalone({ script, phase: 'memory', timeoutMs: 30 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: memoryPhase });
