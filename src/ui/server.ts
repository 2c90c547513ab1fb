/**
 * The topology page's server (`skiff daemon --ui`): the page's static files,
 * built into dist/ui, and a read-only window on the daemon's API under /api
 * (networks, containers, events, trace). Nothing else of the API is reachable
 * from a browser: no route that changes anything, and requests whose Host is
 * not the page's own (DNS rebinding) are refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forbidden, notFound, SkiffError } from '../errors.js';
import { sendError, type Router } from '../api/http.js';
import { API_VERSION } from '../api/version.js';
import type { UiAddress } from './address.js';

const STATIC_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
};
/** The API paths the page reads; everything else is not there. */
const READ_ONLY_API = [/^\/networks$/, /^\/networks\/[^/]+$/, /^\/containers\/json$/, /^\/containers\/[^/]+\/json$/, /^\/events$/, /^\/skiff\/trace$/];

function allowedHosts(address: UiAddress): Set<string> {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return new Set([`${host}:${address.port}`, `localhost:${address.port}`]);
}

async function serveStatic(path: string, response: ServerResponse): Promise<void> {
  const file = normalize(path === '/' ? '/index.html' : path);
  if (file.includes('..') || !(extname(file) in CONTENT_TYPES)) throw notFound('page not found');
  let body: Buffer;
  try {
    body = await readFile(join(STATIC_DIR, file));
  } catch {
    throw notFound(`${file} not found (is the page built? npm run build)`); // a missing file is a 404, whatever the reason
  }
  response.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(file)]!, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
  response.end(body);
}

async function handle(raw: IncomingMessage, response: ServerResponse, router: Router, hosts: Set<string>): Promise<void> {
  if (!hosts.has(raw.headers.host ?? '')) throw forbidden(`unexpected Host "${raw.headers.host ?? ''}": open the page by its address`);
  if (raw.method !== 'GET' && raw.method !== 'HEAD') throw new SkiffError('invalid', 'the topology page is read-only', { status: 405 });
  const url = new URL(raw.url ?? '/', 'http://skiff');
  if (!url.pathname.startsWith('/api/')) return serveStatic(url.pathname, response);
  const path = url.pathname.slice('/api'.length);
  const matched = READ_ONLY_API.some((pattern) => pattern.test(path)) ? router.match('GET', path) : undefined;
  if (matched === undefined || matched === 'method-not-allowed') throw notFound('page not found');
  await matched.handler({ method: 'GET', path, params: matched.params, query: url.searchParams, raw, apiVersion: API_VERSION }, response);
}

export async function startUiServer(address: UiAddress, router: Router, log: (message: string) => void): Promise<Server> {
  const hosts = allowedHosts(address);
  const server = createServer((raw, response) => {
    response.on('error', (error) => log(`ui ${raw.url ?? ''}: answering: ${error.message}`));
    handle(raw, response, router, hosts).catch((error: unknown) => {
      if (!(error instanceof SkiffError) || error.status >= 500) log(`ui ${raw.url ?? ''}: ${error instanceof Error ? error.message : String(error)}`);
      sendError(response, error);
    });
  });
  server.on('error', (error) => log(`ui server: ${error.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
