/**
 * Persistence: SQLite (better-sqlite3, WAL) under --data-root. Records are
 * JSON bodies of the model keyed by id (rows of an older shape are upgraded
 * as they are read, see upgrade.ts); every change that touches several
 * records runs in one transaction (`store.transaction(() => …)`).
 *
 * Networks and endpoints carry a lifecycle state so that a daemon killed in
 * the middle of an operation can tell on restart what to finish or undo.
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerRecord } from '../model/container.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { upgradeContainer, upgradeEndpoint, upgradeSandbox } from './upgrade.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');

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
CREATE TABLE IF NOT EXISTS containers (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface BodyRow { body: string; state: string }

export class Store {
  private readonly db: InstanceType<typeof Database>;

  constructor(dataRoot: string) {
    mkdirSync(dataRoot, { recursive: true, mode: 0o700 });
    this.db = new Database(join(dataRoot, 'skiff.db'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    // better-sqlite3 turns foreign keys on by default: off while an old table is rebuilt.
    this.db.pragma('foreign_keys = OFF');
    this.db.exec(schema);
    this.allowDuplicateNetworkNames();
    this.db.pragma('foreign_keys = ON');
  }

  /**
   * Data roots written before Docker 20.10's CheckDuplicate semantics held
   * network names UNIQUE; SQLite drops a constraint only by rebuilding the
   * table (with foreign keys off, so the endpoints' references stay).
   */
  private allowDuplicateNetworkNames(): void {
    const table = this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'networks'").get() as { sql: string } | undefined;
    if (table === undefined || !/name TEXT NOT NULL UNIQUE/.test(table.sql)) return;
    this.db.transaction(() => {
      this.db.exec('CREATE TABLE networks_rebuilt (id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL)');
      this.db.exec('INSERT INTO networks_rebuilt (id, name, state, body) SELECT id, name, state, body FROM networks');
      this.db.exec('DROP TABLE networks');
      this.db.exec('ALTER TABLE networks_rebuilt RENAME TO networks');
    })();
  }

  close(): void {
    this.db.close();
  }

  /** Runs fn in one SQLite transaction: all of its writes land, or none. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // networks
  putNetwork(network: Network, state: RecordState): void {
    this.db.prepare('INSERT INTO networks (id, name, state, body) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, state = excluded.state, body = excluded.body')
      .run(network.id, network.name, state, JSON.stringify(network));
  }

  setNetworkState(id: string, state: RecordState): void {
    this.db.prepare('UPDATE networks SET state = ? WHERE id = ?').run(state, id);
  }

  deleteNetwork(id: string): void {
    this.db.prepare('DELETE FROM allocations WHERE network_id = ?').run(id);
    this.db.prepare('DELETE FROM networks WHERE id = ?').run(id);
  }

  networks(): Array<Stored<Network>> {
    return (this.db.prepare('SELECT body, state FROM networks').all() as BodyRow[])
      .map((row) => ({ record: JSON.parse(row.body) as Network, state: row.state as RecordState }));
  }

  // sandboxes
  putSandbox(sandbox: Sandbox): void {
    this.db.prepare('INSERT OR REPLACE INTO sandboxes (id, body) VALUES (?, ?)').run(sandbox.id, JSON.stringify(sandbox));
  }

  deleteSandbox(id: string): void {
    this.db.prepare('DELETE FROM sandboxes WHERE id = ?').run(id);
  }

  sandboxes(): Sandbox[] {
    return (this.db.prepare('SELECT body FROM sandboxes').all() as BodyRow[]).map((row) => upgradeSandbox(JSON.parse(row.body) as Record<string, unknown>));
  }

  // endpoints and their addresses
  putEndpoint(endpoint: Endpoint, state: RecordState): void {
    this.db.prepare('INSERT INTO endpoints (id, network_id, sandbox_id, state, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, body = excluded.body')
      .run(endpoint.id, endpoint.networkId, endpoint.sandboxId, state, JSON.stringify(endpoint));
  }

  setEndpointState(id: string, state: RecordState): void {
    this.db.prepare('UPDATE endpoints SET state = ? WHERE id = ?').run(state, id);
  }

  deleteEndpoint(id: string): void {
    this.db.prepare('DELETE FROM allocations WHERE endpoint_id = ?').run(id);
    this.db.prepare('DELETE FROM endpoints WHERE id = ?').run(id);
  }

  endpoints(): Array<Stored<Endpoint>> {
    return (this.db.prepare('SELECT body, state FROM endpoints').all() as BodyRow[])
      .map((row) => ({ record: upgradeEndpoint(JSON.parse(row.body) as Record<string, unknown>), state: row.state as RecordState }));
  }

  recordAllocation(networkId: string, address: string, endpointId: string): void {
    this.db.prepare('INSERT INTO allocations (network_id, address, endpoint_id) VALUES (?, ?, ?)').run(networkId, address, endpointId);
  }

  allocations(): Array<{ networkId: string; address: string; endpointId: string }> {
    return this.db.prepare('SELECT network_id AS networkId, address, endpoint_id AS endpointId FROM allocations').all() as Array<{ networkId: string; address: string; endpointId: string }>;
  }

  // containers
  putContainer(record: ContainerRecord): void {
    this.db.prepare('INSERT INTO containers (id, name, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, body = excluded.body')
      .run(record.id, record.name, JSON.stringify(record));
  }

  deleteContainer(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }

  containers(): ContainerRecord[] {
    return (this.db.prepare('SELECT body FROM containers').all() as BodyRow[]).map((row) => upgradeContainer(JSON.parse(row.body) as Record<string, unknown>));
  }

  // settings
  getSetting(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.db.prepare('INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)').run(key, value);
  }
}
