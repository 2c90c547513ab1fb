/**
 * Where skiff keeps the cluster in etcd. Everything lives under one root, so
 * several clusters (or tests) can share an etcd:
 *
 *   ROOT nodes/NODE                       a daemon's record, under its lease
 *   ROOT networks/NETWORK                 a global network (subnet, VNI…), permanent
 *   ROOT endpoints/NETWORK/ENDPOINT       a container's attachment, under its node's lease
 *   ROOT addresses/NETWORK/IPV4           who holds an address, until released
 *
 * Address claims outlive the lease on purpose: a host that comes back gets
 * its containers' addresses again, and nobody else took them meanwhile.
 */
import { invalid } from '../errors.js';

export const DEFAULT_ROOT = '/skiff/v1/';

export type KeyKind = 'node' | 'network' | 'endpoint' | 'address';

export type ParsedKey =
  | { kind: 'node'; nodeId: string }
  | { kind: 'network'; networkId: string }
  | { kind: 'endpoint'; networkId: string; endpointId: string }
  | { kind: 'address'; networkId: string; address: string };

/** Ids become path segments: nothing that could break the layout. */
const SEGMENT = /^[A-Za-z0-9_.:-]{1,128}$/;

function segment(what: string, value: string): string {
  if (!SEGMENT.test(value)) throw invalid(`${what} "${value}" cannot be a cluster store key (letters, digits, _ . : - only)`);
  return value;
}

export class KeyLayout {
  constructor(readonly root: string = DEFAULT_ROOT) {
    if (!/^\/([A-Za-z0-9_.-]+\/)*$/.test(root)) throw invalid(`cluster store root "${root}" must be /SEGMENT/…/ (letters, digits, _ . -)`);
  }

  node(nodeId: string): string {
    return `${this.root}nodes/${segment('node id', nodeId)}`;
  }
  network(networkId: string): string {
    return `${this.root}networks/${segment('network id', networkId)}`;
  }
  endpoint(networkId: string, endpointId: string): string {
    return `${this.endpointsOf(networkId)}${segment('endpoint id', endpointId)}`;
  }
  address(networkId: string, address: string): string {
    return `${this.addressesOf(networkId)}${segment('address', address)}`;
  }

  get nodes(): string {
    return `${this.root}nodes/`;
  }
  get networks(): string {
    return `${this.root}networks/`;
  }
  endpointsOf(networkId: string): string {
    return `${this.root}endpoints/${segment('network id', networkId)}/`;
  }
  addressesOf(networkId: string): string {
    return `${this.root}addresses/${segment('network id', networkId)}/`;
  }

  /** What a key names, or undefined for a key that is not skiff's. */
  parse(key: string): ParsedKey | undefined {
    if (!key.startsWith(this.root)) return undefined;
    const parts = key.slice(this.root.length).split('/');
    if (!parts.every((part) => SEGMENT.test(part))) return undefined;
    const [kind, first, second] = parts;
    if (kind === 'nodes' && parts.length === 2) return { kind: 'node', nodeId: first! };
    if (kind === 'networks' && parts.length === 2) return { kind: 'network', networkId: first! };
    if (kind === 'endpoints' && parts.length === 3) return { kind: 'endpoint', networkId: first!, endpointId: second! };
    if (kind === 'addresses' && parts.length === 3) return { kind: 'address', networkId: first!, address: second! };
    return undefined;
  }
}

/**
 * The end of etcd's range for every key starting with prefix: the prefix with
 * its last byte plus one. Keys are ASCII (KeyLayout checks), so one character
 * is one byte.
 */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
