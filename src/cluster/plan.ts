/**
 * Every change skiff makes in etcd, as a transaction described in data: what
 * must still hold (compares), what to write if it does, what to read back if
 * it does not. Planning is pure, from what was read at some revision; the
 * compares make the transaction fail if anything it relied on changed since,
 * and the caller reads again and plans again. etcd.ts carries plans out.
 */
import { conflict } from '../errors.js';
import { chooseAddress, chooseGateway, chooseSubnet, chooseVni } from './allocate.js';
import { prefixEnd, type KeyLayout } from './keys.js';
import { encodeRecord, type AddressClaim, type EndpointRecord, type NetworkRecord, type NodeRecord } from './records.js';

export interface Compare {
  key: string;
  /** Compare every key in [key, rangeEnd): all must pass; an empty range compares as one absent key. */
  rangeEnd?: string;
  target: 'version' | 'create' | 'mod' | 'value';
  result: 'equal' | 'greater' | 'less' | 'not_equal';
  value: number | string;
}

export type Operation =
  | { op: 'put'; key: string; value: string; lease?: string }
  | { op: 'delete'; key: string; rangeEnd?: string }
  | { op: 'range'; key: string; rangeEnd?: string };

export interface TxnPlan {
  compare: Compare[];
  success: Operation[];
  failure: Operation[];
}

/** A key as read, with its revisions (etcd's create_revision / mod_revision). */
export interface ReadKey {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** The lease the key lives under, if any. */
  lease?: string;
}

export interface NetworkRequest {
  id: string;
  name: string;
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  /** Subnets the new network must not overlap besides the cluster's (the host's own networks, say). */
  avoidSubnets?: string[];
}

const range = (prefix: string) => ({ key: prefix, rangeEnd: prefixEnd(prefix) });

/**
 * A new global network: name and id unique in the cluster, a subnet and a VNI
 * no other network holds. Guarded by "no network key changed after the
 * revision the list was read at", so of two daemons creating at once one
 * wins and the other plans again from the new list.
 */
export function planNetworkCreate(
  keys: KeyLayout,
  networks: readonly NetworkRecord[],
  readRevision: number,
  request: NetworkRequest,
  now: Date,
): { plan: TxnPlan; network: NetworkRecord } {
  if (networks.some((network) => network.name === request.name)) throw conflict(`network with name ${request.name} already exists`);
  if (networks.some((network) => network.id === request.id)) throw conflict(`network with id ${request.id} already exists`);
  const subnet = chooseSubnet([...networks.map((network) => network.subnet), ...(request.avoidSubnets ?? [])], request.subnet);
  const network: NetworkRecord = {
    id: request.id,
    name: request.name,
    subnet,
    gateway: chooseGateway(subnet, request.gateway),
    vni: chooseVni(networks.map((other) => other.vni)),
    internal: request.internal ?? false,
    attachable: request.attachable ?? false,
    labels: request.labels ?? {},
    options: request.options ?? {},
    created: now.toISOString(),
  };
  return {
    network,
    plan: {
      compare: [{ ...range(keys.networks), target: 'mod', result: 'less', value: readRevision + 1 }],
      success: [{ op: 'put', key: keys.network(network.id), value: encodeRecord(network) }],
      failure: [],
    },
  };
}

/**
 * Removes a network and its address claims, only while no endpoint of any
 * node is on it. On failure the network key and one endpoint key are read
 * back, to tell "not found" from "has active endpoints".
 */
export function planNetworkRemove(keys: KeyLayout, networkId: string): TxnPlan {
  const endpoints = range(keys.endpointsOf(networkId));
  return {
    compare: [
      { key: keys.network(networkId), target: 'version', result: 'greater', value: 0 },
      { ...endpoints, target: 'version', result: 'equal', value: 0 },
    ],
    success: [
      { op: 'delete', key: keys.network(networkId) },
      { op: 'delete', ...range(keys.addressesOf(networkId)) },
    ],
    failure: [{ op: 'range', key: keys.network(networkId) }],
  };
}

export interface EndpointRequest {
  id: string;
  networkId: string;
  containerId: string;
  containerName: string;
  aliases?: string[];
  /** A fixed address (--ip, or the one a host coming back held before). */
  ipv4?: string;
  /** The endpoint's MAC, given its address (the driver's rule, e.g. Docker's 02:42 + IPv4). */
  macOf: (ipv4: string) => string;
}

/** What an endpoint plan starts from: its network as read, and every address claim on it. */
export interface EndpointContext {
  network: NetworkRecord;
  networkCreateRevision: number;
  claims: ReadonlyMap<string, { claim: AddressClaim; encoded: string }>;
}

/**
 * An endpoint on a global network, its address chosen and claimed in the same
 * transaction that publishes it: the network must still be the one read, and
 * the address unclaimed (or claimed by this very endpoint, as for a host that
 * comes back). The claim is permanent; the endpoint lives under the lease.
 */
export function planEndpointAdd(
  keys: KeyLayout,
  context: EndpointContext,
  node: NodeRecord,
  leaseId: string,
  request: EndpointRequest,
): { plan: TxnPlan; endpoint: EndpointRecord } {
  const holders = new Map([...context.claims].map(([address, { claim }]) => [address, claim.endpointId]));
  const ipv4 = chooseAddress(context.network, holders, request.id, request.ipv4);
  const endpoint: EndpointRecord = {
    id: request.id,
    networkId: request.networkId,
    nodeId: node.nodeId,
    vtep: node.advertiseAddress,
    containerId: request.containerId,
    containerName: request.containerName,
    aliases: request.aliases ?? [],
    mac: request.macOf(ipv4),
    ipv4,
  };
  const claimKey = keys.address(request.networkId, ipv4);
  const held = context.claims.get(ipv4);
  const claim: AddressClaim = { endpointId: request.id, nodeId: node.nodeId };
  return {
    endpoint,
    plan: {
      compare: [
        { key: keys.network(request.networkId), target: 'create', result: 'equal', value: context.networkCreateRevision },
        held === undefined
          ? { key: claimKey, target: 'create', result: 'equal', value: 0 }
          : { key: claimKey, target: 'value', result: 'equal', value: held.encoded },
      ],
      success: [
        { op: 'put', key: claimKey, value: encodeRecord(claim) },
        { op: 'put', key: keys.endpoint(request.networkId, request.id), value: encodeRecord(endpoint), lease: leaseId },
      ],
      failure: [],
    },
  };
}

/** Removes an endpoint and releases its address, unless the address has meanwhile gone to someone else. */
export function planEndpointRemove(keys: KeyLayout, endpoint: Pick<EndpointRecord, 'id' | 'networkId' | 'nodeId' | 'ipv4'>): TxnPlan {
  const claimKey = keys.address(endpoint.networkId, endpoint.ipv4);
  const ours: AddressClaim = { endpointId: endpoint.id, nodeId: endpoint.nodeId };
  const deleteEndpoint: Operation = { op: 'delete', key: keys.endpoint(endpoint.networkId, endpoint.id) };
  return {
    compare: [{ key: claimKey, target: 'value', result: 'equal', value: encodeRecord(ours) }],
    success: [deleteEndpoint, { op: 'delete', key: claimKey }],
    failure: [deleteEndpoint],
  };
}

/** The node's own record, under its lease. */
export function planNodePut(keys: KeyLayout, node: NodeRecord, leaseId: string): TxnPlan {
  return { compare: [], success: [{ op: 'put', key: keys.node(node.nodeId), value: encodeRecord(node), lease: leaseId }], failure: [] };
}
