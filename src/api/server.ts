/**
 * The Docker Engine API over a unix socket: version prefix and negotiation,
 * routing, Docker's error shape. Handlers decide nothing; the engine does.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { asSkiffError, invalid, notFound, SkiffError } from '../errors.js';
import { bodyTooLarge, MAX_BODY_BYTES, Router, sendError } from './http.js';
import { API_VERSION, compareApiVersions, MIN_API_VERSION, ENGINE_VERSION } from './version.js';

const VERSION_PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

/**
 * A client that trickles its request headers (slowloris) is answered 408 and
 * dropped after 10 s, checked every second, so it holds no descriptor for
 * long; a whole request (docker import's tar included) may take 5 minutes.
 * Answers are not limited: /events and logs -f stream for as long as asked.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
const CONNECTION_LIMITS = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 300_000, connectionsCheckingInterval: 1_000 };
/**
 * Connections waiting to be accepted. Node's default (511) makes a unix
 * socket refuse the 512th client of a burst outright (EAGAIN); the kernel
 * caps this at net.core.somaxconn (4096), as Go's listeners in dockerd ask.
 */
const LISTEN_BACKLOG = 4096;

function dockerGroupId(): number | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith('docker:'));
    const gid = line?.split(':')[2];
    return gid === undefined ? undefined : Number(gid);
  } catch {
    return undefined; // no /etc/group: the socket stays root's alone
  }
}

/** Status, reason phrase and message for a request Node's HTTP parser refused. */
function clientErrorAnswer(code: string | undefined): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW')
    return [431, 'Request Header Fields Too Large', 'request header fields too large: the request line and headers may take at most 16 KiB'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout', `request timed out: headers must arrive within ${HEADERS_TIMEOUT_MS / 1000} s`];
  return [400, 'Bad Request', `malformed HTTP request (${code ?? 'unknown parse error'})`];
}

/** Handles a hijacked (Upgrade: tcp) request; false when the path is not one. */
export type UpgradeRoute = (request: IncomingMessage, socket: Socket, head: Buffer, path: string, query: URLSearchParams) => Promise<boolean>;

interface RequestTarget {
  path: string;
  query: URLSearchParams;
  /** The API version the client asked for (path prefix /v1.NN), or the server's. */
  apiVersion: string;
}

/** The path without its version prefix, the query and the version; a target that is no URL is the client's error. */
function parseTarget(rawUrl: string | undefined): RequestTarget {
  let url: URL;
  try {
    url = new URL(rawUrl ?? '/', 'http://skiff');
  } catch {
    throw invalid(`invalid request URI "${rawUrl ?? ''}"`);
  }
  const versioned = VERSION_PREFIX.exec(url.pathname);
  return versioned === null
    ? { path: url.pathname, query: url.searchParams, apiVersion: API_VERSION }
    : { path: versioned[2]!, query: url.searchParams, apiVersion: versioned[1]! };
}

/** Server certificate, key and the CA clients' certificates must chain to (mutual TLS). */
export interface ServerTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * The API server; with tls, an HTTPS server that asks every client for a
 * certificate and refuses the handshake of any without one signed by the CA
 * (dockerd's --tlsverify), so nothing reaches a route unauthenticated.
 */
export function createApiServer(router: Router, log: (message: string) => void, upgrades: UpgradeRoute[] = [], tls?: ServerTls): Server {
  const handler: RequestListener = (raw, response) => {
    response.setHeader('Api-Version', API_VERSION);
    response.setHeader('Docker-Experimental', 'false');
    response.setHeader('Ostype', 'linux');
    response.setHeader('Server', `Docker/${ENGINE_VERSION} (linux)`);
    // A client gone mid-answer (write after its end, a reset) concerns that client only.
    response.on('error', (error) => log(`${raw.method ?? 'GET'} ${raw.url ?? ''}: answering: ${error.message}`));
    const method = raw.method ?? 'GET';
    let target: RequestTarget | undefined;
    const handle = async () => {
      target = parseTarget(raw.url);
      const { path, query, apiVersion } = target;
      if (compareApiVersions(apiVersion, API_VERSION) > 0) {
        throw invalid(`client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`);
      }
      if (compareApiVersions(apiVersion, MIN_API_VERSION) < 0) {
        throw invalid(
          `client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
        );
      }
      const matched = router.match(method, path);
      if (matched === undefined) throw notFound('page not found');
      if (matched === 'method-not-allowed') throw new SkiffError('invalid', 'method not allowed', { status: 405 });
      const declared = Number(raw.headers['content-length'] ?? 0);
      if (matched.options.streamsBody !== true && declared > MAX_BODY_BYTES) throw bodyTooLarge(declared);
      await matched.handler({ method, path, params: matched.params, query, raw, apiVersion }, response);
    };
    handle().catch((error: unknown) => {
      if (!(error instanceof SkiffError) || error.status >= 500)
        log(`${method} ${target?.path ?? raw.url ?? ''}: ${error instanceof Error ? error.message : String(error)}`);
      sendError(response, error);
    });
  };
  // https.Server is an http.Server with TLS underneath: the same events, the same connection handling.
  const server =
    tls === undefined
      ? createServer(CONNECTION_LIMITS, handler)
      : // node:https (and TLS under it) is loaded only by a daemon that listens with TLS.
        ((createRequire(import.meta.url)('node:https') as typeof import('node:https')).createServer(
          { ...CONNECTION_LIMITS, ...tls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
          handler,
        ) as unknown as Server);
  server.on('upgrade', (raw: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => undefined); // a hijacked client gone mid-stream: the route's own handlers end its streams
    const handle = async () => {
      const { path, query } = parseTarget(raw.url);
      for (const route of upgrades) if (await route(raw, socket, head, path, query)) return;
      throw notFound('page not found');
    };
    handle().catch((error: unknown) => {
      const failure = asSkiffError(error);
      if (failure.status >= 500) log(`upgrade ${raw.url ?? ''}: ${failure.message}`);
      const body = JSON.stringify({ message: failure.message });
      socket.end(`HTTP/1.1 ${failure.status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  });
  // Requests Node's parser refuses before any route (headers too large, trickled past the timeout, not HTTP):
  // answered in Docker's error shape, a JSON message, instead of Node's empty body.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const [status, reason, message] = clientErrorAnswer(error.code);
    const body = JSON.stringify({ message });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  // Out of descriptors at accept (EMFILE under a flood of clients): the clients wait, the daemon lives.
  server.on('error', (error) => log(`API server: ${error.message}`));
  return server;
}

/** Listens on a TCP address (a TLS server: see createApiServer). */
export async function listenTcp(server: Server, address: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: address, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Listens on a unix socket readable and writable by root (and group docker where it exists), as dockerd does. */
export async function listenUnix(server: Server, socketPath: string): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true });
  if (existsSync(socketPath)) rmSync(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: socketPath, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const gid = dockerGroupId();
  if (gid !== undefined) chownSync(socketPath, 0, gid);
  chmodSync(socketPath, 0o660);
}
