/**
 * A daemon's picture of the cluster (nodes, global networks, endpoints), fed
 * by watch events and by full re-reads, and the changes each one makes to it.
 * Pure. Every key remembers the revision it was last written at, so an event
 * seen twice or out of date changes nothing, and a re-read after a lost watch
 * yields exactly the differences: no duplicate and no lost change.
 */
import type { SkiffError } from '../errors.js';
import type { KeyLayout } from './keys.js';
import type { ReadKey } from './plan.js';
import { decodeEndpoint, decodeNetwork, decodeNode, type EndpointRecord, type NetworkRecord, type NodeRecord } from './records.js';

export type ClusterRecord = { kind: 'node'; node: NodeRecord } | { kind: 'network'; network: NetworkRecord } | { kind: 'endpoint'; endpoint: EndpointRecord };

/** A change of the picture; a removal carries the record as it was last seen (FDB entries need its MAC and VTEP). */
export type ClusterChange = ClusterRecord & { type: 'added' | 'updated' | 'removed'; key: string };

/** One watched event: a put carries the new value, a delete's revision is the deletion's. */
export interface WatchedEvent {
  type: 'put' | 'delete';
  key: string;
  value: string;
  modRevision: number;
}

interface Entry {
  modRevision: number;
  value: string;
  record: ClusterRecord;
}

export class ClusterView {
  private readonly entries = new Map<string, Entry>();
  /** Every write up to this revision is reflected here. */
  private seenRevision = 0;

  constructor(
    private readonly keys: KeyLayout,
    private readonly onProblem: (error: SkiffError) => void,
  ) {}

  get revision(): number {
    return this.seenRevision;
  }

  /** The record a key holds, or undefined (address claims and foreign keys are not part of the picture). */
  private decode(key: string, value: string): ClusterRecord | undefined {
    const parsed = this.keys.parse(key);
    try {
      switch (parsed?.kind) {
        case 'node':
          return { kind: 'node', node: decodeNode(key, value) };
        case 'network':
          return { kind: 'network', network: decodeNetwork(key, value) };
        case 'endpoint':
          return { kind: 'endpoint', endpoint: decodeEndpoint(key, value) };
        default:
          return undefined;
      }
    } catch (error) {
      this.onProblem(error as SkiffError);
      return undefined;
    }
  }

  private put(key: string, value: string, modRevision: number): ClusterChange | undefined {
    const known = this.entries.get(key);
    if (known !== undefined && known.modRevision >= modRevision) return undefined;
    if (known !== undefined && known.value === value) {
      // Rewritten unchanged (a node renewing its lease re-puts its records): nothing to tell.
      known.modRevision = modRevision;
      return undefined;
    }
    const record = this.decode(key, value);
    if (record === undefined) return undefined;
    this.entries.set(key, { modRevision, value, record });
    return { ...record, type: known === undefined ? 'added' : 'updated', key };
  }

  private remove(key: string): ClusterChange | undefined {
    const known = this.entries.get(key);
    if (known === undefined) return undefined;
    this.entries.delete(key);
    return { ...known.record, type: 'removed', key };
  }

  /**
   * One watch response. Events at or below the revision already reflected are
   * replays and are skipped; the revision moves on only after the whole batch,
   * since one transaction's keys share a revision.
   */
  applyEvents(events: readonly WatchedEvent[]): ClusterChange[] {
    const changes: ClusterChange[] = [];
    let newest = this.seenRevision;
    for (const event of events) {
      if (event.modRevision <= this.seenRevision) continue;
      newest = Math.max(newest, event.modRevision);
      const change = event.type === 'put' ? this.put(event.key, event.value, event.modRevision) : this.remove(event.key);
      if (change !== undefined) changes.push(change);
    }
    this.seenRevision = newest;
    return changes;
  }

  /** A full read of the root at revision: what appeared, changed or vanished since the picture was last right. */
  resync(keys: readonly ReadKey[], revision: number): ClusterChange[] {
    if (revision < this.seenRevision) {
      // The store went back in time (restored or wiped): its revisions say nothing
      // about ours any more, so values alone decide.
      for (const entry of this.entries.values()) entry.modRevision = 0;
      this.seenRevision = 0;
    }
    const present = new Set(keys.map((read) => read.key));
    const changes: ClusterChange[] = [];
    for (const key of [...this.entries.keys()]) {
      if (!present.has(key)) changes.push(this.remove(key)!);
    }
    for (const read of keys) {
      const change = this.put(read.key, read.value, read.modRevision);
      if (change !== undefined) changes.push(change);
    }
    this.seenRevision = Math.max(this.seenRevision, revision);
    return changes;
  }

  nodes(): NodeRecord[] {
    return this.records('node').map((record) => record.node);
  }

  networks(): NetworkRecord[] {
    return this.records('network').map((record) => record.network);
  }

  endpoints(networkId?: string): EndpointRecord[] {
    return this.records('endpoint')
      .map((record) => record.endpoint)
      .filter((endpoint) => networkId === undefined || endpoint.networkId === networkId);
  }

  private records<K extends ClusterRecord['kind']>(kind: K): Array<Extract<ClusterRecord, { kind: K }>> {
    return [...this.entries.values()].map((entry) => entry.record).filter((record): record is Extract<ClusterRecord, { kind: K }> => record.kind === kind);
  }
}
