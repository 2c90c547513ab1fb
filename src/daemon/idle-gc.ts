/**
 * Gives memory back once the daemon falls quiet: after start-up, and after
 * work. V8 grows its young generation under load (up to 2 × 16 MB of
 * semi-space) and shrinks it only at a garbage collection that sees the
 * allocation rate low; a daemon that goes idle allocates nothing, so no such
 * collection comes and a burst of a thousand containers left 100 MB resident
 * where 60 MB had been. One full collection after a quiet spell shrinks the
 * heap to what is live (a few ms on a heap this size), at most once per
 * spell: QUIET_MS without a request after work, START_QUIET_MS after the
 * start (what opening the store and reconciling allocated is all garbage by
 * then, and the daemon may stay idle for days).
 */
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { releaseFreeMemory } from '../kernel/addon.js';

// Loaded when first needed: the daemon may never go quiet.
const require = createRequire(import.meta.url);
const QUIET_MS = 30_000;
const START_QUIET_MS = 1_000;

export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;
  private releaseFailed = false;

  constructor(
    private readonly log: (message: string) => void,
    private readonly quietMs = QUIET_MS,
    private readonly startQuietMs = START_QUIET_MS,
    private readonly collect: () => Promise<void> = collectGarbage,
  ) {}

  /** The daemon is up: collect what starting it left once it has been quiet a moment. */
  started(): void {
    this.schedule(this.startQuietMs);
  }

  /** Work happened: collect once the daemon has been quiet for quietMs since the last call. */
  readonly touch = (): void => this.schedule(this.quietMs);

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A pending collection keeps its own delay, counted again from now. */
  private schedule(quietMs: number): void {
    if (this.timer !== undefined) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.collect().then(
        () => this.releaseFreeMemory(),
        (error: Error) => this.log(`idle collection failed: ${error.message}`),
      );
    }, quietMs);
    this.timer.unref();
  }

  /** glibc keeps what free() returned for reuse; give it back too (release-memory.c). */
  private releaseFreeMemory(): void {
    if (this.releaseFailed) return;
    try {
      releaseFreeMemory();
    } catch (error) {
      this.releaseFailed = true;
      this.log(`idle collection: free memory stays with malloc (${(error as Error).message})`);
    }
  }
}

/**
 * The collection V8 makes under memory pressure (LowMemoryNotification),
 * asked through an in-process inspector session (no port, no thread): unlike
 * gc() it also shrinks the young generation, which start-up grows to 2 × 8 MB
 * and only V8's memory reducer gives back, ~10 s later (4 MB of RSS at 5 s).
 * Where Node has no inspector, gc(): see below. Either way the one collection
 * compacts: it moves the live old objects together so that every page they
 * were scattered over goes back (after a burst of work ~2 MB), where V8 by
 * itself evacuates only its most fragmented pages.
 */
export async function collectGarbage(): Promise<void> {
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    if (!(await collectUnderPressure())) exposedGc()();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

/** False when this Node has no inspector. The session's answer comes after the collection, on a later turn. */
async function collectUnderPressure(): Promise<boolean> {
  let inspector: typeof import('node:inspector');
  try {
    inspector = require('node:inspector') as typeof import('node:inspector');
  } catch {
    return false;
  }
  const session = new inspector.Session();
  session.connect();
  try {
    await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (error) => (error === null ? resolve() : reject(error))));
  } finally {
    session.disconnect();
  }
  return true;
}

/**
 * --expose-gc set at run time reaches only contexts made after it: a context
 * made for the call hands its gc() out and is garbage itself afterwards
 * (kept, it would hold 0.3 MB for the daemon's life).
 */
function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
