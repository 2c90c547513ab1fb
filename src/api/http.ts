/**
 * Small HTTP plumbing for the Engine API: a router over method + path
 * pattern, JSON bodies, Docker's error shape ({"message": "..."}).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { asSkiffError, invalid, SkiffError } from '../errors.js';

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  raw: IncomingMessage;
  /** The API version the client asked for (path prefix /v1.NN), or the server's. */
  apiVersion: string;
}

export type Handler = (request: Request, response: ServerResponse) => Promise<void> | void;

export interface RouteOptions {
  /** The body is a stream of any size (docker import's tar), read by the handler: no JSON body limit. */
  streamsBody?: boolean;
}

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
  options: RouteOptions;
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler, options: RouteOptions = {}): this {
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, pattern, names, handler, options });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string>; options: RouteOptions } | 'method-not-allowed' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const found = route.pattern.exec(path);
      if (found === null) continue;
      pathMatched = true;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, index) => {
        params[name] = decodePathPart(found[index + 1] ?? '');
      });
      return { handler: route.handler, params, options: route.options };
    }
    return pathMatched ? 'method-not-allowed' : undefined;
  }
}

export function decodePathPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`invalid escape in request path: "${part}"`);
  }
}

/** The largest body a JSON route reads (Docker's create bodies are a few kB). */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** 413, and the connection closes after the answer: the rest of a huge body is never read. */
export function bodyTooLarge(size: number | 'chunked'): SkiffError {
  const what = size === 'chunked' ? 'request body' : `request body of ${size} bytes`;
  return new SkiffError('invalid', `${what} too large: at most ${MAX_BODY_BYTES} bytes`, { status: 413 });
}

export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    // A chunked body has no Content-Length to refuse up front: counted as it comes.
    if (size > MAX_BODY_BYTES) throw bodyTooLarge('chunked');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; empty means {}. Errors read like Go's encoding/json ones Docker returns. */
export async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  const body = (await readBody(request)).toString('utf8');
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw invalid(`invalid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalid('invalid JSON: the body must be an object');
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

export function sendNoContent(response: ServerResponse, status = 204): void {
  response.writeHead(status);
  response.end();
}

export function sendError(response: ServerResponse, error: unknown): void {
  const failure = asSkiffError(error);
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (failure.status === 413) closeAfterAnswer(response);
  sendJson(response, failure.status, { message: failure.message });
}

/** How long a refused body may keep arriving (and be dropped) after the answer, so its sender can read that answer. */
const LINGER_MS = 500;

/**
 * Refused before its body was read (413): once the answer is out, this side
 * of the connection ends, the rest of the body is read and dropped for a
 * moment, then the connection goes — Go's net/http does the same
 * (closeWriteAndWait). Closing at once would make the sender's next write
 * fail, and many clients then never read the answer.
 */
function closeAfterAnswer(response: ServerResponse): void {
  const socket = response.socket;
  if (socket === null) return;
  response.once('finish', () => {
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}

/** Docker's filters query parameter: {"key":{"value":true}} or the older {"key":["value"]}. */
export function parseFilters(raw: string | null): Map<string, string[]> {
  const filters = new Map<string, string[]>();
  if (raw === null || raw === '') return filters;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter '${raw}'`);
  }
  if (parsed === null || typeof parsed !== 'object') throw invalid(`invalid filter '${raw}'`);
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) filters.set(key, value.map(String));
    else if (value !== null && typeof value === 'object') filters.set(key, Object.keys(value));
    else throw invalid(`invalid filter '${raw}'`);
  }
  return filters;
}

export function queryBool(query: URLSearchParams, key: string): boolean {
  const value = query.get(key);
  return value === '1' || value === 'true' || value === 'True';
}
