/**
 * The overlay driver: one network over many hosts. On each host, a Linux
 * bridge `ov-<id12>` with the network's gateway address and a VXLAN device
 * `vx-<id12>` (the network's VNI, UDP 4789, no learning, ARP answered from
 * the neighbour table) as its port toward the other hosts; containers join
 * the bridge by veth pairs as on a bridge network, at the underlay's MTU less
 * VXLAN's 50 bytes. The remote endpoints' FDB and neighbour entries are
 * written by syncPeers from the cluster's watch (overlay-peers.ts decides).
 *
 * Every host holds the gateway address on its own bridge, so a container's
 * way out (and its embedded DNS) is its own host, never another: ARP never
 * crosses the VXLAN device (proxy mode answers only from the neighbour
 * table, which holds remote containers only), so the shared address never
 * clashes. Each host's bridge has a MAC of its own, so frames a bridge sends
 * toward a remote container are never mistaken there for the local bridge's.
 */
import { conflict, SkiffError } from '../errors.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { deleteOwnLink, ipBatch, linkExists, SKIFF_LINK_ALIAS } from '../kernel/links.js';
import { bridgeBatch, deleteEntries, readPeerRows } from '../kernel/fdb.js';
import { allowLoopbackSources, BRIDGE_MAX_PORTS, detachVethEndpoint, joinVethEndpoint, leaveVethEndpoint, setDefaultRouteIn } from './bridge.js';
import type { JoinOptions, NetworkDriver } from './driver.js';
import { additionLines, peerDiff, peerDrift, peerKey, removalLines, repairLines, vxlanName, type PeerEntry } from './overlay-peers.js';

/** This host's side of the cluster: the address other hosts send VXLAN packets to, on which device. */
export interface Underlay {
  address: string;
  device: string;
  mtu: number;
}

export const VXLAN_PORT = 4789;
/** Outer Ethernet, IPv4, UDP and VXLAN headers. */
export const VXLAN_OVERHEAD = 50;
/** Docker's option naming an overlay network's VNI (shown in inspect). */
export const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';

export function vniOf(network: Network): number {
  const vni = Number(network.options[VNI_OPTION]);
  if (!Number.isInteger(vni) || vni <= 0) throw new SkiffError('invalid', `overlay network ${network.name} has no VNI (option ${VNI_OPTION})`);
  return vni;
}

/** A MAC of this host's bridge: the network's id and the host's advertise address. */
export function overlayBridgeMac(networkId: string, advertiseAddress: string): string {
  const fromId = (networkId.slice(0, 6).match(/../g) ?? []).map((hex) => hex.toLowerCase());
  const fromHost = advertiseAddress
    .split('.')
    .slice(2)
    .map((octet) => Number(octet).toString(16).padStart(2, '0'));
  return ['02', ...fromId, ...fromHost].join(':');
}

function settingsOf(network: Network): { bridgeName: string; mtu: number } {
  if (network.bridge === undefined) throw new Error(`network ${network.name} has no bridge settings`);
  return network.bridge;
}

/** `ip -batch` lines that build one host's part of an overlay network. */
export function overlayCreateLines(network: Network, underlay: Underlay): string[] {
  const { bridgeName, mtu } = settingsOf(network);
  const vxlan = vxlanName(network.id);
  const gatewayLines = network.ipam.pools.map((pool) => `addr add ${pool.gateway}/${pool.subnet.split('/')[1] ?? ''} dev ${bridgeName}`);
  return [
    `link add ${bridgeName} address ${overlayBridgeMac(network.id, underlay.address)} mtu ${mtu} type bridge`,
    `link set ${bridgeName} alias ${SKIFF_LINK_ALIAS}`,
    ...gatewayLines,
    `link add ${vxlan} mtu ${mtu} type vxlan id ${vniOf(network)} dstport ${VXLAN_PORT} nolearning proxy local ${underlay.address} dev ${underlay.device}`,
    `link set ${vxlan} alias ${SKIFF_LINK_ALIAS} master ${bridgeName} up`,
    `link set ${bridgeName} up`,
  ];
}

export class OverlayDriver implements NetworkDriver {
  readonly routesOutside = true;
  /** One bridge port is the VXLAN device. */
  readonly maxEndpoints = BRIDGE_MAX_PORTS - 1;
  /** Entries written to the kernel, by peerKey. */
  private written = new Map<string, PeerEntry>();
  /**
   * The next sync reads the kernel instead of trusting `written`: at start (a
   * previous daemon's entries are there, some for endpoints gone meanwhile),
   * after the cluster was read again, and after a sync that failed part way.
   */
  private auditDue = true;

  /** underlay() is undefined when the daemon runs without --cluster-store: nothing overlay reaches the kernel then. */
  constructor(
    private readonly underlay: () => Underlay | undefined,
    private readonly log: (message: string) => void,
  ) {}

  private requireUnderlay(network: Network): Underlay {
    const underlay = this.underlay();
    if (underlay === undefined)
      throw new SkiffError('unavailable', `network ${network.name} is an overlay network: the daemon needs --cluster-store and --cluster-advertise for it`);
    return underlay;
  }

  async createNetwork(network: Network): Promise<void> {
    const underlay = this.requireUnderlay(network);
    const { bridgeName } = settingsOf(network);
    for (const name of [bridgeName, vxlanName(network.id)]) {
      if (await linkExists(name)) throw conflict(`cannot create overlay network ${network.name}: an interface ${name} already exists on this host`);
    }
    try {
      await ipBatch(overlayCreateLines(network, underlay));
      // -p on an overlay container publishes through this bridge, as on a bridge network.
      await allowLoopbackSources(network);
    } catch (error) {
      await this.deleteNetwork(network);
      throw error;
    }
  }

  async deleteNetwork(network: Network): Promise<void> {
    // The VXLAN device takes its FDB and neighbour entries with it.
    for (const entry of this.peersOf(network.id)) this.written.delete(peerKey(entry));
    await deleteOwnLink(vxlanName(network.id));
    await deleteOwnLink(settingsOf(network).bridgeName);
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
    if (this.underlay() === undefined) {
      this.log(`overlay network ${network.name}: left as it is (the daemon runs without --cluster-store)`);
      return;
    }
    const complete = (await linkExists(settingsOf(network).bridgeName)) && (await linkExists(vxlanName(network.id)));
    if (complete) {
      // Set again on every restore, as the bridge driver does.
      await allowLoopbackSources(network);
      return;
    }
    await this.deleteNetwork(network);
    await this.createNetwork(network);
  }

  ownedLinks(network: Network): string[] {
    return [settingsOf(network).bridgeName, vxlanName(network.id)];
  }

  endpointIntact(_network: Network, endpoint: Endpoint, _sandbox: Sandbox, hostLinks: ReadonlySet<string>): Promise<boolean> {
    return Promise.resolve(hostLinks.has(endpoint.hostIfName));
  }

  /** The entries this host has written for a network's remote endpoints. */
  peersOf(networkId: string): PeerEntry[] {
    const device = vxlanName(networkId);
    return [...this.written.values()].filter((entry) => entry.device === device);
  }

  /** The next sync checks the kernel's entries one by one (the cluster was read again: anything may have drifted). */
  requestAudit(): void {
    this.auditDue = true;
  }

  /**
   * Makes the VXLAN devices' entries those wanted: removals first, then
   * additions with `replace`; returns once the kernel holds them. Normally
   * only the difference from what was written is carried out; an audit reads
   * what the kernel holds on `devices` (every built network's VXLAN device)
   * and mends whatever differs, including entries deleted or added by hand.
   */
  async syncPeers(wanted: readonly PeerEntry[], devices: ReadonlySet<string>): Promise<{ added: number; removed: number }> {
    try {
      return this.auditDue ? await this.auditPeers(wanted, devices) : await this.writeDifference(wanted);
    } catch (error) {
      this.auditDue = true;
      throw error;
    }
  }

  private async writeDifference(wanted: readonly PeerEntry[]): Promise<{ added: number; removed: number }> {
    const { remove, add } = peerDiff(this.written.values(), wanted);
    if (remove.length === 0 && add.length === 0) return { added: 0, removed: 0 };
    const removal = removalLines(remove, wanted);
    await deleteEntries('ip', removal.neighbour);
    await deleteEntries('bridge', removal.fdb);
    for (const entry of remove) this.written.delete(peerKey(entry));
    const addition = additionLines(add);
    await bridgeBatch(addition.fdb);
    await ipBatch(addition.neighbour);
    for (const entry of add) this.written.set(peerKey(entry), entry);
    return { added: add.length, removed: remove.length };
  }

  private async auditPeers(wanted: readonly PeerEntry[], devices: ReadonlySet<string>): Promise<{ added: number; removed: number }> {
    const { fdb, neighbours } = await readPeerRows(devices);
    const lines = repairLines(peerDrift(wanted, fdb, neighbours));
    await deleteEntries('ip', lines.neighbourDelete);
    await deleteEntries('bridge', lines.fdbDelete);
    await bridgeBatch(lines.fdb);
    await ipBatch(lines.neighbour);
    this.written = new Map(wanted.map((entry) => [peerKey(entry), entry]));
    this.auditDue = false;
    return { added: lines.fdb.length, removed: lines.fdbDelete.length };
  }
}
