/**
 * Persistence: SQLite (better-sqlite3, WAL) under --data-root. Records are
 * JSON bodies of the model keyed by id (rows of an older shape are upgraded
 * as they are read, see upgrade.ts); every change that touches several
 * records runs in one transaction (`store.transaction(() => …)`).
 *
 * Networks and endpoints carry a lifecycle state so that a daemon killed in
 * the middle of an operation can tell on restart what to finish or undo.
 *
 * One daemon per data root: the store is opened in SQLite's exclusive locking
 * mode and locked at once, so a second daemon on the same root is refused
 * before it reads anything (the kernel drops the lock however the first one
 * ends, SIGKILL included: no stale pid file to delete). A store that is not
 * whole is refused at open, before the daemon touches the kernel; a write the
 * disk cannot take fails in the words of the OS (write PATH: no space left
 * on device), and the operation it belonged to changes nothing.
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRecord } from '../model/container.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { upgradeContainer, upgradeEndpoint, upgradeSandbox } from './upgrade.js';
import { CorruptStore, storeOpenError, storeWriteError } from './faults.js';
import type BetterSqlite3 from 'better-sqlite3';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');

export { StoreOpenError } from './faults.js';

/** 'pending': written before the kernel was changed; 'ready': kernel done; 'removing': removal started. */
export type RecordState = 'pending' | 'ready' | 'removing';

export interface Stored<T> {
  record: T;
  state: RecordState;
}

const schema = `
CREATE TABLE IF NOT EXISTS networks (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sandboxes (
  id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS endpoints (
  id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks(id), sandbox_id TEXT NOT NULL,
  state TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS endpoints_by_network ON endpoints(network_id);
CREATE INDEX IF NOT EXISTS endpoints_by_sandbox ON endpoints(sandbox_id);
CREATE TABLE IF NOT EXISTS allocations (
  network_id TEXT NOT NULL, address TEXT NOT NULL, endpoint_id TEXT NOT NULL,
  PRIMARY KEY (network_id, address));
CREATE INDEX IF NOT EXISTS allocations_by_endpoint ON allocations(endpoint_id);
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface BodyRow {
  body: string;
  state: string;
}

/**
 * Opens the store and takes its lock before reading a byte: exclusive locking
 * mode holds the lock for the connection's life, and with it set before WAL
 * is entered SQLite keeps the WAL index in memory (no -shm file another
 * process could map). Then the whole file is checked, so corruption is found
 * now and not by a request halfway through an operation.
 */
function openLocked(dataRoot: string, path: string): BetterSqlite3.Database {
  let db: BetterSqlite3.Database | undefined;
  try {
    // timeout 0: a second daemon is refused at once instead of waiting for the first to end.
    db = new Database(path, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const check = db.pragma('quick_check', { simple: true }) as string;
    // quick_check reports one problem a line under a heading: one line for a one-line message.
    if (check !== 'ok')
      throw new CorruptStore(
        check
          .split('\n')
          .filter((line) => !line.startsWith('***'))
          .join('; '),
      );
    // better-sqlite3 turns foreign keys on by default: off while an old table is rebuilt.
    db.pragma('foreign_keys = OFF');
    db.exec(schema);
    allowDuplicateNetworkNames(db);
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db?.close();
    throw storeOpenError(dataRoot, path, error);
  }
}

/**
 * Data roots written before Docker 20.10's CheckDuplicate semantics held
 * network names UNIQUE; SQLite drops a constraint only by rebuilding the
 * table (with foreign keys off, so the endpoints' references stay).
 */
function allowDuplicateNetworkNames(db: BetterSqlite3.Database): void {
  const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'networks'").get() as { sql: string } | undefined;
  if (table === undefined || !/name TEXT NOT NULL UNIQUE/.test(table.sql)) return;
  db.transaction(() => {
    db.exec('CREATE TABLE networks_rebuilt (id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL)');
    db.exec('INSERT INTO networks_rebuilt (id, name, state, body) SELECT id, name, state, body FROM networks');
    db.exec('DROP TABLE networks');
    db.exec('ALTER TABLE networks_rebuilt RENAME TO networks');
  })();
}

export class Store {
  readonly path: string;
  private readonly db: BetterSqlite3.Database;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(dataRoot: string) {
    this.path = join(dataRoot, 'skiff.db');
    try {
      mkdirSync(dataRoot, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw storeOpenError(dataRoot, this.path, error);
    }
    this.db = openLocked(dataRoot, this.path);
  }

  close(): void {
    this.db.close();
  }

  /** Runs fn in one SQLite transaction: all of its writes land, or none. */
  transaction<T>(fn: () => T): T {
    return this.guarded(() => this.db.transaction(fn)());
  }

  /** One statement that changes the store; a failure of the disk says so, naming the file. */
  private write(sql: string, ...params: unknown[]): void {
    this.guarded(() => this.statement(sql).run(...params));
  }

  /** Each SQL text is compiled once for the store's life (SQLite compiles it again by itself should the schema change). */
  private statement(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private guarded<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw storeWriteError(this.path, error);
    }
  }

  // networks
  putNetwork(network: Network, state: RecordState): void {
    this.write(
      'INSERT INTO networks (id, name, state, body) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, state = excluded.state, body = excluded.body',
      network.id,
      network.name,
      state,
      JSON.stringify(network),
    );
  }

  setNetworkState(id: string, state: RecordState): void {
    this.write('UPDATE networks SET state = ? WHERE id = ?', state, id);
  }

  deleteNetwork(id: string): void {
    this.transaction(() => {
      this.write('DELETE FROM allocations WHERE network_id = ?', id);
      this.write('DELETE FROM networks WHERE id = ?', id);
    });
  }

  networks(): Array<Stored<Network>> {
    return (this.db.prepare('SELECT body, state FROM networks').all() as BodyRow[]).map((row) => ({
      record: JSON.parse(row.body) as Network,
      state: row.state as RecordState,
    }));
  }

  // sandboxes
  putSandbox(sandbox: Sandbox): void {
    this.write('INSERT OR REPLACE INTO sandboxes (id, body) VALUES (?, ?)', sandbox.id, JSON.stringify(sandbox));
  }

  deleteSandbox(id: string): void {
    this.write('DELETE FROM sandboxes WHERE id = ?', id);
  }

  sandboxes(): Sandbox[] {
    return (this.db.prepare('SELECT body FROM sandboxes').all() as BodyRow[]).map((row) => upgradeSandbox(JSON.parse(row.body) as Record<string, unknown>));
  }

  // endpoints and their addresses
  putEndpoint(endpoint: Endpoint, state: RecordState): void {
    this.write(
      'INSERT INTO endpoints (id, network_id, sandbox_id, state, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body',
      endpoint.id,
      endpoint.networkId,
      endpoint.sandboxId,
      state,
      JSON.stringify(endpoint),
    );
  }

  setEndpointState(id: string, state: RecordState): void {
    this.write('UPDATE endpoints SET state = ? WHERE id = ?', state, id);
  }

  deleteEndpoint(id: string): void {
    this.transaction(() => {
      this.write('DELETE FROM allocations WHERE endpoint_id = ?', id);
      this.write('DELETE FROM endpoints WHERE id = ?', id);
    });
  }

  endpoints(): Array<Stored<Endpoint>> {
    return (this.db.prepare('SELECT body, state FROM endpoints').all() as BodyRow[]).map((row) => ({
      record: upgradeEndpoint(JSON.parse(row.body) as Record<string, unknown>),
      state: row.state as RecordState,
    }));
  }

  recordAllocation(networkId: string, address: string, endpointId: string): void {
    this.write('INSERT INTO allocations (network_id, address, endpoint_id) VALUES (?, ?, ?)', networkId, address, endpointId);
  }

  allocations(): Array<{ networkId: string; address: string; endpointId: string }> {
    return this.db.prepare('SELECT network_id AS networkId, address, endpoint_id AS endpointId FROM allocations').all() as Array<{
      networkId: string;
      address: string;
      endpointId: string;
    }>;
  }

  // containers
  putContainer(record: ContainerRecord): void {
    this.write(
      'INSERT INTO containers (id, name, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, body = excluded.body',
      record.id,
      record.name,
      JSON.stringify(record),
    );
  }

  deleteContainer(id: string): void {
    this.write('DELETE FROM containers WHERE id = ?', id);
  }

  containers(): ContainerRecord[] {
    return (this.db.prepare('SELECT body FROM containers').all() as BodyRow[]).map((row) => upgradeContainer(JSON.parse(row.body) as Record<string, unknown>));
  }

  // settings
  getSetting(key: string): string | undefined {
    const row = this.statement('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.write('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)', key, value);
  }
}
