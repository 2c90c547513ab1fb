/** /containers, /exec and /networks/{id}/connect|disconnect routes: parse, one call, format. */
import type { Socket } from 'node:net';
import type { Containers, StreamOutput } from '../../containers/controller.js';
import type { ServerResponse } from 'node:http';
import { notFound } from '../../errors.js';
import { decodePathPart, parseFilters, queryBool, readJson, sendJson, sendNoContent, type Request, type Router } from '../http.js';
import type { UpgradeRoute } from '../server.js';
import {
  containerCreateFromWire,
  containerSummaryToWire,
  containerToWire,
  containerUpdateFromWire,
  endpointRequestFromConnect,
  execInspectToWire,
  execSpecFromWire,
} from '../wire/containers.js';
import { optionalBool } from '../wire/json-fields.js';
import { waitCondition } from '../../containers/wait.js';
import { unixNanosOf } from '../../model/timestamps.js';
import { addStatsAndPauseRoutes } from './stats-pause.js';

function upgradeHeaders(socket: Socket, tty: boolean): void {
  socket.write(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${tty ? 'raw-stream' : 'multiplexed-stream'}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
  );
}

const streamType = (tty: boolean) => (tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream');

function seconds(query: URLSearchParams, key: string, fallback: number): number {
  const value = query.get(key);
  return value === null || value === '' ? fallback : Number(value);
}

export function addContainerRoutes(router: Router, containers: Containers, log: (message: string) => void): UpgradeRoute {
  /** A stream that fails (a log file gone mid-read) ends its client's stream, never the daemon. */
  const relay = (what: string, source: StreamOutput, client: NodeJS.WritableStream & { destroy: () => void }, options?: { end?: boolean }) => {
    source.on('error', (error: Error) => {
      log(`${what}: ${error.message}`);
      client.destroy();
    });
    source.pipe(client, options);
  };

  router.add('POST', '/containers/create', async (request, response) => {
    const record = await containers.create(containerCreateFromWire(await readJson(request.raw), request.query.get('name')));
    sendJson(response, 201, { Id: record.id, Warnings: [] });
  });

  router.add('GET', '/containers/json', (request, response) => {
    const records = containers.list({
      all: queryBool(request.query, 'all'),
      latest: queryBool(request.query, 'latest'),
      limit: seconds(request.query, 'limit', -1),
      filters: parseFilters(request.query.get('filters')),
    });
    sendJson(
      response,
      200,
      records.map((record) => containerSummaryToWire(containers, record)),
    );
  });

  router.add('GET', '/containers/{id}/json', (request, response) => {
    sendJson(response, 200, containerToWire(containers, containers.get(request.params['id']!)));
  });

  router.add('POST', '/containers/{id}/start', async (request, response) => {
    sendNoContent(response, (await containers.start(request.params['id']!)) ? 204 : 304);
  });

  router.add('POST', '/containers/{id}/stop', async (request, response) => {
    sendNoContent(response, (await containers.stop(request.params['id']!, seconds(request.query, 't', 10))) ? 204 : 304);
  });

  router.add('POST', '/containers/{id}/restart', async (request, response) => {
    await containers.restart(request.params['id']!, seconds(request.query, 't', 10));
    sendNoContent(response);
  });

  router.add('GET', '/containers/{id}/top', async (request, response) => {
    const top = await containers.top(request.params['id']!, request.query.get('ps_args') ?? '');
    sendJson(response, 200, { Titles: top.titles, Processes: top.processes });
  });

  router.add('POST', '/containers/{id}/rename', async (request, response) => {
    await containers.rename(request.params['id']!, request.query.get('name') ?? '');
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/update', async (request, response) => {
    const { policy, resources } = containerUpdateFromWire(await readJson(request.raw));
    await containers.update(request.params['id']!, policy, resources);
    sendJson(response, 200, { Warnings: null });
  });

  addStatsAndPauseRoutes(router, containers, log);

  router.add('POST', '/containers/{id}/kill', async (request, response) => {
    await containers.kill(request.params['id']!, (request.query.get('signal') ?? 'KILL').replace(/^SIG/, ''));
    sendNoContent(response);
  });

  // docker rm --link: the link's name "/web/db" makes the path /containers//web/db (or /containers/web/db).
  const removeLink = async (request: Request, response: ServerResponse) => {
    if (!queryBool(request.query, 'link')) throw notFound(`No such container: /${request.params['parent']!}/${request.params['alias']!}`);
    await containers.removeLink(`/${request.params['parent']!}/${request.params['alias']!}`);
    sendNoContent(response);
  };
  router.add('DELETE', '/containers//{parent}/{alias}', removeLink);
  router.add('DELETE', '/containers/{parent}/{alias}', removeLink);

  router.add('DELETE', '/containers/{id}', async (request, response) => {
    if (queryBool(request.query, 'link')) {
      await containers.removeLink(request.params['id']!);
      sendNoContent(response);
      return;
    }
    await containers.remove(request.params['id']!, queryBool(request.query, 'force'), queryBool(request.query, 'v'));
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/wait', async (request, response) => {
    const record = containers.get(request.params['id']!);
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.flushHeaders();
    const code = await containers.wait(record.id, waitCondition(request.query.get('condition')));
    response.end(`${JSON.stringify({ Error: null, StatusCode: code })}\n`);
  });

  router.add('GET', '/containers/{id}/logs', (request, response) => {
    const tail = request.query.get('tail');
    const { record, output } = containers.logs(request.params['id']!, {
      follow: queryBool(request.query, 'follow'),
      stdout: queryBool(request.query, 'stdout'),
      stderr: queryBool(request.query, 'stderr'),
      // dockerd's strconv.Atoi: "all", or anything not a number, is every line.
      tail: tail === null || !/^[-+]?\d+$/.test(tail) ? undefined : Number(tail),
      since: unixNanosOf(request.query.get('since') ?? ''),
      until: unixNanosOf(request.query.get('until') ?? ''),
      timestamps: queryBool(request.query, 'timestamps'),
    });
    response.writeHead(200, { 'Content-Type': streamType(record.config.tty) });
    relay(`logs of ${record.id}`, output, response);
    response.on('close', () => (output as StreamOutput & { destroy?: () => void }).destroy?.());
  });

  router.add('POST', '/containers/{id}/exec', async (request, response) => {
    const instance = containers.createExec(request.params['id']!, execSpecFromWire(await readJson(request.raw)));
    sendJson(response, 201, { Id: instance.id });
  });

  router.add('GET', '/exec/{id}/json', (request, response) => {
    sendJson(response, 200, execInspectToWire(containers.inspectExec(request.params['id']!)));
  });

  router.add('POST', '/exec/{id}/start', async (request, response) => {
    const detach = optionalBool(await readJson(request.raw), 'Detach') ?? false;
    const { instance, output } = containers.startExec(request.params['id']!);
    if (detach) {
      output.resume();
      sendNoContent(response, 200);
      return;
    }
    response.writeHead(200, { 'Content-Type': streamType(instance.tty) });
    relay(`exec ${instance.id}`, output, response);
  });

  router.add('POST', '/exec/{id}/resize', (_request, response) => {
    sendNoContent(response, 200);
  });
  router.add('POST', '/containers/{id}/resize', (_request, response) => {
    sendNoContent(response, 200);
  });

  router.add('POST', '/networks/{id}/connect', async (request, response) => {
    const { container, request: endpointRequest } = endpointRequestFromConnect(await readJson(request.raw));
    await containers.connect(container, request.params['id']!, endpointRequest);
    sendNoContent(response, 200);
  });

  router.add('POST', '/networks/{id}/disconnect', async (request, response) => {
    const { container, force } = endpointRequestFromConnect(await readJson(request.raw));
    await containers.disconnect(container, request.params['id']!, force);
    sendNoContent(response, 200);
  });

  /** docker attach and docker run: the container's output on the hijacked connection, its stdin from it. */
  const attach = async (socket: Socket, reference: string, query: URLSearchParams): Promise<void> => {
    const record = containers.attachable(reference);
    upgradeHeaders(socket, record.config.tty);
    // dockerpty (compose run) attaches stdin, stdout and stderr on sockets of their own: each gets only its stream
    // (its stdin socket no output at all, as with Docker; dockerpty never reads it, so output sent there is lost).
    const asked = query.has('stdin') || query.has('stdout') || query.has('stderr');
    const attached = await containers.attach(
      record.id,
      asked ? { stdout: queryBool(query, 'stdout'), stderr: queryBool(query, 'stderr') } : { stdout: true, stderr: true },
    );
    if (attached === undefined) {
      socket.end();
      return;
    }
    if (attached.input !== undefined && queryBool(query, 'stdin')) socket.pipe(attached.input);
    relay(`attach to ${record.id}`, attached.output, socket);
    attached.output.on('end', attached.detached);
    socket.on('close', () => {
      attached.detached();
      (attached.output as StreamOutput & { destroy?: () => void }).destroy?.();
    });
  };

  /** docker exec -i/-t: the process's output on the hijacked connection, what the client types to its stdin. */
  const execOnSocket = async (socket: Socket, id: string, head: Buffer): Promise<void> => {
    let body: Record<string, unknown> = {};
    try {
      body = head.length === 0 ? {} : (JSON.parse(head.toString('utf8')) as Record<string, unknown>);
    } catch {
      body = {}; // the body of exec start is optional; what came with the upgrade may be only part of it
    }
    const tty = containers.execToStart(id).tty;
    upgradeHeaders(socket, tty);
    const { instance, output, input, exitCode } = containers.startExec(id);
    if (optionalBool(body, 'Detach') === true) {
      output.resume();
      return;
    }
    if (input !== undefined) socket.pipe(input);
    relay(`exec ${instance.id}`, output, socket, { end: false });
    await new Promise<void>((resolve) => output.on('end', () => resolve()));
    await exitCode.catch(() => undefined); // a failed launch already wrote Docker's message to the output
    socket.end();
  };

  return async (_raw, socket, head, path, query) => {
    socket.on('error', () => undefined); // a client gone mid-stream: nothing left to tell it
    const attachPath = /^\/containers\/([^/]+)\/attach$/.exec(path);
    if (attachPath !== null) {
      await attach(socket, decodePathPart(attachPath[1]!), query);
      return true;
    }
    const execPath = /^\/exec\/([^/]+)\/start$/.exec(path);
    if (execPath !== null) {
      await execOnSocket(socket, decodePathPart(execPath[1]!), head);
      return true;
    }
    return false;
  };
}
