/** The store's failures in words a user can act on (src/store/faults.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { SkiffError } from '../../src/errors.js';
import { CorruptStore, storeOpenError, storeWriteError } from '../../src/store/faults.js';

const path = '/var/lib/skiff/skiff.db';
const sqlite = (code: string, message: string) => new Database.SqliteError(message, code);

test('a locked store names the other daemon and the way out', () => {
  assert.equal(
    storeOpenError('/var/lib/skiff', path, sqlite('SQLITE_BUSY', 'database is locked')).message,
    'another daemon is using the data root /var/lib/skiff: its store /var/lib/skiff/skiff.db is locked. Stop that daemon first, or give this one its own --data-root and --exec-root',
  );
});

test('a damaged store names the file, the damage and what to do', () => {
  for (const error of [
    sqlite('SQLITE_NOTADB', 'file is not a database'),
    sqlite('SQLITE_CORRUPT', 'database disk image is malformed'),
    new CorruptStore('Tree 17 page 17: btreeInitPage() returns error code 11'),
  ]) {
    const message = storeOpenError('/var/lib/skiff', path, error).message;
    assert.match(
      message,
      /^the store \/var\/lib\/skiff\/skiff\.db is damaged \(.+\); nothing was changed\. Restore it from a backup, or move it aside \(mv \/var\/lib\/skiff\/skiff\.db \/var\/lib\/skiff\/skiff\.db\.damaged\)/,
    );
  }
});

test('a write the disk refuses reads as the OS would say it; other errors pass through', () => {
  const full = storeWriteError(path, sqlite('SQLITE_FULL', 'database or disk is full'));
  assert.ok(full instanceof SkiffError);
  assert.equal(full.message, 'write /var/lib/skiff/skiff.db: no space left on device');
  assert.equal(
    (storeWriteError(path, sqlite('SQLITE_IOERR_WRITE', 'disk I/O error')) as Error).message,
    'write /var/lib/skiff/skiff.db: input/output error (SQLITE_IOERR_WRITE)',
  );
  assert.equal(
    (storeWriteError(path, sqlite('SQLITE_READONLY', 'attempt to write a readonly database')) as Error).message,
    'write /var/lib/skiff/skiff.db: read-only file system',
  );
  const constraint = sqlite('SQLITE_CONSTRAINT_UNIQUE', 'UNIQUE constraint failed: networks.name');
  assert.equal(storeWriteError(path, constraint), constraint);
});
