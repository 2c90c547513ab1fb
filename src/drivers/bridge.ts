/**
 * The bridge driver: one Linux bridge per network, a veth pair per endpoint
 * (host side `veth<7 hex>` on the bridge, the other end created directly in
 * the sandbox's namespace under its final name).
 */
import { cidrOf, familyOfCidr } from '../model/address.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { deleteLink, deleteOwnLink, detachLink, ipBatch, linkExists, SKIFF_LINK_ALIAS } from '../kernel/links.js';
import { conflict } from '../errors.js';
import type { JoinOptions, NetworkDriver } from './driver.js';
import { setIpv4InterfaceSysctl } from '../kernel/sysctl.js';

function prefixOf(cidr: string): string {
  return cidr.split('/')[1] ?? '';
}

function bridgeOf(network: Network): { bridgeName: string; mtu: number } {
  if (network.bridge === undefined) throw new Error(`network ${network.name} has no bridge settings`);
  return network.bridge;
}

/** `ip -batch` lines that build a network's bridge with its gateway addresses. */
export function bridgeCreateLines(network: Network): string[] {
  const { bridgeName, mtu } = bridgeOf(network);
  const gatewayLines = network.ipam.pools.map(
    (pool) => `addr add ${pool.gateway}/${prefixOf(pool.subnet)} dev ${bridgeName}${familyOfCidr(pool.subnet) === 6 ? ' nodad' : ''}`,
  );
  // A bridge without its own MAC takes the lowest of its ports' and changes it as
  // containers come and go: neighbours' ARP entries for the gateway then point
  // nowhere until they expire. A fixed MAC, derived from the network id, avoids it.
  return [
    `link add ${bridgeName} address ${bridgeMac(network.id)} mtu ${mtu} type bridge`,
    `link set ${bridgeName} alias ${SKIFF_LINK_ALIAS}`,
    ...gatewayLines,
    `link set ${bridgeName} up`,
  ];
}

/** A locally administered unicast MAC from a network id. */
export function bridgeMac(networkId: string): string {
  const bytes = (networkId.slice(0, 10).match(/../g) ?? []).map((hex) => hex.toLowerCase());
  return ['02', ...bytes].join(':');
}

export function hostSideLines(network: Network, endpoint: Endpoint, sandbox: Sandbox): string[] {
  const { bridgeName, mtu } = bridgeOf(network);
  return [
    `link add ${endpoint.hostIfName} mtu ${mtu} master ${bridgeName} type veth peer name ${endpoint.ifName} address ${endpoint.macAddress} mtu ${mtu} netns ${sandbox.netnsPath}`,
    `link set ${endpoint.hostIfName} alias ${SKIFF_LINK_ALIAS} up`,
    // A container reaching its own published port: the DNAT'ed packet goes back out the port it came in on.
    `link set dev ${endpoint.hostIfName} type bridge_slave hairpin on`,
  ];
}

/** `ip -batch` lines that route the sandbox's default traffic through these gateways on the endpoint's interface. */
export function defaultRouteLines(endpoint: Endpoint, gateways: readonly string[]): string[] {
  // ip -batch takes no per-line -6: iproute2 infers the family from the gateway.
  return gateways.map((gateway) => `route replace default via ${gateway} dev ${endpoint.ifName}`);
}

export function sandboxSideLines(endpoint: Endpoint, options: JoinOptions): string[] {
  const lines: string[] = [];
  if (endpoint.ipv4 !== undefined) lines.push(`addr add ${cidrOf(endpoint.ipv4)} dev ${endpoint.ifName}`);
  if (endpoint.ipv6 !== undefined) lines.push(`addr add ${cidrOf(endpoint.ipv6)} dev ${endpoint.ifName} nodad`);
  for (const address of endpoint.linkLocalAddresses ?? [])
    lines.push(`addr add ${cidrOf(address)} dev ${endpoint.ifName}${address.family === 6 ? ' nodad' : ''}`);
  lines.push(`link set ${endpoint.ifName} up`, 'link set lo up', ...defaultRouteLines(endpoint, options.defaultGateways));
  return lines;
}

/** Re-points the default routes inside the sandbox (shared by the drivers whose endpoints are links in it). */
export async function setDefaultRouteIn(endpoint: Endpoint, sandbox: Sandbox, gateways: readonly string[]): Promise<void> {
  await ipBatch(defaultRouteLines(endpoint, gateways), sandbox.netnsPath);
}

/**
 * Published ports reached from the host's own 127.0.0.1 leave, after DNAT,
 * through the bridge with a loopback source: the bridge (and only it, as
 * Docker and netavark do) must route such packets. The overlay's bridge too.
 */
export async function allowLoopbackSources(network: Network): Promise<void> {
  await setIpv4InterfaceSysctl(bridgeOf(network).bridgeName, 'route_localnet', '1');
}

/** A veth endpoint on the network's bridge (the bridge and overlay drivers): host end on the bridge, the other end in the sandbox. */
export async function joinVethEndpoint(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: JoinOptions): Promise<void> {
  await ipBatch(hostSideLines(network, endpoint, sandbox));
  try {
    await ipBatch(sandboxSideLines(endpoint, options), sandbox.netnsPath);
  } catch (error) {
    await deleteLink(endpoint.hostIfName);
    throw error;
  }
}

/** The host end down and off the bridge: the sandbox's end loses its carrier at once; the delete can follow. */
export async function detachVethEndpoint(endpoint: Endpoint): Promise<void> {
  await detachLink(endpoint.hostIfName);
}

/** Deleting the host end removes the pair, and with it the sandbox's interface, addresses and the routes through it. */
export async function leaveVethEndpoint(endpoint: Endpoint): Promise<void> {
  await deleteLink(endpoint.hostIfName);
}

/** A Linux bridge numbers its ports in 10 bits and reserves port 0 (BR_MAX_PORTS in the kernel). */
export const BRIDGE_MAX_PORTS = 1023;

export class BridgeDriver implements NetworkDriver {
  readonly routesOutside = true;
  readonly maxEndpoints = BRIDGE_MAX_PORTS;

  async createNetwork(network: Network): Promise<void> {
    const { bridgeName } = bridgeOf(network);
    if (await linkExists(bridgeName)) {
      throw conflict(`bridge name ${bridgeName} is already used by an interface on this host; choose another com.docker.network.bridge.name`);
    }
    try {
      await ipBatch(bridgeCreateLines(network));
      await allowLoopbackSources(network);
    } catch (error) {
      await deleteOwnLink(bridgeName);
      throw error;
    }
  }

  async deleteNetwork(network: Network): Promise<void> {
    await deleteOwnLink(bridgeOf(network).bridgeName);
  }

  join(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: JoinOptions): Promise<void> {
    return joinVethEndpoint(network, endpoint, sandbox, options);
  }

  detach(_network: Network, endpoint: Endpoint): Promise<void> {
    return detachVethEndpoint(endpoint);
  }

  leave(_network: Network, endpoint: Endpoint): Promise<void> {
    return leaveVethEndpoint(endpoint);
  }

  setDefaultRoute(_network: Network, endpoint: Endpoint, sandbox: Sandbox, gateways: readonly string[]): Promise<void> {
    return setDefaultRouteIn(endpoint, sandbox, gateways);
  }

  async restoreNetwork(network: Network): Promise<void> {
    if (!(await linkExists(bridgeOf(network).bridgeName))) await this.createNetwork(network);
    else await allowLoopbackSources(network);
  }

  ownedLinks(network: Network): string[] {
    return [bridgeOf(network).bridgeName];
  }

  endpointIntact(_network: Network, endpoint: Endpoint, _sandbox: Sandbox, hostLinks: ReadonlySet<string>): Promise<boolean> {
    return Promise.resolve(hostLinks.has(endpoint.hostIfName));
  }
}
