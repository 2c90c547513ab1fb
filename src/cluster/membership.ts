/**
 * A daemon's place in the cluster: a lease (TTL ≤ 2 s, kept alive by etcd3)
 * under which it publishes its node record and its endpoints. A daemon that
 * dies stops renewing and etcd deletes all of it when the lease expires. A
 * lease lost while the daemon lives (etcd away for longer than the lease) is
 * replaced, and the node and its endpoints are published again under the
 * new one with the addresses they held; one that cannot be (its network was
 * removed meanwhile, its address taken) is reported lost.
 */
import type { Lease } from 'etcd3';
import { SkiffError, notFound } from '../errors.js';
import type { EtcdConnection } from './etcd.js';
import { prefixEnd, type KeyLayout } from './keys.js';
import { planEndpointAdd, planEndpointRemove, planNodePut, type EndpointContext, type EndpointRequest } from './plan.js';
import { decodeClaim, decodeNetwork, type EndpointRecord, type NodeRecord } from './records.js';

export interface MembershipHandlers {
  /** The lease is gone (etcd away too long, or it expired); a new one is being sought. */
  onLeaseLost?: (error: SkiffError) => void;
  /** A new lease holds the node and its endpoints again. */
  onLeaseRenewed?: (leaseId: string) => void;
  /** An endpoint could not be published again after a lost lease; the caller should take it down. */
  onEndpointLost?: (endpoint: EndpointRecord, error: SkiffError) => void;
}

const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class NodeMembership {
  private readonly ownEndpoints = new Map<string, EndpointRecord>();
  private renewal: Promise<void> | undefined;
  private left = false;

  private constructor(
    private readonly connection: EtcdConnection,
    private readonly keys: KeyLayout,
    readonly node: NodeRecord,
    private readonly ttlSeconds: number,
    private readonly handlers: MembershipHandlers,
    private lease: Lease,
    private currentLeaseId: string,
  ) {
    this.watchLease(lease);
  }

  /** Grants the lease and publishes the node record under it; fails with the store's error if etcd cannot be reached. */
  static async join(connection: EtcdConnection, keys: KeyLayout, node: NodeRecord, ttlSeconds: number, handlers: MembershipHandlers): Promise<NodeMembership> {
    const { lease, leaseId } = await connection.grantLease(ttlSeconds, `granting the lease of node ${node.nodeId}`);
    try {
      await connection.txn(planNodePut(keys, node, leaseId), `publishing node ${node.nodeId}`);
    } catch (error) {
      lease.release();
      throw error;
    }
    return new NodeMembership(connection, keys, node, ttlSeconds, handlers, lease, leaseId);
  }

  get leaseId(): string {
    return this.currentLeaseId;
  }

  /** The lease was lost and a new one is being sought. */
  get renewing(): boolean {
    return this.renewal !== undefined;
  }

  /** The endpoints this node publishes. */
  endpoints(): EndpointRecord[] {
    return [...this.ownEndpoints.values()];
  }

  /**
   * Publishes an endpoint under the lease, its address allocated in the same
   * transaction; concurrent daemons never get the same address.
   */
  async addEndpoint(request: EndpointRequest): Promise<EndpointRecord> {
    if (this.renewal !== undefined) await this.renewal;
    const endpoint = await this.connection.commit(`adding endpoint ${request.id} to network ${request.networkId}`, async () => {
      const context = await this.readEndpointContext(request.networkId);
      const { plan, endpoint: planned } = planEndpointAdd(this.keys, context, this.node, this.currentLeaseId, request);
      return { plan, outcome: planned };
    });
    this.ownEndpoints.set(this.keys.endpoint(endpoint.networkId, endpoint.id), endpoint);
    return endpoint;
  }

  /** Unpublishes an endpoint of this node and releases its address. Removing one already gone is success. */
  async removeEndpoint(endpoint: Pick<EndpointRecord, 'id' | 'networkId' | 'ipv4'>): Promise<void> {
    // A renewal in flight would publish it again behind this removal.
    if (this.renewal !== undefined) await this.renewal;
    const plan = planEndpointRemove(this.keys, { ...endpoint, nodeId: this.node.nodeId });
    await this.connection.txn(plan, `removing endpoint ${endpoint.id} from network ${endpoint.networkId}`);
    this.ownEndpoints.delete(this.keys.endpoint(endpoint.networkId, endpoint.id));
  }

  /** Revokes the lease: the node and its endpoints vanish from the cluster at once. Address claims stay for a return. */
  async leave(): Promise<void> {
    this.left = true;
    this.ownEndpoints.clear();
    try {
      await this.lease.revoke();
    } catch (error) {
      throw this.connection.failure(`revoking the lease of node ${this.node.nodeId}`, error);
    }
  }

  /** The network as it is now and every address claim on it, read at one revision. */
  private async readEndpointContext(networkId: string): Promise<EndpointContext> {
    const read = await this.connection.txn(
      {
        compare: [],
        success: [
          { op: 'range', key: this.keys.network(networkId) },
          { op: 'range', key: this.keys.addressesOf(networkId), rangeEnd: prefixEnd(this.keys.addressesOf(networkId)) },
        ],
        failure: [],
      },
      `reading network ${networkId}`,
    );
    const [networkKeys = [], claimKeys = []] = read.ranges;
    const networkKey = networkKeys[0];
    if (networkKey === undefined) throw notFound(`network ${networkId} not found`);
    const claims = new Map(
      claimKeys.map((claimKey) => [
        claimKey.key.slice(this.keys.addressesOf(networkId).length),
        { claim: decodeClaim(claimKey.key, claimKey.value), encoded: claimKey.value },
      ]),
    );
    return { network: decodeNetwork(networkKey.key, networkKey.value), networkCreateRevision: networkKey.createRevision, claims };
  }

  private watchLease(lease: Lease): void {
    lease.on('lost', (error: Error) => {
      if (this.left || lease !== this.lease || this.renewal !== undefined) return;
      this.handlers.onLeaseLost?.(this.connection.failure(`keeping the lease of node ${this.node.nodeId} alive`, error));
      this.renewal = this.renew().finally(() => {
        this.renewal = undefined;
      });
    });
  }

  /** Seeks a new lease until one holds the node and its endpoints again (or the node leaves). */
  private async renew(): Promise<void> {
    for (let delay = FIRST_RETRY_MS; !this.left; delay = Math.min(delay * 2, LAST_RETRY_MS)) {
      let granted: Lease | undefined;
      try {
        const { lease, leaseId } = await this.connection.grantLease(this.ttlSeconds, `renewing the lease of node ${this.node.nodeId}`);
        granted = lease;
        await this.connection.txn(planNodePut(this.keys, this.node, leaseId), `publishing node ${this.node.nodeId}`);
        for (const endpoint of [...this.ownEndpoints.values()]) await this.republish(endpoint, leaseId);
        if (this.left) {
          await lease.revoke();
          return;
        }
        this.lease = lease;
        this.currentLeaseId = leaseId;
        this.watchLease(lease);
        this.handlers.onLeaseRenewed?.(leaseId);
        return;
      } catch {
        // etcd is still away: let this lease lapse and try again.
        granted?.release();
        await sleep(delay);
      }
    }
  }

  private async republish(endpoint: EndpointRecord, leaseId: string): Promise<void> {
    const key = this.keys.endpoint(endpoint.networkId, endpoint.id);
    const request: EndpointRequest = { ...endpoint, macOf: () => endpoint.mac };
    let published: boolean;
    let reason: SkiffError | undefined;
    try {
      const context = await this.readEndpointContext(endpoint.networkId);
      const { plan } = planEndpointAdd(this.keys, context, this.node, leaseId, request);
      published = (await this.connection.txn(plan, `publishing endpoint ${endpoint.id} again`)).succeeded;
    } catch (error) {
      if (!(error instanceof SkiffError) || error.kind === 'unavailable') throw error;
      published = false;
      reason = error;
    }
    if (published) return;
    this.ownEndpoints.delete(key);
    this.handlers.onEndpointLost?.(
      endpoint,
      reason ??
        new SkiffError(
          'conflict',
          `endpoint ${endpoint.id} on network ${endpoint.networkId}: its network or address changed while node ${this.node.nodeId} was away`,
        ),
    );
  }
}
