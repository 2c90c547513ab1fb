/**
 * The cluster store: skiff's global (overlay) state in etcd. Networks are
 * created and removed here, cluster-wide and atomically; a daemon joins to
 * publish its node and endpoints under a lease; a watch follows everyone's.
 *
 *   const store = await ClusterStore.open({ url: 'etcd://10.9.0.2:2379' });
 *   const network = await store.createNetwork({ id, name: 'ov' });
 *   const me = await store.join({ nodeId, hostname, advertiseAddress: '10.9.0.11' });
 *   const endpoint = await me.addEndpoint({ id, networkId: network.id, containerId, containerName, macOf });
 *   const watch = await store.watch({ onChanges, onError });
 */
import { conflict, notFound } from '../errors.js';
import { EtcdConnection } from './etcd.js';
import { KeyLayout } from './keys.js';
import { NodeMembership, type MembershipHandlers } from './membership.js';
import { planNetworkCreate, planNetworkRemove, type NetworkRequest } from './plan.js';
import { decodeEndpoint, decodeNetwork, type EndpointRecord, type NetworkRecord, type NodeRecord } from './records.js';
import { parseClusterStoreUrl } from './url.js';
import { ClusterWatch, type WatchHandlers } from './watch.js';

export interface ClusterStoreOptions {
  /** --cluster-store: etcd://HOST:PORT[,HOST:PORT…] */
  url: string;
  /** Where skiff's keys live in etcd (default /skiff/v1/). */
  root?: string;
  /** How long one etcd call may take before etcd counts as unreachable (default 2 s). */
  callTimeoutMs?: number;
}

/** Docker's --cluster-store lease is seconds long; skiff's must let a dead host vanish in under 3 s. */
export const DEFAULT_LEASE_TTL_SECONDS = 2;

export class ClusterStore {
  private constructor(
    private readonly connection: EtcdConnection,
    readonly keys: KeyLayout,
  ) {}

  /** Connects and reads once, so an unreachable etcd is reported here, by name, before anything is done. */
  static async open(options: ClusterStoreOptions): Promise<ClusterStore> {
    const keys = new KeyLayout(options.root);
    const connection = new EtcdConnection({
      url: options.url,
      hosts: parseClusterStoreUrl(options.url),
      ...(options.callTimeoutMs === undefined ? {} : { callTimeoutMs: options.callTimeoutMs }),
    });
    try {
      await connection.readPrefix(keys.nodes, 'connecting');
    } catch (error) {
      connection.close();
      throw error;
    }
    return new ClusterStore(connection, keys);
  }

  get url(): string {
    return this.connection.url;
  }

  async networks(): Promise<NetworkRecord[]> {
    const read = await this.connection.readPrefix(this.keys.networks, 'listing networks');
    return read.keys.map((key) => decodeNetwork(key.key, key.value));
  }

  /** A global network with a subnet and VNI unique in the cluster, even against daemons creating at the same instant. */
  async createNetwork(request: NetworkRequest): Promise<NetworkRecord> {
    return this.connection.commit(`creating network ${request.name}`, async () => {
      const read = await this.connection.readPrefix(this.keys.networks, `creating network ${request.name}`);
      const existing = read.keys.map((key) => decodeNetwork(key.key, key.value));
      const { plan, network } = planNetworkCreate(this.keys, existing, read.revision, request, new Date());
      return { plan, outcome: network };
    });
  }

  /** Removes a network everywhere, refused while any node has an endpoint on it. */
  async removeNetwork(networkId: string): Promise<void> {
    const result = await this.connection.txn(planNetworkRemove(this.keys, networkId), `removing network ${networkId}`);
    if (result.succeeded) return;
    const [networkKey] = result.ranges[0] ?? [];
    if (networkKey === undefined) throw notFound(`network ${networkId} not found`);
    const network = decodeNetwork(networkKey.key, networkKey.value);
    throw conflict(`error while removing network: network ${network.name} id ${network.id} has active endpoints`);
  }

  /** A network's endpoints as etcd holds them now (what diagnose compares the kernel with). */
  async endpointsOf(networkId: string): Promise<EndpointRecord[]> {
    const read = await this.connection.readPrefix(this.keys.endpointsOf(networkId), `reading the endpoints of network ${networkId}`);
    return read.keys.map((key) => decodeEndpoint(key.key, key.value));
  }

  /** The lease a node's record lives under and the seconds it has left, or undefined when etcd holds no record of the node. */
  async nodeLease(nodeId: string): Promise<{ leaseId: string; ttlSeconds: number } | undefined> {
    const doing = `reading the lease of node ${nodeId}`;
    const [record] = (await this.connection.readPrefix(this.keys.node(nodeId), doing)).keys.filter((key) => key.key === this.keys.node(nodeId));
    if (record?.lease === undefined) return undefined;
    return { leaseId: record.lease, ttlSeconds: await this.connection.leaseTimeToLive(record.lease, doing) };
  }

  /** Joins the cluster as a node: a lease of ttlSeconds under which its records live. */
  async join(node: Omit<NodeRecord, 'joined'>, options: { ttlSeconds?: number; handlers?: MembershipHandlers } = {}): Promise<NodeMembership> {
    const record: NodeRecord = { ...node, joined: new Date().toISOString() };
    return NodeMembership.join(this.connection, this.keys, record, options.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS, options.handlers ?? {});
  }

  /** Reads the whole cluster, then follows it. */
  async watch(handlers: WatchHandlers): Promise<ClusterWatch> {
    return ClusterWatch.start(this.connection, this.keys, handlers);
  }

  close(): void {
    this.connection.close();
  }
}
