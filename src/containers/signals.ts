/**
 * Waiting on what happens to a container without polling: a waiter takes a
 * promise that the next notify for that container settles. Notify before any
 * waiter arrived is not kept, so callers check the state first, then wait,
 * with no await in between (the event loop cannot slip a notify between the two).
 */
export class Signals {
  private readonly waiters = new Map<string, Array<() => void>>();

  /** Settles at the next notify(id), or after timeoutMs (a bound, so nothing waits forever). */
  next(id: string, timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      const list = this.waiters.get(id) ?? [];
      list.push(wake);
      this.waiters.set(id, list);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const remaining = (this.waiters.get(id) ?? []).filter((waiter) => waiter !== wake);
          if (remaining.length === 0) this.waiters.delete(id);
          else this.waiters.set(id, remaining);
          resolve();
        }, timeoutMs);
      }
    });
  }

  notify(id: string): void {
    const list = this.waiters.get(id);
    this.waiters.delete(id);
    for (const wake of list ?? []) wake();
  }
}

/** How many clients read a container's output; --rm waits until they are done. */
export class ReaderCounts {
  private readonly counts = new Map<string, number>();
  private readonly done = new Signals();

  /** Counts one reader until the returned function is called (calling it twice counts once). */
  track(id: string): () => void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(id) ?? 1) - 1;
      if (left > 0) {
        this.counts.set(id, left);
        return;
      }
      this.counts.delete(id);
      this.done.notify(id);
    };
  }

  /** Until no reader is left (bounded). */
  async allDone(id: string, timeoutMs: number): Promise<void> {
    if (!this.counts.has(id)) return;
    await this.done.next(id, timeoutMs);
  }
}
