/**
 * This daemon's part in the cluster: the etcd store, the node's lease and
 * the watch that follows everyone else. The watch's changes are taken one
 * batch at a time, in etcd's order: global networks appear on (and vanish
 * from) this host through the engine, other hosts' endpoints become names in
 * the embedded DNS at once and then FDB/neighbour entries on the VXLAN
 * devices, written before the next batch is looked at.
 *
 * Ordering: a container's endpoint is published in etcd inside its `run`
 * (before its interface is even plumbed here), so every other host's watch
 * starts writing its entries while the local join is still running; how much
 * later they are written is measured by the e2e test, not promised.
 */
import { hostname } from 'node:os';
import {
  ClusterStore,
  type ClusterChange,
  type ClusterWatch,
  type EndpointRecord,
  type NetworkRecord,
  type NetworkRequest,
  type NodeMembership,
} from '../cluster/index.js';
import { SkiffError } from '../errors.js';
import type { OverlayDriver } from '../drivers/overlay.js';
import { desiredPeers, vxlanName } from '../drivers/overlay-peers.js';
import { findUnderlay, type UnderlayInterface } from '../kernel/underlay.js';
import type { RemoteName } from './name-service.js';

/** What diagnose compares the kernel with: this node's standing in etcd and a network's endpoints, from etcd and from the watch. */
export interface ClusterFacts {
  nodeId: string;
  /** The lease this daemon believes it holds (undefined while it seeks a new one). */
  heldLeaseId: string | undefined;
  /** The lease etcd keeps the node's record under, or why it could not be read (undefined: no record). */
  storedLease: { leaseId: string; ttlSeconds: number } | undefined | SkiffError;
  watch: 'live' | 'resyncing';
  /** The network's endpoints as etcd holds them now, or why they could not be read. */
  storedEndpoints: EndpointRecord[] | SkiffError;
  /** The network's endpoints of other nodes as the watch last saw them. */
  watchedEndpoints: EndpointRecord[];
}

export interface ClusterOptions {
  /** --cluster-store: etcd://HOST:PORT[,HOST:PORT…] */
  url: string;
  /** --cluster-advertise: IP|IFACE[:PORT] */
  advertise: string;
  /** The node lease's TTL (default: the cluster store's, 2 s). */
  ttlSeconds?: number;
}

/** What the cluster asks of the engine. */
export interface ClusterHooks {
  /** A global network exists: build it on this host if it is not yet. */
  networkAppeared: (network: NetworkRecord) => Promise<void>;
  /** A global network was removed in the cluster: take it down here. */
  networkVanished: (networkId: string) => Promise<void>;
  remoteNameUpserted: (name: RemoteName) => void;
  remoteNameRemoved: (endpointId: string) => void;
  /** The global networks this host has built (their VXLAN devices exist). */
  builtNetworkIds: () => ReadonlySet<string>;
  log: (message: string) => void;
}

const RETRY_MS = 1_000;

export class OverlayCluster {
  private membership: NodeMembership | undefined;
  private watch: ClusterWatch | undefined;
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly remoteEndpoints = new Map<string, EndpointRecord>();
  private readonly queue: ClusterChange[][] = [];
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The driver whose VXLAN devices get the entries. */
  private driver: OverlayDriver | undefined;

  private constructor(
    private readonly store: ClusterStore,
    readonly underlay: UnderlayInterface,
    private readonly options: ClusterOptions,
  ) {}

  /** Finds the underlay and reaches etcd, before anything on the host is changed; either failing is the daemon's start error. */
  static async connect(options: ClusterOptions): Promise<OverlayCluster> {
    const underlay = await findUnderlay(options.advertise);
    const store = await ClusterStore.open({ url: options.url });
    return new OverlayCluster(store, underlay, options);
  }

  get storeUrl(): string {
    return this.store.url;
  }

  get nodeId(): string | undefined {
    return this.membership?.node.nodeId;
  }

  /**
   * Joins as a node under a lease, publishes again the endpoints this host
   * still has (a restarted daemon: same ids, same addresses), then reads the
   * cluster and follows it.
   */
  async start(nodeId: string, localEndpoints: readonly EndpointRecord[], driver: OverlayDriver, hooks: ClusterHooks): Promise<void> {
    this.driver = driver;
    this.membership = await this.store.join(
      { nodeId, hostname: hostname(), advertiseAddress: this.underlay.address },
      {
        ...(this.options.ttlSeconds === undefined ? {} : { ttlSeconds: this.options.ttlSeconds }),
        handlers: {
          onLeaseLost: (error) => hooks.log(`cluster: ${error.message}; seeking a new lease`),
          onLeaseRenewed: (leaseId) => hooks.log(`cluster: node ${nodeId} holds lease ${leaseId} again`),
          onEndpointLost: (endpoint, error) =>
            hooks.log(`cluster: endpoint ${endpoint.id} (${endpoint.containerName}) could not be published again: ${error.message}`),
        },
      },
    );
    for (const endpoint of localEndpoints) {
      await this.membership
        .addEndpoint({ ...endpoint, ipv4: endpoint.ipv4, macOf: () => endpoint.mac })
        .catch((error: SkiffError) => hooks.log(`cluster: publishing endpoint ${endpoint.id} (${endpoint.containerName}) again: ${error.message}`));
    }
    this.watch = await this.store.watch({
      onChanges: (changes) => this.enqueue(changes, hooks),
      // A re-read after a lost watch: entries may have drifted meanwhile (or been
      // deleted by hand), so the next write checks the kernel's one by one.
      onResynced: () => {
        driver.requestAudit();
        this.enqueue([], hooks);
      },
      onError: (error) => hooks.log(`cluster: ${error.message}`),
    });
    this.enqueue([], hooks);
    await this.settled();
  }

  /** Waits until every change seen so far is applied. */
  async settled(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
  }

  /** The global networks the cluster holds, as last seen. */
  knownNetworks(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  createNetwork(request: NetworkRequest): Promise<NetworkRecord> {
    return this.store.createNetwork(request);
  }

  removeNetwork(networkId: string): Promise<void> {
    return this.store.removeNetwork(networkId);
  }

  addEndpoint(request: Parameters<NodeMembership['addEndpoint']>[0]): Promise<EndpointRecord> {
    return this.requireMembership().addEndpoint(request);
  }

  removeEndpoint(endpoint: Pick<EndpointRecord, 'id' | 'networkId' | 'ipv4'>): Promise<void> {
    return this.requireMembership().removeEndpoint(endpoint);
  }

  /** Reads what etcd holds about this node and a network now; etcd out of reach is part of the answer, not an error. */
  async facts(networkId: string): Promise<ClusterFacts> {
    const membership = this.requireMembership();
    const asFailure = (error: unknown) => (error instanceof SkiffError ? error : new SkiffError('unavailable', String(error)));
    const [storedLease, storedEndpoints] = await Promise.all([
      this.store.nodeLease(membership.node.nodeId).catch(asFailure),
      this.store.endpointsOf(networkId).catch(asFailure),
    ]);
    return {
      nodeId: membership.node.nodeId,
      heldLeaseId: membership.renewing ? undefined : membership.leaseId,
      storedLease,
      watch: this.watch?.state ?? 'resyncing',
      storedEndpoints,
      watchedEndpoints: [...this.remoteEndpoints.values()].filter((endpoint) => endpoint.networkId === networkId),
    };
  }

  /** Writes the entries again from the picture (a network was just built here). */
  resyncPeers(hooks: ClusterHooks): void {
    this.enqueue([], hooks);
  }

  private requireMembership(): NodeMembership {
    if (this.membership === undefined) throw new Error('the daemon has not joined the cluster yet');
    return this.membership;
  }

  private enqueue(changes: ClusterChange[], hooks: ClusterHooks): void {
    this.queue.push(changes);
    if (this.draining === undefined)
      this.draining = this.drain(hooks).finally(() => {
        this.draining = undefined;
      });
  }

  private async drain(hooks: ClusterHooks): Promise<void> {
    while (!this.closed) {
      const batch = this.queue.shift();
      if (batch === undefined) return;
      for (const change of batch)
        await this.apply(change, hooks).catch((error: unknown) => hooks.log(`cluster: applying a change of ${change.key}: ${String(error)}`));
      // Later batches may already be queued: one write of entries covers them all.
      if (this.queue.some((pending) => pending.length > 0)) continue;
      await this.writePeers(hooks);
    }
  }

  private async apply(change: ClusterChange, hooks: ClusterHooks): Promise<void> {
    if (change.kind === 'network') {
      if (change.type === 'removed') {
        this.networks.delete(change.network.id);
        await hooks.networkVanished(change.network.id);
      } else {
        this.networks.set(change.network.id, change.network);
        await hooks.networkAppeared(change.network);
        // A full read yields endpoints before networks (etcd's key order): their names wait for it.
        for (const endpoint of this.remoteEndpoints.values()) {
          if (endpoint.networkId === change.network.id) this.upsertName(endpoint, hooks);
        }
      }
      return;
    }
    if (change.kind !== 'endpoint' || change.endpoint.nodeId === this.nodeId) return;
    const endpoint = change.endpoint;
    if (change.type === 'removed') {
      this.remoteEndpoints.delete(endpoint.id);
      hooks.remoteNameRemoved(endpoint.id);
      return;
    }
    this.remoteEndpoints.set(endpoint.id, endpoint);
    this.upsertName(endpoint, hooks);
  }

  /** The embedded DNS answers a remote endpoint's names once its network is known. */
  private upsertName(endpoint: EndpointRecord, hooks: ClusterHooks): void {
    const network = this.networks.get(endpoint.networkId);
    if (network === undefined) return;
    hooks.remoteNameUpserted({
      endpointId: endpoint.id,
      networkId: network.id,
      networkName: network.name,
      containerId: endpoint.containerId,
      containerName: endpoint.containerName,
      aliases: endpoint.aliases,
      ipv4: endpoint.ipv4,
    });
  }

  private async writePeers(hooks: ClusterHooks): Promise<void> {
    if (this.driver === undefined || this.nodeId === undefined) return;
    const built = hooks.builtNetworkIds();
    const wanted = desiredPeers(this.remoteEndpoints.values(), built, this.nodeId);
    try {
      await this.driver.syncPeers(wanted, new Set([...built].map(vxlanName)));
    } catch (error) {
      hooks.log(`cluster: writing FDB/neighbour entries: ${error instanceof Error ? error.message : String(error)}; trying again in ${RETRY_MS} ms`);
      if (this.retryTimer === undefined && !this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.enqueue([], hooks);
        }, RETRY_MS);
      }
    }
  }

  /** Leaves the cluster (the lease is revoked: this host's endpoints vanish everywhere at once) and stops following it. */
  async close(log: (message: string) => void): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.watch?.stop();
    await this.membership?.leave().catch((error: SkiffError) => log(`cluster: leaving: ${error.message}`));
    this.store.close();
  }
}
