/**
 * Docker's event stream (docker events): network and container events as
 * they happen, kept in a bounded ring so `since` can replay recent ones.
 */
export interface DockerEvent {
  Type: 'network' | 'container' | 'image';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Deprecated fields Docker still sends for containers. */
  status?: string;
  id?: string;
  from?: string;
}

const RING_SIZE = 1024;

export class EventBus {
  /** A subscriber that throws (a client gone mid-write) is reported here; the others still get the event. */
  constructor(private readonly onSubscriberError: (error: unknown) => void = (error) => process.stderr.write(`skiff: event subscriber failed: ${String(error)}\n`)) {}

  private readonly recent: DockerEvent[] = [];
  private readonly listeners = new Set<(event: DockerEvent) => void>();

  emit(type: DockerEvent['Type'], action: string, id: string, attributes: Record<string, string> = {}): void {
    const nanos = BigInt(Date.now()) * 1_000_000n;
    const event: DockerEvent = {
      Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local',
      time: Number(nanos / 1_000_000_000n), timeNano: Number(nanos),
      ...(type === 'container' ? { status: action, id, from: attributes['image'] ?? '' } : {}),
    };
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

  since(seconds: number): DockerEvent[] {
    return this.recent.filter((event) => event.time >= seconds);
  }

  subscribe(listener: (event: DockerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
