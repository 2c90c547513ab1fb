/**
 * Does skiff's daemon keep anything per container once the container is
 * gone (issue 12: "no growth that stays")? N cycles, each through the Engine
 * API on a user network: create a busybox `true` with a published port,
 * start it, wait for its exit, remove it; every DNS_EVERY cycles a container
 * that stays up a moment is resolved by name from an anchor container with
 * `docker exec … nslookup` (an exec instance, DNS records, an endpoint).
 * Before and after, with the daemon idle: RSS read a few times over a
 * minute (V8 gives pages back only when it sees the allocation rate fall),
 * the daemon's open fds, and with --heap-snapshots the objects on the heap
 * counted by constructor, the growth printed. Bounded by --cycles and
 * --minutes. Nothing here judges a size.
 *
 *   node dist/bench/leak-bench.js [--cycles 1000] [--minutes 20] [--heap-snapshots DIR] [--daemon 'WORD …']
 *
 * --daemon starts the daemon otherwise: node options and VAR=value words (memory.ts daemonVariant).
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openContainerWorld, type Side } from './container-world.js';
import { apiRequest } from './daemons.js';
import { daemonVariant, rssKb, rssPartsKb, withDaemonEnv, type DaemonVariant } from './memory.js';
import { runStandalone } from './world.js';

const script = fileURLToPath(import.meta.url);
const phasesScript = join(dirname(script), 'network.js');
const OPTIONS_ENV = 'SKIFF_LEAK_BENCH';
const DNS_EVERY = 50;
const IDLE_READINGS_MS = [5_000, 15_000, 30_000, 60_000];
const NETWORK = 'bench-leak';

interface LeakOptions {
  cycles: number;
  minutes: number;
  heapSnapshotDir?: string;
  daemon: DaemonVariant;
}

interface IdleReading {
  /** RSS (kB) at each reading: [seconds idle, kB]. */
  rssKb: [number, number][];
  /** Of the last reading: anonymous and file-backed kB. */
  parts: { anon: number; file: number };
  fds: number;
  /** Live objects by constructor (with --heap-snapshots). */
  objects?: Record<string, number>;
}

export interface LeakResult {
  cycles: number;
  cycleMs: number;
  before: IdleReading;
  after: IdleReading;
  /** The last RSS reading after over the last before, minus 1. */
  growth: number;
  /** Constructors whose count grew most, with the counts before and after. */
  grewMost: [string, number, number][];
}

function optionsFrom(argv: readonly string[]): LeakOptions {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const snapshots = value('--heap-snapshots');
  return {
    cycles: Number(value('--cycles') ?? 1000),
    minutes: Number(value('--minutes') ?? 20),
    ...(snapshots === undefined ? {} : { heapSnapshotDir: resolve(snapshots) }),
    daemon: daemonVariant(`daemon=${value('--daemon') ?? ''}`),
  };
}

async function api(socketPath: string, method: string, path: string, body?: unknown): Promise<string> {
  const answer = await apiRequest(socketPath, method, path, body === undefined ? undefined : JSON.stringify(body));
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${answer.body}`);
  return answer.body;
}

/** Live objects and closures on a heap snapshot, counted by constructor (or function) name. */
function countByConstructor(path: string): Record<string, number> {
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt] = [fields.indexOf('type'), fields.indexOf('name')];
  const counts: Record<string, number> = {};
  for (let index = 0; index < snapshot.nodes.length; index += fields.length) {
    const type = types[snapshot.nodes[index + typeAt]!];
    if (type !== 'object' && type !== 'closure') continue;
    const name = `${type === 'closure' ? 'function ' : ''}${snapshot.strings[snapshot.nodes[index + nameAt]!]}`;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

async function heapCounts(pid: number, socket: string, dir: string | undefined): Promise<Record<string, number> | undefined> {
  if (dir === undefined) return undefined;
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (let tries = 0; tries < 150; tries++) {
    const written = readdirSync(dir).find((name) => !before.has(name) && name.endsWith('.heapsnapshot'));
    // The file appears before V8 has finished writing it; V8 writes on the daemon's main thread, so its next answer comes after.
    if (written !== undefined) {
      await apiRequest(socket, 'GET', '/_ping');
      return countByConstructor(join(dir, written));
    }
    await sleep(200);
  }
  throw new Error('no heap snapshot within 30 s');
}

async function idleReading(pid: number, socket: string, dir: string | undefined): Promise<IdleReading> {
  const rss: [number, number][] = [];
  let waited = 0;
  for (const atMs of IDLE_READINGS_MS) {
    await sleep(atMs - waited);
    waited = atMs;
    rss.push([atMs / 1000, rssKb(pid)]);
  }
  const parts = rssPartsKb(pid);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const objects = await heapCounts(pid, socket, dir);
  return { rssKb: rss, parts, fds, ...(objects === undefined ? {} : { objects }) };
}

function describe(label: string, reading: IdleReading): string {
  const { anon, file } = reading.parts;
  return `${label}: ${reading.rssKb.map(([seconds, kb]) => `${(kb / 1024).toFixed(1)} MB after ${seconds} s`).join(', ')} (anonymous ${(anon / 1024).toFixed(1)}, file ${(file / 1024).toFixed(1)}); ${reading.fds} fds`;
}

/** One cycle: a published `true` created, started, waited for and removed. */
async function cycle(socket: string, index: number): Promise<void> {
  const created = JSON.parse(
    await api(socket, 'POST', `/containers/create?name=leak-${index}`, {
      Image: 'busybox',
      Cmd: ['true'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { NetworkMode: NETWORK, PortBindings: { '80/tcp': [{ HostPort: '' }] } },
    }),
  ) as { Id: string };
  await api(socket, 'POST', `/containers/${created.Id}/start`);
  await api(socket, 'POST', `/containers/${created.Id}/wait`);
  await api(socket, 'DELETE', `/containers/${created.Id}`);
}

/** A container that stays up, found by name from the anchor through the embedded DNS, then removed. */
async function dnsCycle(skiff: Side, index: number): Promise<void> {
  const name = `named-${index}`;
  await skiff.docker('run', '-d', '--name', name, '--network', NETWORK, 'busybox', 'sleep', '30');
  const answer = await skiff.docker('exec', 'anchor', 'nslookup', name);
  if (!answer.stdout.includes('Address')) throw new Error(`nslookup ${name}: ${answer.stdout}`);
  await skiff.docker('rm', '-f', name);
}

async function leakPhase(options: LeakOptions): Promise<LeakResult> {
  const dir = options.heapSnapshotDir;
  if (dir !== undefined) mkdirSync(dir, { recursive: true });
  const nodeArgs = [...options.daemon.nodeArgs, ...(dir === undefined ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`])];
  const world = await withDaemonEnv(options.daemon, () => openContainerWorld(phasesScript, 'leak', { skiffOnly: true, skiffNodeArgs: nodeArgs }));
  try {
    const { skiff } = world;
    const { pid, socketPath: socket } = skiff.daemon;
    // The first cycles load what a container needs (route modules, the DNS addon); "before" is after them.
    await skiff.docker('network', 'create', NETWORK);
    await skiff.docker('run', '-d', '--name', 'anchor', '--network', NETWORK, 'busybox', 'sleep', '3600');
    await cycle(socket, 0);
    await dnsCycle(skiff, 0);
    const before = await idleReading(pid, socket, dir);
    console.log(describe('idle before', before));
    const deadline = Date.now() + options.minutes * 60_000;
    const started = Date.now();
    let done = 0;
    while (done < options.cycles && Date.now() < deadline) {
      done++;
      await cycle(socket, done);
      if (done % DNS_EVERY === 0) await dnsCycle(skiff, done);
      if (done % 100 === 0) console.log(`${done} cycles: ${(rssKb(pid) / 1024).toFixed(1)} MB RSS`);
    }
    const cycleMs = (Date.now() - started) / Math.max(1, done);
    const after = await idleReading(pid, socket, dir);
    console.log(describe('idle after', after));
    const last = (reading: IdleReading) => reading.rssKb[reading.rssKb.length - 1]![1];
    const growth = last(after) / last(before) - 1;
    const grewMost: [string, number, number][] = [];
    if (before.objects !== undefined && after.objects !== undefined) {
      const [was, now] = [before.objects, after.objects];
      const names = Object.keys(now).filter((name) => (now[name] ?? 0) > (was[name] ?? 0));
      names.sort((a, b) => now[b]! - (was[b] ?? 0) - (now[a]! - (was[a] ?? 0)));
      for (const name of names.slice(0, 25)) grewMost.push([name, was[name] ?? 0, now[name]!]);
      console.log(`objects that grew most (before → after):\n${grewMost.map(([name, a, b]) => `  ${name}: ${a} → ${b}`).join('\n')}`);
    }
    console.log(`${done} cycles, ${cycleMs.toFixed(0)} ms a cycle; idle RSS ${(growth * 100).toFixed(1)}% over the start, fds ${before.fds} → ${after.fds}`);
    delete before.objects;
    delete after.objects;
    await skiff.docker('rm', '-f', 'anchor');
    await skiff.docker('network', 'rm', NETWORK);
    return { cycles: done, cycleMs, before, after, growth, grewMost };
  } finally {
    await world.close();
  }
}

await runStandalone({ script, phase: 'leak', timeoutMs: 60 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: leakPhase });
