/**
 * Reads a container log file (Docker frames written by the shim) as a stream:
 * what is there now (optionally only the last N lines), then, when following,
 * whatever is appended until the container has exited and the file is drained.
 * As Docker's json-file reader: --tail counts lines before --since/--until
 * choose among them, a following reader ends once past --until, and
 * --timestamps puts each line's time before it.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeFrames, renderRecords, splitLines, type LogRecord } from './log-frames.js';

/** What a docker logs client asks for. */
export interface LogOptions {
  follow: boolean;
  stdout: boolean;
  stderr: boolean;
  tail?: number;
  /** Lines read at or after this time only (Unix nanoseconds). */
  since?: bigint;
  /** Lines read at or before this time only (Unix nanoseconds); a following reader ends after it. */
  until?: bigint;
  timestamps?: boolean;
}

export interface LogReadOptions extends LogOptions {
  logPath: string;
  exitStatusPath: string;
  tty: boolean;
  /** Byte offset to start from (attach starts at the current end). */
  fromOffset?: number;
}

/** A line without a time (written by an older shim) counts as written at the epoch. */
const timeOf = (record: LogRecord) => record.time ?? 0n;
const nowNanos = () => BigInt(Date.now()) * 1_000_000n;

const FOLLOW_POLL_MS = 100;

/**
 * The log file of one run, held open: a restart deletes the bundle and its
 * log (runc wants a fresh one), and a reader still draining the run it
 * follows must get that run's last output even so (compose's dockerpty
 * starts an exited one-off again at once).
 */
class RunLog {
  private handle: FileHandle | undefined;
  private inode: number | undefined;

  constructor(private readonly path: string) {}

  /** Bytes from offset to the current end ('' while no log file exists yet). */
  async readFrom(offset: number): Promise<Buffer> {
    if (this.handle === undefined) {
      try {
        this.handle = await open(this.path, 'r');
      } catch {
        return Buffer.alloc(0); // not started yet: no log file
      }
      this.inode = (await this.handle.stat()).ino;
    }
    const { size } = await this.handle.stat();
    if (size <= offset) return Buffer.alloc(0);
    const buffer = Buffer.alloc(size - offset);
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, offset);
    return buffer.subarray(0, bytesRead);
  }

  /** The file held is no longer the one at the path: a new run (or a removal) replaced it, so the run held is over. */
  replaced(): boolean {
    if (this.inode === undefined) return false;
    try {
      return statSync(this.path).ino !== this.inode;
    } catch {
      return true;
    }
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}

async function* logChunks(options: LogReadOptions): AsyncGenerator<Buffer> {
  const render = { stdout: options.stdout, stderr: options.stderr, tty: options.tty, timestamps: options.timestamps };
  const { since, until } = options;
  const inWindow = (record: LogRecord) => (since === undefined || timeOf(record) >= since) && (until === undefined || timeOf(record) <= until);
  const log = new RunLog(options.logPath);
  try {
    const initial = await log.readFrom(options.fromOffset ?? 0);
    let offset = (options.fromOffset ?? 0) + initial.length;
    const first = decodeFrames(initial);
    let rest = first.rest;
    offset -= rest.length;
    let lines = splitLines(first.records);
    if (options.tail !== undefined && options.tail >= 0) lines = options.tail === 0 ? [] : lines.slice(-options.tail);
    const head = renderRecords(lines.filter(inWindow), render);
    if (head.length > 0) yield head;
    if (!options.follow) return;
    for (;;) {
      // Taken before the read: output the read finds was written before this moment.
      const pastUntil = until !== undefined && nowNanos() > until;
      // Seen before an empty read, the run is over: the shim writes exit-status only after the last output, and a
      // restart or removal deletes the log only after the shim is gone. A bundle deleted before any log existed has nothing to give.
      const over = existsSync(options.exitStatusPath) || log.replaced() || !existsSync(dirname(options.exitStatusPath));
      const appended = await log.readFrom(offset);
      if (appended.length > 0) {
        offset += appended.length;
        const decoded = decodeFrames(Buffer.concat([rest, appended]));
        rest = decoded.rest;
        // With times shown, each line gets its own (a read may hold several lines).
        const records = options.timestamps === true ? splitLines(decoded.records) : decoded.records;
        const chunk = renderRecords(records.filter(inWindow), render);
        if (chunk.length > 0) yield chunk;
        if (until !== undefined && records.some((record) => timeOf(record) > until)) return;
        continue;
      }
      // Nor can output come before --until.
      if (over || pastUntil) return;
      await sleep(FOLLOW_POLL_MS);
    }
  } finally {
    await log.close();
  }
}

export function readLog(options: LogReadOptions): Readable {
  return Readable.from(logChunks(options), { objectMode: false });
}
