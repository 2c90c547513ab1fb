import { createRequire } from 'node:module';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');
/**
 * The embedded DNS server's data: every endpoint on a network with service
 * discovery, indexed for the per-query lookups (lowercased names in Maps, PTR
 * owner names prepared once), plus "who asks": the container owning a source
 * address. Pure in-memory state; the engine keeps it in step with its store.
 */

export interface DnsEndpoint {
  endpointId: string;
  networkId: string;
  networkName: string;
  /** 64 hex. */
  containerId: string;
  containerName: string;
  hostname?: string;
  /** --network-alias names on this network. */
  aliases: string[];
  /** Links on this network: alias → linked container's name, answered only to this endpoint's container (libnetwork's ep.aliases). */
  links?: Readonly<Record<string, string>>;
  ipv4?: string;
  /** No prefix. */
  ipv6?: string;
  /** The container's own --dns servers; undefined means the daemon's. */
  upstreams?: string[];
}

/** The container that sent a query: its endpoints in the order it joined their networks. */
export interface Asker {
  containerId: string;
  endpoints: readonly DnsEndpoint[];
  upstreams?: string[];
}

/** One network's names. Aliases and names apart: Docker looks aliases up first. */
interface NetworkIndex {
  aliases: Map<string, DnsEndpoint[]>;
  names: Map<string, DnsEndpoint[]>;
  /** Reverse owner name ("2.0.18.172.in-addr.arpa", lowercased) to the endpoint holding it. */
  pointers: Map<string, DnsEndpoint>;
}

const SHORT_ID_LENGTH = 12;
const MAX_CACHED_ASKERS = 65_536;

export class DnsRecords {
  private readonly endpoints = new Map<string, DnsEndpoint>();
  private readonly networks = new Map<string, NetworkIndex>();
  private readonly containerOfAddress = new Map<string, string>();
  /** containerId to its endpoints, in join order (a Map keeps insertion order). */
  private readonly endpointsOfContainer = new Map<string, Map<string, DnsEndpoint>>();
  /** Built on first use per source address; any change drops them all. */
  private readonly askers = new Map<string, Asker | null>();
  /** The same by container id, for the resolvers in the containers' namespaces (as many as there are containers). */
  private readonly containerAskers = new Map<string, Asker | null>();
  private changes = 0;
  private readonly changeWatchers = new Set<() => void>();

  /** Counts the changes so far: whatever was worked out from the records at one count is stale at the next. */
  get version(): number {
    return this.changes;
  }

  /** Calls watcher after every change: for answers kept where version is not looked at (the resolvers' fast path in the addon). Returns its removal. */
  onChange(watcher: () => void): () => void {
    this.changeWatchers.add(watcher);
    return () => this.changeWatchers.delete(watcher);
  }

  upsert(endpoint: DnsEndpoint): void {
    const previous = this.endpoints.get(endpoint.endpointId);
    if (previous !== undefined) {
      this.unindex(previous);
      if (previous.containerId !== endpoint.containerId) this.disown(previous);
    }
    const copy: DnsEndpoint = { ...endpoint, aliases: [...endpoint.aliases] };
    this.endpoints.set(copy.endpointId, copy);
    this.index(copy);
    this.askers.clear();
    this.containerAskers.clear();
    this.changed();
  }

  private changed(): void {
    this.changes += 1;
    for (const watcher of this.changeWatchers) watcher();
  }

  find(endpointId: string): DnsEndpoint | undefined {
    return this.endpoints.get(endpointId);
  }

  remove(endpointId: string): void {
    const endpoint = this.endpoints.get(endpointId);
    if (endpoint === undefined) return;
    this.endpoints.delete(endpointId);
    this.unindex(endpoint);
    this.disown(endpoint);
    this.askers.clear();
    this.containerAskers.clear();
    this.changed();
  }

  /** Who asks: the container whose address is sourceIp, or undefined for a stranger. */
  askerOf(sourceIp: string): Asker | undefined {
    const cached = this.askers.get(sourceIp);
    if (cached !== undefined) return cached ?? undefined;
    const containerId = this.containerOfAddress.get(canonicalAddress(sourceIp));
    const asker = containerId === undefined ? null : this.buildAsker(containerId);
    // Strangers' addresses are remembered too; a flood of them must not grow this without end.
    if (this.askers.size >= MAX_CACHED_ASKERS) this.askers.clear();
    this.askers.set(sourceIp, asker);
    return asker ?? undefined;
  }

  /** The container containerId as an asker (its resolver answers in its own namespace); undefined while it has no endpoint here. */
  askerOfContainer(containerId: string): Asker | undefined {
    const cached = this.containerAskers.get(containerId);
    if (cached !== undefined) return cached ?? undefined;
    const asker = this.buildAsker(containerId);
    this.containerAskers.set(containerId, asker);
    return asker ?? undefined;
  }

  private buildAsker(containerId: string): Asker | null {
    const owned = this.endpointsOfContainer.get(containerId);
    if (owned === undefined) return null;
    const endpoints = [...owned.values()];
    const upstreams = endpoints.find((ep) => ep.upstreams !== undefined)?.upstreams;
    return upstreams === undefined ? { containerId, endpoints } : { containerId, endpoints, upstreams };
  }

  /** Endpoints on networkId known by --network-alias `lowerName`. */
  byAlias(networkId: string, lowerName: string): readonly DnsEndpoint[] | undefined {
    return this.networks.get(networkId)?.aliases.get(lowerName);
  }

  /** Endpoints on networkId known by container name, short id or hostname `lowerName`. */
  byName(networkId: string, lowerName: string): readonly DnsEndpoint[] | undefined {
    return this.networks.get(networkId)?.names.get(lowerName);
  }

  /** The endpoint on networkId whose address has the reverse owner name `lowerPointer` (no trailing dot). */
  byPointer(networkId: string, lowerPointer: string): DnsEndpoint | undefined {
    return this.networks.get(networkId)?.pointers.get(lowerPointer);
  }

  private disown(endpoint: DnsEndpoint): void {
    const owned = this.endpointsOfContainer.get(endpoint.containerId);
    owned?.delete(endpoint.endpointId);
    if (owned?.size === 0) this.endpointsOfContainer.delete(endpoint.containerId);
  }

  private index(endpoint: DnsEndpoint): void {
    let network = this.networks.get(endpoint.networkId);
    if (network === undefined) {
      network = { aliases: new Map(), names: new Map(), pointers: new Map() };
      this.networks.set(endpoint.networkId, network);
    }
    for (const alias of new Set(endpoint.aliases.map(lower))) append(network.aliases, alias, endpoint);
    for (const name of namesOf(endpoint)) append(network.names, name, endpoint);
    for (const address of addressesOf(endpoint)) {
      network.pointers.set(reverseName(address), endpoint);
      this.containerOfAddress.set(address, endpoint.containerId);
    }
    let owned = this.endpointsOfContainer.get(endpoint.containerId);
    if (owned === undefined) {
      owned = new Map();
      this.endpointsOfContainer.set(endpoint.containerId, owned);
    }
    // Map.set on a present key keeps its place: an update keeps the join order.
    owned.set(endpoint.endpointId, endpoint);
  }

  private unindex(endpoint: DnsEndpoint): void {
    const network = this.networks.get(endpoint.networkId);
    if (network !== undefined) {
      for (const alias of new Set(endpoint.aliases.map(lower))) detach(network.aliases, alias, endpoint);
      for (const name of namesOf(endpoint)) detach(network.names, name, endpoint);
      for (const address of addressesOf(endpoint)) {
        const pointer = reverseName(address);
        if (network.pointers.get(pointer) === endpoint) network.pointers.delete(pointer);
      }
      if (network.names.size === 0 && network.aliases.size === 0 && network.pointers.size === 0) this.networks.delete(endpoint.networkId);
    }
    for (const address of addressesOf(endpoint)) {
      if (this.containerOfAddress.get(address) === endpoint.containerId) this.containerOfAddress.delete(address);
    }
  }
}

const lower = (name: string): string => name.toLowerCase();

function namesOf(endpoint: DnsEndpoint): Set<string> {
  const names = new Set<string>([lower(endpoint.containerName), endpoint.containerId.slice(0, SHORT_ID_LENGTH).toLowerCase()]);
  if (endpoint.hostname !== undefined && endpoint.hostname !== '') names.add(lower(endpoint.hostname));
  names.delete('');
  return names;
}

function addressesOf(endpoint: DnsEndpoint): string[] {
  const addresses: string[] = [];
  if (endpoint.ipv4 !== undefined && endpoint.ipv4 !== '') addresses.push(canonicalAddress(endpoint.ipv4));
  if (endpoint.ipv6 !== undefined && endpoint.ipv6 !== '') addresses.push(canonicalAddress(endpoint.ipv6));
  return addresses;
}

function append(map: Map<string, DnsEndpoint[]>, key: string, endpoint: DnsEndpoint): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [endpoint]);
  else list.push(endpoint);
}

function detach(map: Map<string, DnsEndpoint[]>, key: string, endpoint: DnsEndpoint): void {
  const list = map.get(key);
  if (list === undefined) return;
  const kept = list.filter((candidate) => candidate.endpointId !== endpoint.endpointId);
  if (kept.length === 0) map.delete(key);
  else map.set(key, kept);
}

/** One spelling per address ("::ffff:10.0.0.2" from a dual-stack socket is 10.0.0.2; IPv6 compressed). */
export function canonicalAddress(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  return parsed.toString();
}

/** The PTR owner name of an address, lowercased, without the trailing dot. */
export function reverseName(address: string): string {
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return `${parsed.toByteArray().reverse().join('.')}.in-addr.arpa`;
  const nibbles = parsed
    .toByteArray()
    .flatMap((byte) => [byte >> 4, byte & 0x0f])
    .map((nibble) => nibble.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}
