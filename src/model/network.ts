/**
 * The network model (Docker's CNM): networks, endpoints, sandboxes, published
 * ports. camelCase, no wire concerns; api/wire converts to Docker's JSON in
 * one place. Imports nothing of skiff's but other model types.
 */
import type { InterfaceAddress } from './address.js';

export type DriverName = 'bridge' | 'host' | 'null' | 'macvlan' | 'ipvlan' | 'overlay';
export type Scope = 'local' | 'global' | 'swarm';

/** One IPAM pool of a network after validation and allocation: every field final. */
export interface IpamPool {
  /** Canonical CIDR, e.g. "172.18.0.0/16" or "fd00::/64". */
  subnet: string;
  /** Gateway address without prefix, e.g. "172.18.0.1". */
  gateway: string;
  /** Canonical CIDR the dynamic allocations come from; absent means the whole subnet. */
  ipRange?: string;
  /** Reserved addresses by name (Docker's --aux-address host=addr). */
  auxAddresses: Record<string, string>;
  /** Whether the user gave this subnet (static --ip is only allowed then). */
  userConfigured: boolean;
}

export interface NetworkIpam {
  driver: string;
  /** null for the predefined networks, as Docker shows them. */
  options: Record<string, string> | null;
  pools: IpamPool[];
}

/** Bridge driver settings, decided from Docker's -o options at create time. */
export interface BridgeSettings {
  bridgeName: string;
  enableIcc: boolean;
  enableIpMasquerade: boolean;
  hostBindingIpv4: string;
  mtu: number;
  /** The default network `bridge` (docker0's counterpart). */
  isDefaultBridge: boolean;
}

export interface Network {
  id: string;
  name: string;
  driver: DriverName;
  scope: Scope;
  /** RFC 3339 with nanoseconds, as Docker prints it. */
  created: string;
  internal: boolean;
  attachable: boolean;
  ingress: boolean;
  enableIPv6: boolean;
  ipam: NetworkIpam;
  /** The -o options exactly as Docker shows them in inspect. */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Present for driver 'bridge'. */
  bridge?: BridgeSettings;
}

export interface Endpoint {
  id: string;
  /** The container's name (Docker shows it in network inspect). */
  name: string;
  networkId: string;
  sandboxId: string;
  /** Interface name inside the sandbox: eth0, eth1, ... */
  ifName: string;
  /** Host-side veth name: veth + 7 hex. */
  hostIfName: string;
  macAddress: string;
  /** Absent if the network has no IPv4 pool. */
  ipv4?: InterfaceAddress;
  ipv6?: InterfaceAddress;
  /** --network-alias names on this network. */
  aliases: string[];
  /** Link-local addresses beside the allocated ones (IPAMConfig.LinkLocalIPs). */
  linkLocalAddresses?: InterfaceAddress[];
  /** Links on a user network: alias → the linked container's name, resolved only for this endpoint's container. */
  links?: Record<string, string>;
  /** The container id this endpoint belongs to ('' for library sandboxes). */
  containerId: string;
}

/** Whether the endpoint has an IPv6 address: only then do its interface and the sandbox's lo get IPv6 (sandboxes are made without it, as in Docker). */
export function endpointUsesIpv6(endpoint: Endpoint): boolean {
  return endpoint.ipv6 !== undefined || (endpoint.linkLocalAddresses ?? []).some((address) => address.family === 6);
}

export interface Sandbox {
  id: string;
  /** Path of the bind-mounted network namespace file: <exec-root>/netns/<id12>. */
  netnsPath: string;
  containerId: string;
  /** The container's hostname, which its embedded DNS answers for. */
  hostname: string;
  /** The container's own --dns servers ([] = the daemon's): where its names are forwarded. */
  dnsServers: string[];
  /**
   * The ports the namespace's 127.0.0.11 redirect sends to, kept once the
   * kernel has the redirect (and dropped before it changes), so a restarted
   * daemon takes them back without a program per sandbox to read them.
   */
  resolverRedirect?: { udp: number; tcp: number };
}

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/** One -p request: a container port, to be bound on a host address and a port from a range. */
export interface PortRequest {
  protocol: PortProtocol;
  containerPort: number;
  /** '' = the network's default binding address. */
  hostIp: string;
  /** Inclusive range to pick from; [0, 0] = ephemeral. */
  hostPortRange: [number, number];
}

export interface PortBinding {
  protocol: PortProtocol;
  hostIp: string;
  hostPort: number;
  containerPort: number;
  /** The endpoint that receives the traffic. */
  endpointId: string;
  /** The container's address the traffic is sent to (no prefix). */
  containerIp: string;
}
