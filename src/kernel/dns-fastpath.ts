/**
 * The addon's UDP fast path for the container resolvers (native/dns-fastpath.c),
 * as src/dns/server.ts drives it: a resolver's UDP socket received on the
 * event loop's own thread, queries asked before answered there with the reply
 * TypeScript kept for them, the rest handed over in one call per readiness.
 */
import { loadAddon } from './addon.js';

export interface FastPathBinding {
  /** Serves fd (the fast path owns it from now on); onQueries gets what it could not answer, in batches (forEachQuery reads them). */
  fastpathOpen(fd: number, onQueries: (batch: Buffer) => void): number;
  /** Sends reply to asker from the listener's socket: 0, or the errno of a send the kernel refused. keep (the query): answer its bytes after the id with reply from now on. */
  fastpathSend(id: number, asker: Buffer, reply: Buffer, keep: Buffer | null): number;
  /** Drops every kept reply, of every listener. */
  fastpathClear(): void;
  /** Stops receiving; the socket is closed once the event loop let go of it. An unknown id is no error. */
  fastpathClose(id: number): void;
}

/** An asker in the relay's form (family, 0, port big-endian, 16 address bytes). */
const ASKER_SIZE = 20;
const QUERY_HEADER_SIZE = 2 + ASKER_SIZE;

/** The fast path's functions, from the addon (loaded on first use). */
export function fastPathBinding(): FastPathBinding {
  return loadAddon() as unknown as FastPathBinding;
}

/** Calls visit for each query of a batch (u16 little-endian length, asker, bytes); both are views into batch. A batch cut short ends the walk. */
export function forEachQuery(batch: Buffer, visit: (asker: Buffer, message: Buffer) => void): void {
  let offset = 0;
  while (offset + QUERY_HEADER_SIZE <= batch.length) {
    const length = batch.readUInt16LE(offset);
    const start = offset + QUERY_HEADER_SIZE;
    if (start + length > batch.length) return;
    visit(batch.subarray(offset + 2, start), batch.subarray(start, start + length));
    offset = start + length;
  }
}
