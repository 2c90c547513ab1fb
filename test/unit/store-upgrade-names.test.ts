/** A data root whose networks table held names UNIQUE (before 20.10's CheckDuplicate semantics) opens, keeps its rows, and takes a second network of a name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.js';
import type { Network } from '../../src/model/network.js';

function network(id: string, name: string): Network {
  return {
    id: id.repeat(64),
    name,
    driver: 'bridge',
    scope: 'local',
    created: '2026-01-01T00:00:00Z',
    internal: false,
    attachable: false,
    ingress: false,
    enableIPv6: false,
    ipam: { driver: 'default', options: null, pools: [] },
    options: {},
    labels: {},
  };
}

test("an older data root with UNIQUE network names is rebuilt, its endpoints' references kept", () => {
  const dataRoot = mkdtempSync(join(tmpdir(), 'skiff-store-'));
  try {
    const old = new Database(join(dataRoot, 'skiff.db'));
    old.exec('CREATE TABLE networks (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, state TEXT NOT NULL, body TEXT NOT NULL)');
    old.exec(
      'CREATE TABLE endpoints (id TEXT PRIMARY KEY, network_id TEXT NOT NULL REFERENCES networks(id), sandbox_id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL)',
    );
    old.prepare('INSERT INTO networks VALUES (?, ?, ?, ?)').run('a'.repeat(64), 'twin', 'ready', JSON.stringify(network('a', 'twin')));
    old.prepare('INSERT INTO endpoints VALUES (?, ?, ?, ?, ?)').run('e', 'a'.repeat(64), 's', 'ready', '{}');
    old.close();
    const store = new Store(dataRoot);
    store.putNetwork(network('b', 'twin'), 'ready');
    assert.deepEqual(
      store
        .networks()
        .map(({ record }) => record.id)
        .sort(),
      ['a'.repeat(64), 'b'.repeat(64)],
    );
    store.close();
    const reopened = new Database(join(dataRoot, 'skiff.db'), { readonly: true });
    assert.equal((reopened.prepare('SELECT count(*) AS n FROM endpoints').get() as { n: number }).n, 1);
    reopened.close();
  } finally {
    rmSync(dataRoot, { recursive: true, force: true });
  }
});
