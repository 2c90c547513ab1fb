/** Docker's event JSON (docker events) from the daemon's events. */
import type { DaemonEvent } from '../../model/events.js';

export interface WireEvent {
  Type: DaemonEvent['type'];
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

export function eventToWire(event: DaemonEvent): WireEvent {
  return {
    Type: event.type,
    Action: event.action,
    Actor: { ID: event.actorId, Attributes: event.attributes },
    scope: 'local',
    time: Number(event.timeNano / 1_000_000_000n),
    timeNano: Number(event.timeNano),
    ...(event.type === 'container' ? { status: event.action, id: event.actorId, from: event.attributes['image'] ?? '' } : {}),
  };
}

/** Docker's event filters: values of one key OR'ed, keys AND'ed. */
export function eventMatches(event: DaemonEvent, filters: ReadonlyMap<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const ok = values.some((value) => {
      if (key === 'type') return event.type === value;
      if (key === 'event') return event.action === value || event.action.startsWith(`${value}:`);
      if (key === 'container' || key === 'network') return event.type === key && (event.actorId.startsWith(value) || event.attributes['name'] === value);
      if (key === 'label') return Object.entries(event.attributes).some(([k, v]) => value === k || value === `${k}=${v}`);
      return true;
    });
    if (!ok) return false;
  }
  return true;
}
