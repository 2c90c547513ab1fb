/** docker stats, pause and unpause: parse, one call, format. */
import type { Containers } from '../../containers/controller.js';
import { statsFrames } from '../../containers/stats.js';
import { queryBool, sendNoContent, type Router } from '../http.js';
import { statsToWire } from '../wire/stats.js';

export function addStatsAndPauseRoutes(router: Router, containers: Containers, log: (message: string) => void): void {
  router.add('GET', '/containers/{id}/stats', (request, response) => {
    const { record, sample } = containers.statsSample(request.params['id']!);
    // stream defaults to true, as Docker's.
    const stream = request.query.get('stream') === null || queryBool(request.query, 'stream');
    response.writeHead(200, { 'Content-Type': 'application/json' });
    const frames = statsFrames(
      sample,
      (current, previous) => {
        if (!response.writableEnded) response.write(`${JSON.stringify(statsToWire(record, current, previous))}\n`);
      },
      { stream, oneShot: queryBool(request.query, 'one-shot') },
    );
    // The client going away ends the stream and its timer.
    response.on('close', frames.stop);
    frames.done.then(
      () => response.end(),
      (error: unknown) => {
        log(`stats of ${record.id}: ${String(error)}`);
        response.destroy();
      },
    );
  });

  router.add('POST', '/containers/{id}/pause', async (request, response) => {
    await containers.pause(request.params['id']!);
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/unpause', async (request, response) => {
    await containers.unpause(request.params['id']!);
    sendNoContent(response);
  });
}
