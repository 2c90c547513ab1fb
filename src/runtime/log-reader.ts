/**
 * Reads a container log file (Docker frames written by the shim) as a stream:
 * what is there now, in the rotated files too (optionally only the last N
 * lines), then, when following (across rotations),
 * whatever is appended until the container has exited and the file is drained.
 * As Docker's json-file reader: --tail counts lines before --since/--until
 * choose among them, a following reader ends once past --until, and
 * --timestamps puts each line's time before it.
 */
import { existsSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
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
  /** The shim rotates the log (--log-opt max-size): a follower wakes at each change, not a poll later. */
  rotates?: boolean;
}

/** A line without a time (written by an older shim) counts as written at the epoch. */
const timeOf = (record: LogRecord) => record.time ?? 0n;
const nowNanos = () => BigInt(Date.now()) * 1_000_000n;

const FOLLOW_POLL_MS = 100;

/**
 * A follower's pause between empty reads: a poll, or for a rotating log until
 * its directory changes (inotify), so that a burst does not rotate away
 * files the follower has yet to open while it sleeps.
 */
class Pause {
  private watcher: FSWatcher | undefined;
  private changed = false;
  private wake: (() => void) | undefined;

  constructor(directory: string | undefined) {
    if (directory === undefined) return;
    try {
      this.watcher = watch(directory, () => {
        this.changed = true;
        this.wake?.();
      });
      this.watcher.on('error', () => undefined); // the directory went (a removal): the poll goes on
    } catch {
      this.watcher = undefined; // no directory yet, or no inotify left: polling only
    }
  }

  async next(): Promise<void> {
    if (!this.changed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FOLLOW_POLL_MS);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    this.changed = false;
  }

  close(): void {
    this.watcher?.close();
  }
}

const rotatedName = (path: string, index: number) => (index === 0 ? path : `${path}.${index}`);

function inodeAt(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined; // not there (yet, or any more)
  }
}

/** A directory's inode and birth time: a directory made anew may get a freed inode number, not its birth time too. */
function identityOf(path: string): string | undefined {
  try {
    const stat = statSync(path, { bigint: true });
    return `${stat.ino}:${stat.birthtimeNs}`;
  } catch {
    return undefined; // gone
  }
}

async function openIfThere(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch {
    return undefined;
  }
}

async function readAll(handle: FileHandle, offset: number): Promise<Buffer> {
  const { size } = await handle.stat();
  if (size <= offset) return Buffer.alloc(0);
  const buffer = Buffer.alloc(size - offset);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
  return buffer.subarray(0, bytesRead);
}

/**
 * The log files of one run, the one written held open: a restart deletes the
 * bundle and its log (runc wants a fresh one), and a reader still draining
 * the run it follows must get that run's last output even so (compose's
 * dockerpty starts an exited one-off again at once). With --log-opt max-size
 * the shim rotates LOGFILE to LOGFILE.1 (…); a full file ends with the
 * shim's rotation mark, and a follower goes on in the file written after it.
 */
class RunLog {
  private handle: FileHandle | undefined;
  private inode: number | undefined;

  /** fromOldest: a reader of all the output (docker run's attach) begins with the oldest file kept, the run may have rotated before it looked. */
  constructor(
    private readonly path: string,
    private readonly fromOldest = false,
  ) {}

  /**
   * The rotated files' bytes, oldest first (none when only the current file
   * is asked for), and the current file's from offset ('' while no log file
   * exists yet). The current file is opened first and the rotated ones
   * after, each once (by inode): a rotation meanwhile shifts them to names
   * read later, so none is missed.
   */
  async readKept(offset: number, withRotated: boolean): Promise<{ rotated: Buffer; current: Buffer }> {
    if (this.handle === undefined) await this.hold(this.fromOldest ? this.oldest() : this.path);
    const older: FileHandle[] = [];
    const seen = new Set(this.inode === undefined ? [] : [this.inode]);
    try {
      for (let index = 1; withRotated; index++) {
        const handle = await openIfThere(rotatedName(this.path, index));
        if (handle === undefined) break;
        const { ino } = await handle.stat();
        if (seen.has(ino)) {
          await handle.close();
          continue;
        }
        seen.add(ino);
        older.unshift(handle);
      }
      const rotated = Buffer.concat(await Promise.all(older.map((handle) => readAll(handle, 0))));
      return { rotated, current: await this.readFrom(offset) };
    } finally {
      await Promise.all(older.map((handle) => handle.close()));
    }
  }

  /** Bytes of the file held from offset to its current end ('' while no log file exists yet). */
  async readFrom(offset: number): Promise<Buffer> {
    if (this.handle === undefined && !(await this.hold(this.fromOldest ? this.oldest() : this.path))) return Buffer.alloc(0);
    return readAll(this.handle!, offset);
  }

  /** The name of the oldest file kept (the path itself without rotated ones). */
  private oldest(): string {
    let index = 0;
    while (inodeAt(rotatedName(this.path, index + 1)) !== undefined) index++;
    return rotatedName(this.path, index);
  }

  /** The size of the file held (0 while none). */
  async size(): Promise<number> {
    return this.handle === undefined ? 0 : (await this.handle.stat()).size;
  }

  /** The file held is no longer the one at the path: rotated away, or a new run (or a removal) replaced it. */
  moved(): boolean {
    return this.inode !== undefined && inodeAt(this.path) !== this.inode;
  }

  /**
   * After the held file was rotated: holds the file written after it (the
   * next younger one, or the current one): 'wait' while that is not to be
   * had yet (the shim is between its renames), 'over' when the files there
   * are another run's (sameRun, asked after opening: a restart makes the
   * bundle anew before the new run's log). A follower that fell behind by
   * more than the kept files goes on from the oldest still kept.
   */
  async advance(sameRun: () => boolean): Promise<'advanced' | 'wait' | 'over'> {
    const chain: Array<number | undefined> = [inodeAt(this.path)];
    for (let index = 1; ; index++) {
      const inode = inodeAt(rotatedName(this.path, index));
      if (inode === undefined) break;
      chain.push(inode);
    }
    const at = chain.indexOf(this.inode);
    if (at === 0) return 'wait';
    let next = at > 0 ? at - 1 : chain.length - 1;
    while (next > 0 && chain[next] === undefined) next--;
    if (chain[next] === undefined) return sameRun() ? 'wait' : 'over';
    const handle = await openIfThere(rotatedName(this.path, next));
    if (handle === undefined) return sameRun() ? 'wait' : 'over';
    const { ino } = await handle.stat();
    if (ino !== chain[next] || !sameRun()) {
      await handle.close(); // renamed meanwhile (look again), or another run's
      return sameRun() ? 'wait' : 'over';
    }
    await this.close();
    this.handle = handle;
    this.inode = ino;
    return 'advanced';
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }

  private async hold(path: string): Promise<boolean> {
    this.handle = await openIfThere(path);
    if (this.handle === undefined) return false; // not started yet: no log file
    this.inode = (await this.handle.stat()).ino;
    return true;
  }
}

async function* logChunks(options: LogReadOptions): AsyncGenerator<Buffer> {
  const render = { stdout: options.stdout, stderr: options.stderr, tty: options.tty, timestamps: options.timestamps };
  const { since, until } = options;
  const inWindow = (record: LogRecord) => (since === undefined || timeOf(record) >= since) && (until === undefined || timeOf(record) <= until);
  const log = new RunLog(options.logPath, options.fromOffset === 0);
  // The run followed is the one whose bundle is there now: a restart deletes it and makes another.
  const bundle = identityOf(dirname(options.exitStatusPath));
  const sameRun = () => bundle !== undefined && identityOf(dirname(options.exitStatusPath)) === bundle;
  const pause = new Pause(options.follow && options.rotates === true ? dirname(options.logPath) : undefined);
  try {
    // Attach (from an offset) wants what comes next only; logs wants all the kept files hold.
    let initial = await log.readKept(options.fromOffset ?? 0, options.fromOffset === undefined);
    let offset = options.fromOffset ?? 0;
    if (offset > 0 && initial.current.length === 0 && (await log.size()) < offset) {
      // Rotated since the caller measured the offset: what the fresh file holds came after.
      offset = 0;
      initial = { rotated: initial.rotated, current: await log.readFrom(0) };
    }
    offset += initial.current.length;
    const first = decodeFrames(initial.current);
    let rest = first.rest;
    // Whether the last frame of the file held is the rotation mark: only then is a file gone from the path rotated, not replaced.
    let marked = first.rotated === true;
    offset -= rest.length;
    let lines = splitLines([...decodeFrames(initial.rotated).records, ...first.records]);
    if (options.tail !== undefined && options.tail >= 0) lines = options.tail === 0 ? [] : lines.slice(-options.tail);
    const head = renderRecords(lines.filter(inWindow), render);
    if (head.length > 0) yield head;
    if (!options.follow) return;
    for (;;) {
      // Taken before the read: output the read finds was written before this moment.
      const pastUntil = until !== undefined && nowNanos() > until;
      // Seen before an empty read, the run is over: the shim writes exit-status only after the last output, and a
      // restart or removal deletes the log only after the shim is gone. A bundle deleted before any log existed has nothing to give.
      const over = existsSync(options.exitStatusPath) || !existsSync(dirname(options.exitStatusPath));
      const moved = log.moved();
      const appended = await log.readFrom(offset);
      if (appended.length > 0) {
        offset += appended.length;
        const decoded = decodeFrames(Buffer.concat([rest, appended]));
        rest = decoded.rest;
        if (decoded.rotated === true) marked = true;
        else if (decoded.records.length > 0) marked = false;
        // With times shown, each line gets its own (a read may hold several lines).
        const records = options.timestamps === true ? splitLines(decoded.records) : decoded.records;
        const chunk = renderRecords(records.filter(inWindow), render);
        if (chunk.length > 0) yield chunk;
        if (until !== undefined && records.some((record) => timeOf(record) > until)) return;
        continue;
      }
      if (moved) {
        // Replaced (a restart, a removal): the run held is over.
        if (!marked) return;
        const advanced = await log.advance(sameRun);
        if (advanced === 'over') return;
        if (advanced === 'advanced') {
          offset = 0;
          rest = Buffer.alloc(0);
          marked = false;
          continue;
        }
      } else if (over || pastUntil) {
        // Nor can output come before --until.
        return;
      }
      await pause.next();
    }
  } finally {
    pause.close();
    await log.close();
  }
}

export function readLog(options: LogReadOptions): Readable {
  return Readable.from(logChunks(options), { objectMode: false });
}
