/** /containers, /exec and /networks/{id}/connect|disconnect routes. */
import type { Socket } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { SkiffError } from '../../errors.js';
import { randomBytes } from 'node:crypto';
import type { Containers } from '../../engine/containers.js';
import type { ContainerRuntime } from '../../runtime/containers.js';
import { invalid, notFound } from '../../errors.js';
import { decodePathPart, parseFilters, queryBool, readJson, sendJson, sendNoContent, type Router } from '../http.js';
import { containerCreateFromWire, containerSummaryToWire, containerToWire, endpointRequestFromConnect } from '../wire/containers.js';
import { optionalBool, optionalString, optionalStringArray } from '../wire/json-fields.js';

interface ExecRecord { id: string; containerId: string; args: string[]; env: string[]; tty: boolean; attachStdin: boolean; workingDir: string; running: boolean; exitCode: number | null; pid: number }

/** Hijacked streams (attach, exec start) arrive as HTTP upgrades. */
export type UpgradeHandler = (request: IncomingMessage, socket: Socket, head: Buffer, path: string, query: URLSearchParams) => Promise<boolean>;

function upgradeHeaders(socket: Socket, tty: boolean): void {
  socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.${tty ? 'raw-stream' : 'multiplexed-stream'}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`);
}

export function addContainerRoutes(router: Router, containers: Containers, runtime: ContainerRuntime, log: (message: string) => void): UpgradeHandler {
  /** A stream that fails (a log file gone mid-read) ends its client's stream, never the daemon. */
  const relay = (what: string, source: NodeJS.ReadableStream, client: NodeJS.WritableStream & { destroy: () => void }, options?: { end?: boolean }) => {
    source.on('error', (error: Error) => {
      log(`${what}: ${error.message}`);
      client.destroy();
    });
    source.pipe(client, options);
  };
  const execs = new Map<string, ExecRecord>();

  /** Starts an exec instance; its record learns the exit code when the process ends (GET /exec/{id}/json). */
  const launchExec = (exec: ExecRecord) => {
    const running = runtime.exec(exec.containerId, { args: exec.args, env: exec.env, tty: exec.tty, cwd: exec.workingDir || undefined, openStdin: exec.attachStdin });
    exec.running = true;
    void running.exitCode.then((code) => { exec.exitCode = code; exec.running = false; }, () => { exec.exitCode = 126; exec.running = false; });
    return running;
  };

  router.add('POST', '/containers/create', async (request, response) => {
    const record = await containers.create(containerCreateFromWire(await readJson(request.raw), request.query.get('name')));
    sendJson(response, 201, { Id: record.id, Warnings: [] });
  });

  router.add('GET', '/containers/json', (request, response) => {
    const all = queryBool(request.query, 'all');
    const filters = parseFilters(request.query.get('filters'));
    const records = containers.list()
      .filter((record) => all || record.state.status === 'running' || queryBool(request.query, 'latest') || Number(request.query.get('limit') ?? '-1') > 0)
      .filter((record) => [...filters].every(([key, values]) => values.some((value) => {
        if (key === 'name') return record.name.includes(value.replace(/^\//, ''));
        if (key === 'id') return record.id.startsWith(value);
        if (key === 'status') return record.state.status === value;
        if (key === 'network') return containers.networkOf(record).some(({ network }) => network.name === value || network.id === value);
        if (key === 'label') { const [k, v] = value.split('=', 2) as [string, string | undefined]; return k in record.config.labels && (v === undefined || record.config.labels[k] === v); }
        throw invalid(`invalid filter '${key}'`);
      })))
      .sort((a, b) => b.created.localeCompare(a.created));
    // docker ps -l / -n N: the newest N, stopped ones included.
    const limit = queryBool(request.query, 'latest') ? 1 : Number(request.query.get('limit') ?? '-1');
    const limited = limit > 0 ? records.slice(0, limit) : records;
    sendJson(response, 200, limited.map((record) => containerSummaryToWire(containers, record)));
  });

  router.add('GET', '/containers/{id}/json', (request, response) => {
    sendJson(response, 200, containerToWire(containers, containers.get(request.params['id']!)));
  });

  router.add('POST', '/containers/{id}/start', async (request, response) => {
    const record = containers.get(request.params['id']!);
    if (record.state.status === 'running') { sendNoContent(response, 304); return; }
    await containers.start(record.id);
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/stop', async (request, response) => {
    const record = containers.get(request.params['id']!);
    if (record.state.status !== 'running') { sendNoContent(response, 304); return; }
    await containers.stop(record.id, Number(request.query.get('t') ?? '10'));
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/restart', async (request, response) => {
    const record = containers.get(request.params['id']!);
    await containers.stop(record.id, Number(request.query.get('t') ?? '10'));
    await containers.start(record.id);
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/kill', async (request, response) => {
    await containers.kill(request.params['id']!, (request.query.get('signal') ?? 'KILL').replace(/^SIG/, ''));
    sendNoContent(response);
  });

  router.add('DELETE', '/containers/{id}', async (request, response) => {
    await containers.remove(request.params['id']!, queryBool(request.query, 'force'));
    sendNoContent(response);
  });

  router.add('POST', '/containers/{id}/wait', async (request, response) => {
    const record = containers.get(request.params['id']!);
    const condition = request.query.get('condition') ?? 'not-running';
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.flushHeaders();
    // docker run asks for next-exit / removed before it starts the container.
    const code = condition === 'not-running' ? await containers.wait(record.id) : await containers.waitNextExit(record.id);
    response.end(`${JSON.stringify({ StatusCode: code, Error: null })}\n`);
  });

  router.add('GET', '/containers/{id}/logs', (request, response) => {
    const record = containers.get(request.params['id']!);
    const tail = request.query.get('tail');
    const stream = runtime.logs(record.id, {
      follow: queryBool(request.query, 'follow'), stdout: queryBool(request.query, 'stdout'), stderr: queryBool(request.query, 'stderr'),
      tail: tail === null || tail === 'all' ? undefined : Number(tail),
    });
    response.writeHead(200, { 'Content-Type': record.config.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    relay(`logs of ${record.id}`, stream, response);
    response.on('close', () => (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.());
  });

  router.add('POST', '/containers/{id}/exec', async (request, response) => {
    const record = containers.get(request.params['id']!);
    if (record.state.status !== 'running') throw new SkiffError('conflict', `Container ${record.id} is not running`);
    const body = await readJson(request.raw);
    const args = optionalStringArray(body, 'Cmd') ?? [];
    if (args.length === 0) throw invalid('No exec command specified');
    const id = randomBytes(32).toString('hex');
    execs.set(id, { id, containerId: record.id, args, env: optionalStringArray(body, 'Env') ?? [], tty: optionalBool(body, 'Tty') ?? false, attachStdin: optionalBool(body, 'AttachStdin') ?? false, workingDir: optionalString(body, 'WorkingDir') ?? '', running: false, exitCode: null, pid: 0 });
    sendJson(response, 201, { Id: id });
  });

  router.add('GET', '/exec/{id}/json', (request, response) => {
    const exec = execs.get(request.params['id']!);
    if (exec === undefined) throw notFound(`No such exec instance: ${request.params['id']}`);
    sendJson(response, 200, { ID: exec.id, Running: exec.running, ExitCode: exec.exitCode, ContainerID: exec.containerId, Pid: exec.pid, OpenStdin: false, OpenStdout: true, OpenStderr: true, ProcessConfig: { entrypoint: exec.args[0], arguments: exec.args.slice(1), tty: exec.tty, privileged: false, user: '' } });
  });

  router.add('POST', '/exec/{id}/start', async (request, response) => {
    const exec = execs.get(request.params['id']!);
    if (exec === undefined) throw notFound(`No such exec instance: ${request.params['id']}`);
    const body = await readJson(request.raw);
    const running = launchExec(exec);
    if (optionalBool(body, 'Detach')) { running.output.resume(); sendNoContent(response, 200); return; }
    response.writeHead(200, { 'Content-Type': exec.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    relay(`exec ${exec.id}`, running.output, response);
  });

  router.add('POST', '/exec/{id}/resize', (_request, response) => { sendNoContent(response, 200); });
  router.add('POST', '/containers/{id}/resize', (_request, response) => { sendNoContent(response, 200); });

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

  const startExec = async (exec: ExecRecord, socket: Socket | undefined, detach: boolean): Promise<void> => {
    const running = launchExec(exec);
    if (socket === undefined || detach) { running.output.resume(); return; }
    // docker exec -i: what the client types goes to the process's stdin over the same hijacked connection.
    if (running.input !== undefined) socket.pipe(running.input);
    relay(`exec ${exec.id}`, running.output, socket, { end: false });
    await new Promise<void>((resolve) => running.output.on('end', () => resolve()));
    await running.exitCode.catch(() => undefined);
    socket.end();
  };

  return async (_raw, socket, head, path, query) => {
    const attach = /^\/containers\/([^/]+)\/attach$/.exec(path);
    if (attach !== null) {
      const record = containers.get(decodePathPart(attach[1]!));
      upgradeHeaders(socket, record.config.tty);
      // docker run attaches before it starts the container: wait for that start.
      const attachedBeforeStart = record.state.status !== 'running';
      if (attachedBeforeStart) {
        // Counted before the start, so that a --rm container that ends at once waits for this reader.
        const waiting = containers.trackAttach(record.id);
        await containers.waitForStart(record.id, containers.startCount(record.id));
        waiting();
      }
      if (!containers.isRunningOrExited(record.id)) { socket.end(); return true; }
      const detached = containers.trackAttach(record.id);
      const { output, input } = runtime.attach(record.id, { fromStart: attachedBeforeStart });
      if (input !== undefined && queryBool(query, 'stdin')) socket.pipe(input as NodeJS.WritableStream);
      relay(`attach to ${record.id}`, output, socket);
      output.on('end', detached);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        detached();
        (output as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      });
      return true;
    }
    const exec = /^\/exec\/([^/]+)\/start$/.exec(path);
    if (exec !== null) {
      const record = execs.get(decodePathPart(exec[1]!));
      if (record === undefined) throw notFound(`No such exec instance: ${exec[1]}`);
      let body: { Detach?: boolean } = {};
      try { body = head.length === 0 ? {} : JSON.parse(head.toString('utf8')) as { Detach?: boolean }; } catch { /* the body is optional */ }
      upgradeHeaders(socket, record.tty);
      await startExec(record, socket, body.Detach === true);
      return true;
    }
    return false;
  };
}
