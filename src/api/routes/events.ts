/** GET /events: Docker's event stream, newline-delimited JSON. */
import type { EventBus, DockerEvent } from '../../engine/events.js';
import { parseFilters, type Router } from '../http.js';

function parseTime(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const seconds = Number(value.split('.')[0]);
  return Number.isFinite(seconds) ? seconds : Math.floor(Date.parse(value) / 1000);
}

function matches(event: DockerEvent, filters: Map<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const ok = values.some((value) => {
      if (key === 'type') return event.Type === value;
      if (key === 'event') return event.Action === value || event.Action.startsWith(`${value}:`);
      if (key === 'container' || key === 'network') return event.Type === key && (event.Actor.ID.startsWith(value) || event.Actor.Attributes['name'] === value);
      if (key === 'label') return Object.entries(event.Actor.Attributes).some(([k, v]) => value === k || value === `${k}=${v}`);
      return true;
    });
    if (!ok) return false;
  }
  return true;
}

export function addEventRoutes(router: Router, events: EventBus): void {
  router.add('GET', '/events', (request, response) => {
    const filters = parseFilters(request.query.get('filters'));
    const since = parseTime(request.query.get('since'));
    const until = parseTime(request.query.get('until'));
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.flushHeaders();
    const write = (event: DockerEvent) => { if (!response.writableEnded && matches(event, filters)) response.write(`${JSON.stringify(event)}\n`); };
    if (since !== undefined) for (const event of events.since(since)) if (until === undefined || event.time <= until) write(event);
    if (until !== undefined && until * 1000 <= Date.now()) { response.end(); return; }
    const unsubscribe = events.subscribe(write);
    const timer = until === undefined ? undefined : setTimeout(() => response.end(), until * 1000 - Date.now());
    response.on('close', () => { unsubscribe(); if (timer !== undefined) clearTimeout(timer); });
  });
}
