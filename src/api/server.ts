/**
 * The Docker Engine API over a unix socket: version prefix and negotiation,
 * routing, Docker's error shape. Handlers decide nothing; the engine does.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { invalid, notFound, SkiffError } from '../errors.js';
import { Router, sendError } from './http.js';
import { API_VERSION, compareApiVersions, MIN_API_VERSION, ENGINE_VERSION } from './version.js';

const VERSION_PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

function dockerGroupId(): number | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((entry) => entry.startsWith('docker:'));
    const gid = line?.split(':')[2];
    return gid === undefined ? undefined : Number(gid);
  } catch {
    return undefined;
  }
}

/** Handles a hijacked (Upgrade: tcp) request; false when the path is not one. */
export type UpgradeRoute = (request: IncomingMessage, socket: Socket, head: Buffer, path: string, query: URLSearchParams) => Promise<boolean>;

function stripVersion(rawUrl: string | undefined): { path: string; query: URLSearchParams } {
  const url = new URL(rawUrl ?? '/', 'http://skiff');
  const versioned = VERSION_PREFIX.exec(url.pathname);
  return { path: versioned === null ? url.pathname : versioned[2]!, query: url.searchParams };
}

export function createApiServer(router: Router, log: (message: string) => void, upgrades: UpgradeRoute[] = []): Server {
  const server = createServer((raw, response) => {
    response.setHeader('Api-Version', API_VERSION);
    response.setHeader('Docker-Experimental', 'false');
    response.setHeader('Ostype', 'linux');
    response.setHeader('Server', `Docker/${ENGINE_VERSION} (linux)`);
    const url = new URL(raw.url ?? '/', 'http://skiff');
    let path = url.pathname;
    let apiVersion = API_VERSION;
    const versioned = VERSION_PREFIX.exec(path);
    if (versioned !== null) {
      apiVersion = versioned[1]!;
      path = versioned[2]!;
    }
    const method = raw.method ?? 'GET';
    const handle = async () => {
      if (compareApiVersions(apiVersion, API_VERSION) > 0) {
        throw invalid(`client version ${apiVersion} is too new. Maximum supported API version is ${API_VERSION}`);
      }
      if (compareApiVersions(apiVersion, MIN_API_VERSION) < 0) {
        throw invalid(`client version ${apiVersion} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
      }
      const matched = router.match(method, path);
      if (matched === undefined) throw notFound('page not found');
      if (matched === 'method-not-allowed') throw new SkiffError('invalid', 'method not allowed', { status: 405 });
      await matched.handler({ method, path, params: matched.params, query: url.searchParams, raw, apiVersion }, response);
    };
    handle().catch((error: unknown) => {
      if (!(error instanceof SkiffError) || error.status >= 500) log(`${method} ${path}: ${error instanceof Error ? error.message : String(error)}`);
      sendError(response, error);
    });
  });
  server.on('upgrade', (raw: IncomingMessage, socket: Socket, head: Buffer) => {
    const { path, query } = stripVersion(raw.url);
    socket.on('error', () => undefined);
    const handle = async () => {
      for (const route of upgrades) if (await route(raw, socket, head, path, query)) return;
      throw notFound('page not found');
    };
    handle().catch((error: unknown) => {
      const failure = error instanceof SkiffError ? error : new SkiffError('internal', String(error));
      const body = JSON.stringify({ message: failure.message });
      socket.end(`HTTP/1.1 ${failure.status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  });
  return server;
}

/** Listens on a unix socket readable and writable by root (and group docker where it exists), as dockerd does. */
export async function listenUnix(server: Server, socketPath: string): Promise<void> {
  mkdirSync(dirname(socketPath), { recursive: true });
  if (existsSync(socketPath)) rmSync(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  const gid = dockerGroupId();
  if (gid !== undefined) chownSync(socketPath, 0, gid);
  chmodSync(socketPath, 0o660);
}
