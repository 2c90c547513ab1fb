/**
 * The bridge driver: one Linux bridge per network, a veth pair per endpoint
 * (host side `veth<7 hex>` on the bridge, the other end created directly in
 * the sandbox's namespace under its final name). Networks are built with
 * `ip -batch`; endpoints, made and removed on every connect and disconnect,
 * by rtnetlink requests the daemon sends itself (no program started).
 */
import { familyOfCidr } from '../model/address.js';
import { endpointUsesIpv6, type Endpoint, type Network, type Sandbox } from '../model/network.js';
import { deleteLink, deleteOwnLink, detachLink, ipBatch, linkExists, SKIFF_LINK_ALIAS } from '../kernel/links.js';
import { addrAdd, linkAddVeth, linkSet, routeReplaceDefault, type NetnsRef, type RtnetlinkRequest } from '../kernel/rtnetlink/messages.js';
import { sendRequests, withNetns } from '../kernel/rtnetlink/send.js';
import { conflict } from '../errors.js';
import type { JoinOptions, NetworkDriver } from './driver.js';
import { setIpv4InterfaceSysctl } from '../kernel/sysctl.js';
import { setInterfaceIpv6 } from '../kernel/netns.js';

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

/** The veth pair: host end on the bridge, the other end made straight in the sandbox (netns) under its final name. */
export function vethPairRequest(network: Network, endpoint: Endpoint, netns: NetnsRef): RtnetlinkRequest {
  const { bridgeName, mtu } = bridgeOf(network);
  return linkAddVeth({ name: endpoint.hostIfName, mtu, master: bridgeName, peer: { name: endpoint.ifName, address: endpoint.macAddress, mtu, netns } });
}

/**
 * The host end without IPv6 addresses (Docker's has a link-local one): it
 * needs none to bridge, and its duplicate-address probe and multicast reports
 * would be flooded to every port of the bridge, a cost that grew with each
 * container beside it. Then marked as skiff's, up, in hairpin mode (where the
 * host's bridge-nf-call-iptables is on, br_netfilter turns a container's
 * packet to its own published port around on the bridge, back out of the
 * port it came in by).
 *
 * With ICC off the port is isolated: the bridge forwards nothing between two
 * isolated ports, ARP included, while the bridge itself (the gateway, and the
 * host's routed published ports) still reaches each. That is what keeps a
 * network's containers apart, not the firewall, which bridged frames pass by
 * when bridge-nf-call-iptables is 0 (see firewall/bridge-netfilter.ts).
 */
export function hostPortRequests(endpoint: Endpoint, network: Network): RtnetlinkRequest[] {
  return [
    linkSet(endpoint.hostIfName, { noIpv6AddressGeneration: true }),
    linkSet(endpoint.hostIfName, { up: true, alias: SKIFF_LINK_ALIAS, hairpin: true, isolated: isolatesEndpoints(network) }),
  ];
}

/** ICC off: every endpoint's bridge port isolated from the others. */
export function isolatesEndpoints(network: Network): boolean {
  return network.bridge?.enableIcc === false;
}

/** Requests that route the sandbox's default traffic through these gateways on the endpoint's interface. */
export function defaultRouteRequests(endpoint: Endpoint, gateways: readonly string[]): RtnetlinkRequest[] {
  return gateways.map((gateway) => routeReplaceDefault(endpoint.ifName, gateway));
}

/** Inside the sandbox: the endpoint's addresses (IPv6 without duplicate detection, usable at once), its link and lo up, the default routes. */
export function sandboxSideRequests(endpoint: Endpoint, options: JoinOptions): RtnetlinkRequest[] {
  const addresses = [endpoint.ipv4, endpoint.ipv6, ...(endpoint.linkLocalAddresses ?? [])].flatMap((address) =>
    address === undefined ? [] : [addrAdd(endpoint.ifName, address, { nodad: address.family === 6 })],
  );
  return [...addresses, linkSet(endpoint.ifName, { up: true }), linkSet('lo', { up: true }), ...defaultRouteRequests(endpoint, options.defaultGateways)];
}

/** IPv6 on for the endpoint's interface (under its current name) and lo, when it has an IPv6 address; before its addresses are added. */
export async function enableIpv6Inside(endpoint: Endpoint, sandbox: Sandbox, currentName: string): Promise<void> {
  if (!endpointUsesIpv6(endpoint)) return;
  await setInterfaceIpv6(sandbox.netnsPath, currentName, true);
  await setInterfaceIpv6(sandbox.netnsPath, 'lo', true);
}

/** Re-points the default routes inside the sandbox (shared by the drivers whose endpoints are links in it). */
export async function setDefaultRouteIn(endpoint: Endpoint, sandbox: Sandbox, gateways: readonly string[]): Promise<void> {
  await sendRequests(defaultRouteRequests(endpoint, gateways), sandbox.netnsPath);
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
  await withNetns(sandbox.netnsPath, (netns) => sendRequests([vethPairRequest(network, endpoint, netns)]));
  try {
    await sendRequests(hostPortRequests(endpoint, network));
    await enableIpv6Inside(endpoint, sandbox, endpoint.ifName);
    await sendRequests(sandboxSideRequests(endpoint, options), sandbox.netnsPath);
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

  /** An ICC-off network's ports isolated again: endpoints made by an older skiff relied on br_netfilter instead. */
  async restoreEndpoint(network: Network, endpoint: Endpoint): Promise<void> {
    if (isolatesEndpoints(network)) await sendRequests([linkSet(endpoint.hostIfName, { isolated: true })]);
  }
}
