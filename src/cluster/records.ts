/**
 * What skiff stores in etcd, one JSON object per key, and the checks that
 * turn a value read back into a typed record. Anything else found under the
 * root is refused by name, never half-read.
 */
import { invalid } from '../errors.js';

/** A daemon in the cluster; lives under the node's lease. */
export interface NodeRecord {
  nodeId: string;
  hostname: string;
  /** The underlay address VXLAN packets for this node's containers go to (its VTEP). */
  advertiseAddress: string;
  /** ISO time the node (re)joined. */
  joined: string;
}

/** A global (overlay) network, permanent until removed. */
export interface NetworkRecord {
  id: string;
  name: string;
  subnet: string;
  gateway: string;
  vni: number;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** ISO time of creation. */
  created: string;
}

/** A container's attachment to a global network; lives under its node's lease. */
export interface EndpointRecord {
  id: string;
  networkId: string;
  nodeId: string;
  /** The node's advertise address, copied so a watcher needs nothing else to write FDB entries. */
  vtep: string;
  containerId: string;
  containerName: string;
  aliases: string[];
  mac: string;
  ipv4: string;
}

/** Who holds an address on a network. */
export interface AddressClaim {
  endpointId: string;
  nodeId: string;
}

export function encodeRecord(record: NodeRecord | NetworkRecord | EndpointRecord | AddressClaim): string {
  return JSON.stringify(record);
}

type Shape = Record<string, 'string' | 'number' | 'boolean' | 'strings' | 'dictionary'>;

const nodeShape: Shape = { nodeId: 'string', hostname: 'string', advertiseAddress: 'string', joined: 'string' };
const networkShape: Shape = {
  id: 'string',
  name: 'string',
  subnet: 'string',
  gateway: 'string',
  vni: 'number',
  internal: 'boolean',
  attachable: 'boolean',
  labels: 'dictionary',
  options: 'dictionary',
  created: 'string',
};
const endpointShape: Shape = {
  id: 'string',
  networkId: 'string',
  nodeId: 'string',
  vtep: 'string',
  containerId: 'string',
  containerName: 'string',
  aliases: 'strings',
  mac: 'string',
  ipv4: 'string',
};
const claimShape: Shape = { endpointId: 'string', nodeId: 'string' };

function fits(value: unknown, type: Shape[string]): boolean {
  switch (type) {
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'dictionary':
      return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((item) => typeof item === 'string');
    default:
      return typeof value === type;
  }
}

function decode<T>(what: string, shape: Shape, key: string, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`cluster store key ${key}: ${what} record is not JSON`, error);
  }
  const wrong =
    typeof value !== 'object' || value === null
      ? ['(not an object)']
      : Object.entries(shape)
          .filter(([field, type]) => !fits((value as Record<string, unknown>)[field], type))
          .map(([field]) => field);
  if (wrong.length > 0) throw invalid(`cluster store key ${key}: ${what} record has bad or missing ${wrong.join(', ')}`);
  return value as T;
}

export const decodeNode = (key: string, text: string) => decode<NodeRecord>('node', nodeShape, key, text);
export const decodeNetwork = (key: string, text: string) => decode<NetworkRecord>('network', networkShape, key, text);
export const decodeEndpoint = (key: string, text: string) => decode<EndpointRecord>('endpoint', endpointShape, key, text);
export const decodeClaim = (key: string, text: string) => decode<AddressClaim>('address claim', claimShape, key, text);
