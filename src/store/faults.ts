/**
 * The store's failures in words a user can act on. Opening: another daemon
 * holds the data root, or the file is not a whole SQLite database — the
 * daemon stops before it touches the kernel and says what to do. Writing:
 * the disk is full or failing — the error names the file as Go's os errors
 * do (dockerd's "write /var/lib/docker/…: no space left on device").
 */
import { createRequire } from 'node:module';
import { SkiffError } from '../errors.js';
// By require, not import, as store.ts does: an ES import of a CommonJS package loads Node's export lexer for the daemon's life.
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');

/** The daemon cannot start on this data root; the message says why and what to do. */
export class StoreOpenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}

/** quick_check found damage in a file SQLite could open. */
export class CorruptStore extends Error {}

const sqliteCode = (error: unknown): string => (error instanceof Database.SqliteError ? error.code : '');

const CORRUPTION_CODES = ['SQLITE_CORRUPT', 'SQLITE_NOTADB'];

/** What the OS would call a failed write, from SQLite's result code (undefined: not a disk failure). */
function diskFailure(code: string): string | undefined {
  if (code === 'SQLITE_FULL') return 'no space left on device';
  if (code === 'SQLITE_READONLY' || code.startsWith('SQLITE_READONLY_')) return 'read-only file system';
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN') return `input/output error (${code})`;
  return undefined;
}

export function storeOpenError(dataRoot: string, path: string, error: unknown): StoreOpenError {
  const detail = error instanceof Error ? error.message : String(error);
  const code = sqliteCode(error);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new StoreOpenError(
      `another daemon is using the data root ${dataRoot}: its store ${path} is locked. Stop that daemon first, or give this one its own --data-root and --exec-root`,
      { cause: error },
    );
  }
  if (error instanceof CorruptStore || CORRUPTION_CODES.includes(code)) {
    return new StoreOpenError(
      `the store ${path} is damaged (${detail}); nothing was changed. Restore it from a backup, or move it aside (mv ${path} ${path}.damaged) ` +
        'and start again with an empty store: its networks and containers are then forgotten and the next start removes the links and namespaces they left',
      { cause: error },
    );
  }
  const failure = diskFailure(code) ?? (error as NodeJS.ErrnoException).code;
  return new StoreOpenError(`cannot open the store ${path}: ${failure === undefined ? detail : `${detail} (${failure})`}`, { cause: error });
}

export function storeWriteError(path: string, error: unknown): unknown {
  const code = sqliteCode(error);
  const failure = diskFailure(code);
  if (failure !== undefined) return new SkiffError('unavailable', `write ${path}: ${failure}`, { cause: error });
  if (CORRUPTION_CODES.includes(code))
    return new SkiffError('unavailable', `the store ${path} is damaged (${(error as Error).message}): stop the daemon and restore it from a backup`, {
      cause: error,
    });
  return error;
}
