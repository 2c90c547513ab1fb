/** docker cp (HEAD, GET and PUT /containers/{id}/archive), docker export and docker diff: parse, one call, format. */
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { ContainerArchives } from '../../containers/archive.js';
import type { Containers } from '../../containers/controller.js';
import { invalid } from '../../errors.js';
import { queryBool, sendJson, type Router } from '../http.js';
import { changesToWire, pathStatHeader } from '../wire/archive.js';

/** A tar streamed as the answer; a failure once it has begun cuts the connection, as there is no way left to report it. */
export function sendTar(response: ServerResponse, tar: Readable, what: string, log: (message: string) => void, headers: Record<string, string> = {}): void {
  response.writeHead(200, { 'Content-Type': 'application/x-tar', ...headers });
  tar.on('error', (error: Error) => {
    log(`${what}: ${error.message}`);
    response.destroy();
  });
  response.on('close', () => tar.destroy());
  tar.pipe(response);
}

function pathParameter(query: URLSearchParams): string {
  const path = query.get('path');
  if (path === null || path === '') throw invalid('path is required');
  return path;
}

export function addArchiveRoutes(router: Router, containers: Containers, log: (message: string) => void): void {
  // Made on the first request: docker cp's modules (tar writing and reading) are loaded only by a daemon that is asked for one.
  let made: ContainerArchives | undefined;
  const archives = async () => (made ??= new (await import('../../containers/archive.js')).ContainerArchives(containers));

  // HEAD comes here too (the router serves HEAD with a GET route): the stat alone.
  router.add('GET', '/containers/{id}/archive', async (request, response) => {
    const reference = request.params['id']!;
    const path = pathParameter(request.query);
    if (request.method === 'HEAD') {
      const stat = await (await archives()).stat(reference, path);
      response.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': pathStatHeader(stat) });
      response.end();
      return;
    }
    const { stat, tar } = await (await archives()).get(reference, path);
    sendTar(response, tar, `archive of ${path} in ${reference}`, log, { 'X-Docker-Container-Path-Stat': pathStatHeader(stat) });
  });

  router.add(
    'PUT',
    '/containers/{id}/archive',
    async (request, response) => {
      await (
        await archives()
      ).put(request.params['id']!, pathParameter(request.query), request.raw, {
        noOverwriteDirNonDir: queryBool(request.query, 'noOverwriteDirNonDir'),
      });
      response.writeHead(200);
      response.end();
    },
    { streamsBody: true },
  );

  router.add('GET', '/containers/{id}/export', async (request, response) => {
    const reference = request.params['id']!;
    sendTar(response, await (await archives()).export(reference), `export of ${reference}`, log);
  });

  router.add('GET', '/containers/{id}/changes', async (request, response) => {
    sendJson(response, 200, changesToWire(await (await archives()).changes(request.params['id']!)));
  });
}
