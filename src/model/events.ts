/** What happened to an object, as the daemon reports it (docker events); api/wire gives it Docker's shape. */

export type EventType = 'network' | 'container' | 'image';

export interface DaemonEvent {
  type: EventType;
  action: string;
  /** The object's id. */
  actorId: string;
  attributes: Record<string, string>;
  /** Nanoseconds since the epoch. */
  timeNano: bigint;
}
