/**
 * The daemon's events (docker events): network and container events as they
 * happen, kept in a bounded ring so `since` can replay recent ones. The
 * shape is skiff's own; api/wire gives it Docker's.
 */
import type { DaemonEvent, EventType } from '../model/events.js';

/** Docker's own bound (moby daemon/events: eventsLimit = 256): a daemon that ran thousands of containers keeps no more. */
const RING_SIZE = 256;

export class EventBus {
  private readonly recent: DaemonEvent[] = [];
  private readonly listeners = new Set<(event: DaemonEvent) => void>();

  /** A subscriber that throws (a client gone mid-write) is reported here; the others still get the event. */
  constructor(private readonly onSubscriberError: (error: unknown) => void) {}

  emit(type: EventType, action: string, actorId: string, attributes: Record<string, string> = {}): void {
    const event: DaemonEvent = { type, action, actorId, attributes, timeNano: BigInt(Date.now()) * 1_000_000n };
    this.recent.push(event);
    if (this.recent.length > RING_SIZE) this.recent.shift();
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onSubscriberError(error);
      }
    }
  }

  /** Events at or after the given second. */
  since(seconds: number): DaemonEvent[] {
    const from = BigInt(seconds) * 1_000_000_000n;
    return this.recent.filter((event) => event.timeNano >= from);
  }

  subscribe(listener: (event: DaemonEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
