/** GET /events: Docker's event stream, newline-delimited JSON. */
import type { EventBus } from '../../engine/events.js';
import type { DaemonEvent } from '../../model/events.js';
import { eventMatches, eventToWire } from '../wire/events.js';
import { parseFilters, type Router } from '../http.js';

function parseTime(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const seconds = Number(value.split('.')[0]);
  return Number.isFinite(seconds) ? seconds : Math.floor(Date.parse(value) / 1000);
}

export function addEventRoutes(router: Router, events: EventBus): void {
  router.add('GET', '/events', (request, response) => {
    const filters = parseFilters(request.query.get('filters'));
    const since = parseTime(request.query.get('since'));
    const until = parseTime(request.query.get('until'));
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.flushHeaders();
    const write = (event: DaemonEvent) => {
      if (!response.writableEnded && eventMatches(event, filters)) response.write(`${JSON.stringify(eventToWire(event))}\n`);
    };
    if (since !== undefined)
      for (const event of events.since(since)) if (until === undefined || event.timeNano < (BigInt(until) + 1n) * 1_000_000_000n) write(event);
    if (until !== undefined && until * 1000 <= Date.now()) {
      response.end();
      return;
    }
    const unsubscribe = events.subscribe(write);
    const timer = until === undefined ? undefined : setTimeout(() => response.end(), until * 1000 - Date.now());
    response.on('close', () => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
    });
  });
}
