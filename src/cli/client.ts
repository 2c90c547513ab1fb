/** A minimal Engine API client over the daemon's unix socket. */
import { request as httpRequest } from 'node:http';
import { API_VERSION } from '../api/version.js';

export interface ApiResponse {
  status: number;
  body: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** unix:///run/skiff/skiff.sock → /run/skiff/skiff.sock */
export function socketPathFromHost(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new Error(`unsupported host "${host}": skiff listens on unix sockets (unix:///path)`);
}

export class Client {
  constructor(private readonly socketPath: string) {}

  async call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        {
          socketPath: this.socketPath,
          method,
          path: `/v${API_VERSION}${path}`,
          headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              /* plain text body */
            }
            const status = response.statusCode ?? 0;
            if (status >= 400) {
              const message = (parsed as { message?: string } | undefined)?.message ?? text;
              reject(new ApiError(status, message));
              return;
            }
            resolve({ status, body: parsed });
          });
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        reject(new Error(`Cannot connect to the skiff daemon at unix://${this.socketPath}. Is the daemon running? (${error.code ?? error.message})`));
      });
      request.end(payload);
    });
  }
}
