/**
 * The Docker Engine API over a unix socket: version prefix and negotiation,
 * routing, Docker's error shape. Handlers decide nothing; the engine does.
 */
import { createServer, type Server } from 'node:http';
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

export function createApiServer(router: Router, log: (message: string) => void): Server {
  return createServer((raw, response) => {
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
