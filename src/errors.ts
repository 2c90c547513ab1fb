/**
 * One error type for the whole daemon: an HTTP status (as Docker's API would
 * answer), the user-facing message (Docker's exact words where Docker has
 * them) and an optional cause chain for logs.
 */
export type ErrorKind =
  | 'invalid' // 400: bad input
  | 'forbidden' // 403: operation not allowed on this object (predefined networks)
  | 'notFound' // 404
  | 'conflict' // 409: name in use, object busy
  | 'unavailable' // 503/500: kernel or system refused
  | 'notImplemented' // 501: a Docker feature skiff does not carry out
  | 'internal'; // 500

const statusOfKind: Record<ErrorKind, number> = {
  invalid: 400,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  unavailable: 500,
  notImplemented: 501,
  internal: 500,
};

export class SkiffError extends Error {
  readonly kind: ErrorKind;
  readonly status: number;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SkiffError';
    this.kind = kind;
    this.status = options?.status ?? statusOfKind[kind];
  }
}

export const invalid = (message: string, cause?: unknown) => new SkiffError('invalid', message, { cause });
export const notFound = (message: string) => new SkiffError('notFound', message);
export const conflict = (message: string) => new SkiffError('conflict', message);
export const forbidden = (message: string) => new SkiffError('forbidden', message);

/** Any thrown value as a SkiffError: unknown failures become 500s with their message kept. */
export function asSkiffError(error: unknown): SkiffError {
  if (error instanceof SkiffError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SkiffError('internal', message, { cause: error });
}
