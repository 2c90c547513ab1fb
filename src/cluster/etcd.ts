/**
 * The thin I/O under the cluster store: one etcd3 client tuned for a cluster
 * whose leases last 2 s, and the three things skiff asks of it (read a
 * prefix, run a planned transaction, watch from a revision). Every failure
 * comes back as a SkiffError naming the store, so a caller can refuse a
 * request before it changes anything.
 */
import { createRequire } from 'node:module';
import type { Etcd3, IRequestOp, Lease, Watcher } from 'etcd3';

type EtcdPackage = typeof import('etcd3');

/**
 * etcd3 (with gRPC) and cockatiel are loaded by require, when a daemon joins
 * a cluster: a single-host daemon never pays their memory, nor that of Node's
 * export lexer, which an ES import of a CommonJS package starts.
 */
function loadEtcdPackages(): { etcd: EtcdPackage; cockatiel: typeof import('cockatiel') } {
  const require = createRequire(import.meta.url);
  return { etcd: require('etcd3') as EtcdPackage, cockatiel: require('cockatiel') as typeof import('cockatiel') };
}
import { SkiffError } from '../errors.js';
import type { Compare, Operation, ReadKey, TxnPlan } from './plan.js';
import { prefixEnd } from './keys.js';

export interface EtcdOptions {
  /** The --cluster-store value, named in every error. */
  url: string;
  hosts: string[];
  /** Milliseconds one unary call may take before it counts as "etcd cannot be reached". */
  callTimeoutMs?: number;
}

export interface RangeResult {
  revision: number;
  keys: ReadKey[];
}

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  /** The keys each range operation of the branch that ran read, in order. */
  ranges: ReadKey[][];
}

const DEFAULT_CALL_TIMEOUT_MS = 2_000;
const MAX_COMMIT_ATTEMPTS = 32;

const compareTargets = { version: 'Version', create: 'Create', mod: 'Mod', value: 'Value' } as const;
const compareResults = { equal: 'Equal', greater: 'Greater', less: 'Less', not_equal: 'NotEqual' } as const;
const compareFields = { version: 'version', create: 'create_revision', mod: 'mod_revision', value: 'value' } as const;

function toCompare(compare: Compare) {
  const value = compare.target === 'value' ? Buffer.from(String(compare.value)) : compare.value;
  return {
    key: Buffer.from(compare.key),
    ...(compare.rangeEnd === undefined ? {} : { range_end: Buffer.from(compare.rangeEnd) }),
    target: compareTargets[compare.target],
    result: compareResults[compare.result],
    [compareFields[compare.target]]: value,
  };
}

function toRequestOp(operation: Operation): IRequestOp {
  const rangeEnd = operation.op !== 'put' && operation.rangeEnd !== undefined ? { range_end: Buffer.from(operation.rangeEnd) } : {};
  switch (operation.op) {
    case 'put':
      return {
        request_put: {
          key: Buffer.from(operation.key),
          value: Buffer.from(operation.value),
          ...(operation.lease === undefined ? {} : { lease: operation.lease }),
        },
      };
    case 'delete':
      return { request_delete_range: { key: Buffer.from(operation.key), ...rangeEnd } };
    case 'range':
      return { request_range: { key: Buffer.from(operation.key), ...rangeEnd } };
  }
}

function readKeys(kvs: Array<{ key: Buffer; value: Buffer; create_revision: string; mod_revision: string; lease?: string }>): ReadKey[] {
  return kvs.map((kv) => ({
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    // etcd says "0" for a key without a lease.
    ...(kv.lease === undefined || kv.lease === '0' ? {} : { lease: kv.lease }),
  }));
}

export class EtcdConnection {
  readonly client: Etcd3;
  readonly url: string;
  private readonly etcd: EtcdPackage;

  constructor(options: EtcdOptions) {
    this.url = options.url;
    const { etcd, cockatiel } = loadEtcdPackages();
    const { ConstantBackoff, handleWhen, noop, retry } = cockatiel;
    this.etcd = etcd;
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.client = new etcd.Etcd3({
      hosts: options.hosts,
      // A unary call that cannot reach etcd fails within the timeout instead of
      // waiting for a connection; streams (watch, keepalive) must not time out.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
      // etcd3's default breaker keeps a member "open" for 5 s after three
      // failures: longer than a lease lives, so an etcd back after a restart
      // would still be refused. Each member is tried once per attempt instead,
      // and a call tries every member before it fails.
      faultHandling: {
        host: () => noop,
        global: retry(handleWhen(etcd.isRecoverableError), { maxAttempts: options.hosts.length - 1, backoff: new ConstantBackoff(50) }),
      },
      // gRPC's reconnect backoff grows to 2 minutes by default; an etcd that comes
      // back must be found again within a lease's lifetime.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 },
    });
  }

  /** The error a caller gets when etcd could not do what it asked. */
  failure(doing: string, error: unknown): SkiffError {
    const detail = error instanceof Error ? error.message : String(error);
    const unreachable = error instanceof this.etcd.GRPCDeadlineExceededError || (error instanceof Error && this.etcd.isRecoverableError(error));
    const message = unreachable
      ? `cluster store ${this.url}: cannot reach etcd while ${doing}: ${detail}`
      : `cluster store ${this.url}: ${doing} failed: ${detail}`;
    return new SkiffError('unavailable', message, { cause: error });
  }

  private async call<T>(doing: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw this.failure(doing, error);
    }
  }

  /** Every key under prefix, with the revision the read saw. */
  async readPrefix(prefix: string, doing: string): Promise<RangeResult> {
    const response = await this.call(doing, () => this.client.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) }));
    return { revision: Number(response.header.revision), keys: readKeys(response.kvs) };
  }

  async txn(plan: TxnPlan, doing: string): Promise<TxnResult> {
    const response = await this.call(doing, () =>
      this.client.kv.txn({
        compare: plan.compare.map(toCompare),
        success: plan.success.map(toRequestOp),
        failure: plan.failure.map(toRequestOp),
      }),
    );
    return {
      succeeded: response.succeeded,
      revision: Number(response.header.revision),
      ranges: response.responses
        .filter((each) => each.response_range !== undefined && each.response_range !== null)
        .map((each) => readKeys(each.response_range.kvs)),
    };
  }

  /**
   * Reads, plans and commits until a plan's compares hold: each failed attempt
   * means another daemon changed what the plan relied on, so the next one reads
   * that change. Bounded, so a livelock ends in an error instead of a hang.
   */
  async commit<T>(doing: string, attempt: () => Promise<{ plan: TxnPlan; outcome: T }>): Promise<T> {
    for (let tries = 0; tries < MAX_COMMIT_ATTEMPTS; tries++) {
      const { plan, outcome } = await attempt();
      if ((await this.txn(plan, doing)).succeeded) return outcome;
    }
    throw new SkiffError('unavailable', `cluster store ${this.url}: ${doing}: still conflicting with other daemons after ${MAX_COMMIT_ATTEMPTS} attempts`);
  }

  /** A lease of ttlSeconds, kept alive by etcd3 until lost or revoked; resolves once etcd granted it. */
  async grantLease(ttlSeconds: number, doing: string): Promise<{ lease: Lease; leaseId: string }> {
    const lease = this.client.lease(ttlSeconds);
    const leaseId = await this.call(doing, () => lease.grant());
    return { lease, leaseId };
  }

  /** Seconds a lease has left, as etcd counts them; -1 once it expired or was revoked. */
  async leaseTimeToLive(leaseId: string, doing: string): Promise<number> {
    const response = await this.call(doing, () => this.client.leaseClient.leaseTimeToLive({ ID: leaseId }));
    return Number(response.TTL);
  }

  /** A watcher of every key under prefix from revision on; it reports through its events. */
  watchFrom(prefix: string, revision: number): Watcher {
    return this.client.watch().prefix(prefix).startRevision(String(revision)).watcher();
  }

  close(): void {
    this.client.close();
  }
}
