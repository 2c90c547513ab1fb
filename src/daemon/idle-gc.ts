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
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { releaseFreeMemory } from '../kernel/addon.js';

const QUIET_MS = 30_000;
const START_QUIET_MS = 1_000;

export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;
  private releaseFailed = false;

  constructor(
    private readonly log: (message: string) => void,
    private readonly quietMs = QUIET_MS,
    private readonly startQuietMs = START_QUIET_MS,
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
      collectGarbage();
      this.releaseFreeMemory();
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
 * --expose-gc set at run time reaches only contexts made after it: a context
 * made for the call hands its gc() out and is garbage itself afterwards
 * (kept, it would hold 0.3 MB for the daemon's life). This one collection
 * also compacts: it moves the live old objects together so that every page
 * they were scattered over goes back (after a burst of work ~2 MB), where
 * V8 by itself evacuates only its most fragmented pages.
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
