/**
 * Gives memory back once the daemon falls quiet after work. V8 grows its
 * young generation under load (up to 2 × 16 MB of semi-space) and shrinks it
 * only at a garbage collection that sees the allocation rate low; a daemon
 * that goes idle allocates nothing, so no such collection comes and a burst
 * of a thousand containers left 100 MB resident where 60 MB had been. One
 * full collection after QUIET_MS without a request shrinks the heap to what
 * is live (a few ms on a heap this size), at most once per quiet spell.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const QUIET_MS = 30_000;

export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly quietMs = QUIET_MS) {}

  /** Work happened: collect once the daemon has been quiet for quietMs since the last call. */
  readonly touch = (): void => {
    if (this.timer !== undefined) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      collectGarbage();
    }, this.quietMs);
    this.timer.unref();
  };

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * --expose-gc set at run time reaches only contexts made after it: a context
 * made for the call hands its gc() out and is garbage itself afterwards
 * (kept, it would hold 0.3 MB for the daemon's life).
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
