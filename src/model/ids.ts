import { randomBytes } from './random.js';

/** A Docker-style object id: 64 lowercase hex digits. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** RFC 3339 with nanoseconds, as Docker prints Created. */
export function timestampNow(): string {
  const now = new Date();
  const nanos = String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  return now.toISOString().replace(/\.(\d{3})Z$/, (_, millis: string) => `.${millis}${nanos}Z`);
}
