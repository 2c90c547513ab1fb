/**
 * The controller (libnetwork's): validates, orders the work, owns the
 * transactions. Every mutation runs under one mutex, writes its intent to the
 * store first (state 'pending'), then changes the kernel, then marks the
 * record 'ready'; a failure undoes the kernel steps and the record. A daemon
 * killed anywhere in between finds the 'pending' records on restart and rolls
 * them back (see reconcile.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { forbidden, invalid, notFound, SkiffError } from '../errors.js';
import { AddressAllocator, parseAddress, parseCidr, cidrContains, hostOverlaps, DEFAULT_BRIDGE_SUBNET, type AddressPoolSpec } from '../ipam/index.js';
import { applyNft, renderNetworkAdded, renderNetworkRemoved, renderTable, type FirewallPort } from '../firewall/index.js';
import { BridgeDriver } from '../drivers/bridge.js';
import { PassthroughDriver } from '../drivers/passthrough.js';
import { MacvlanDriver } from '../drivers/macvlan.js';
import type { NetworkDriver } from '../drivers/driver.js';
import { macFromIpv4, randomMac } from '../drivers/mac.js';
import { createNetnsFile, removeNetnsFile } from '../kernel/netns.js';
import { ipBatch } from '../kernel/links.js';
import { setSysctl } from '../kernel/sysctl.js';
import { readHostNetworks } from '../kernel/host-networks.js';
import { Store } from '../store/store.js';
import { newId, shortId, timestampNow } from './ids.js';
import { findByReference } from './lookup.js';
import type { DriverName, Endpoint, Network, Sandbox } from './model.js';
import { Mutex } from './mutex.js';
import { planNetwork, planPredefinedNetwork, PREDEFINED_NETWORKS, DEFAULT_MTU, type DefaultBridgeConfig, type NetworkCreateRequest } from './network-plan.js';
import { firewallNetworkOf, firewallStateOf } from './firewall-state.js';
import { reconcile } from './reconcile.js';
import { EventBus } from './events.js';
import { diagnoseNetwork, type DiagnosisCheck } from './diagnose.js';
import { randomBytes } from 'node:crypto';

export interface EngineOptions {
  dataRoot: string;
  execRoot: string;
  /** nftables table name (inet family); several daemons in one namespace need different ones. */
  firewallTable?: string;
  defaultBridge?: Partial<DefaultBridgeConfig>;
  /** Daemon-level DNS servers (dockerd --dns): containers' resolvers and the embedded DNS forwarder. */
  dnsServers?: string[];
  /** dockerd's default-address-pools, read at each choice (a reload may change them); Docker's pools when empty. */
  defaultAddressPools?: () => readonly AddressPoolSpec[];
  /** dockerd --ip-forward: whether the daemon turns on the host's IPv4 forwarding (default true). */
  ipForward?: boolean;
  log?: (message: string) => void;
}

export interface JoinRequest {
  /** Shown as the container's name in network inspect. */
  name: string;
  ipv4?: string;
  ipv6?: string;
  aliases?: string[];
  containerId?: string;
  /** A MAC chosen by the user (--mac-address); otherwise Docker's 02:42 + IPv4. */
  macAddress?: string;
}

export class Engine {
  readonly store: Store;
  readonly firewallTable: string;
  readonly netnsDir: string;
  private readonly log: (message: string) => void;
  private readonly defaultAddressPools: () => readonly AddressPoolSpec[];
  private readonly mutex = new Mutex();
  private readonly networksById = new Map<string, Network>();
  private readonly endpointsById = new Map<string, Endpoint>();
  private readonly sandboxesById = new Map<string, Sandbox>();
  /** Per network, one allocator per pool (same order as network.ipam.pools). */
  private readonly allocators = new Map<string, AddressAllocator[]>();
  private readonly drivers: Record<DriverName, NetworkDriver>;
  private extraFirewallPorts: () => FirewallPort[] = () => [];
  readonly events: EventBus;
  /** Stable id of this daemon's data root (docker info's ID). */
  readonly daemonId: string;

  private constructor(options: EngineOptions) {
    this.store = new Store(options.dataRoot);
    this.firewallTable = options.firewallTable ?? 'skiff';
    this.netnsDir = join(options.execRoot, 'netns');
    mkdirSync(this.netnsDir, { recursive: true });
    this.log = options.log ?? (() => undefined);
    this.defaultAddressPools = options.defaultAddressPools ?? (() => []);
    this.events = new EventBus((error) => this.log(`event subscriber failed: ${String(error)}`));
    this.daemonId = this.store.getSetting('daemon-id') ?? newId();
    this.store.setSetting('daemon-id', this.daemonId);
    const bridge = new BridgeDriver();
    const passthrough = new PassthroughDriver();
    // ipvlan and overlay are refused at planning (network-plan.ts); nothing reaches their slots.
    this.drivers = { bridge, host: passthrough, null: passthrough, macvlan: new MacvlanDriver(), ipvlan: passthrough, overlay: passthrough };
  }

  /** Opens the store, reconciles the kernel with it and makes the predefined networks. */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    if (options.ipForward !== false) await setSysctl('net.ipv4.ip_forward', '1');
    engine.loadFromStore();
    await reconcile(engine.reconcileContext());
    await engine.applyWholeFirewall();
    await engine.ensurePredefinedNetworks(options.defaultBridge ?? {});
    return engine;
  }

  close(): void {
    this.store.close();
  }

  private readonly networkRemovedListeners: Array<(network: Network) => Promise<void>> = [];

  /** Called after a network is gone (the embedded DNS closes its listener). */
  onNetworkRemoved(listener: (network: Network) => Promise<void>): void {
    this.networkRemovedListeners.push(listener);
  }

  /** Lets the port layer contribute its bindings to a whole-table render. */
  setPortSource(source: () => FirewallPort[]): void {
    this.extraFirewallPorts = source;
  }

  // ---- reading

  listNetworks(): Network[] {
    return [...this.networksById.values()];
  }

  getNetwork(reference: string): Network {
    return findByReference(this.networksById.values(), reference);
  }

  endpointsOfNetwork(networkId: string): Endpoint[] {
    return [...this.endpointsById.values()].filter((endpoint) => endpoint.networkId === networkId);
  }

  endpointsOfSandbox(sandboxId: string): Endpoint[] {
    return [...this.endpointsById.values()].filter((endpoint) => endpoint.sandboxId === sandboxId);
  }

  getSandbox(id: string): Sandbox {
    const sandbox = this.sandboxesById.get(id);
    if (sandbox === undefined) throw notFound(`sandbox ${id} not found`);
    return sandbox;
  }

  /** Reads the kernel and says, check by check, whether it still matches the network (skiff network diagnose). */
  diagnoseNetwork(reference: string): Promise<DiagnosisCheck[]> {
    const network = this.getNetwork(reference);
    return diagnoseNetwork(network, this.endpointsOfNetwork(network.id), this.sandboxesById, this.firewallTable);
  }

  listSandboxes(): Sandbox[] {
    return [...this.sandboxesById.values()];
  }

  // ---- networks

  createNetwork(request: NetworkCreateRequest): Promise<Network> {
    return this.mutex.run(async () => {
      // Read at each create: a VPN or LAN may have come up since the last one.
      const hostSubnets = await readHostNetworks();
      const network = planNetwork(request, { id: newId(), created: timestampNow(), existing: this.listNetworks(), hostSubnets, defaultPools: this.defaultAddressPools() });
      for (const pool of network.ipam.pools.filter((planned) => planned.userConfigured)) {
        const shadowed = hostOverlaps(pool.subnet, hostSubnets);
        if (shadowed.length > 0) this.log(`network ${network.name}: subnet ${pool.subnet} overlaps the host's own ${shadowed.join(', ')} (allowed, as in Docker)`);
      }
      await this.installNetwork(network);
      return network;
    });
  }

  deleteNetwork(reference: string): Promise<void> {
    return this.mutex.run(async () => {
      const network = this.getNetwork(reference);
      if ((PREDEFINED_NETWORKS as readonly string[]).includes(network.name)) {
        throw forbidden(`${network.name} is a pre-defined network and cannot be removed`);
      }
      if (this.endpointsOfNetwork(network.id).length > 0) {
        throw new SkiffError('forbidden', `error while removing network: network ${network.name} id ${network.id} has active endpoints`);
      }
      await this.uninstallNetwork(network);
    });
  }

  /** Removes every user network without endpoints; returns the names removed. */
  pruneNetworks(keep: (network: Network) => boolean = () => false): Promise<string[]> {
    return this.mutex.run(async () => {
      const removed: string[] = [];
      for (const network of this.listNetworks()) {
        if ((PREDEFINED_NETWORKS as readonly string[]).includes(network.name)) continue;
        if (this.endpointsOfNetwork(network.id).length > 0 || keep(network)) continue;
        await this.uninstallNetwork(network);
        removed.push(network.name);
      }
      return removed;
    });
  }

  private async installNetwork(network: Network): Promise<void> {
    this.store.putNetwork(network, 'pending');
    const driver = this.drivers[network.driver];
    const projected = firewallNetworkOf(network);
    try {
      // The bridge and the firewall elements are independent: build both at once.
      const steps = await Promise.allSettled([
        driver.createNetwork(network),
        projected === undefined ? Promise.resolve() : applyNft(renderNetworkAdded(projected, this.firewallTable)),
      ]);
      const failed = steps.find((step): step is PromiseRejectedResult => step.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } catch (error) {
      if (projected !== undefined) await applyNft(renderNetworkRemoved(projected, this.firewallTable)).catch(() => undefined);
      await driver.deleteNetwork(network).catch((undoError: unknown) => this.log(`undo of network ${network.name} failed: ${String(undoError)}`));
      this.store.deleteNetwork(network.id);
      throw error;
    }
    this.store.setNetworkState(network.id, 'ready');
    this.networksById.set(network.id, network);
    this.allocators.set(network.id, network.ipam.pools.map((pool) => new AddressAllocator(pool)));
    this.events.emit('network', 'create', network.id, { name: network.name, type: network.driver });
  }

  private async uninstallNetwork(network: Network): Promise<void> {
    this.store.setNetworkState(network.id, 'removing');
    const projected = firewallNetworkOf(network);
    await Promise.all([
      projected === undefined ? Promise.resolve() : applyNft(renderNetworkRemoved(projected, this.firewallTable)),
      this.drivers[network.driver].deleteNetwork(network),
    ]);
    this.store.deleteNetwork(network.id);
    this.networksById.delete(network.id);
    this.allocators.delete(network.id);
    this.events.emit('network', 'destroy', network.id, { name: network.name, type: network.driver });
    for (const listener of this.networkRemovedListeners) await listener(network).catch((error: unknown) => this.log(`after removing network ${network.name}: ${String(error)}`));
  }

  private async ensurePredefinedNetworks(overrides: Partial<DefaultBridgeConfig>): Promise<void> {
    const defaults: DefaultBridgeConfig = {
      bridgeName: 'skiff0', subnet: DEFAULT_BRIDGE_SUBNET, mtu: DEFAULT_MTU, icc: true, ipMasquerade: true, hostBindingIpv4: '0.0.0.0',
      ...overrides,
    };
    for (const name of PREDEFINED_NETWORKS) {
      if (this.listNetworks().some((network) => network.name === name)) continue;
      const network = planPredefinedNetwork(name, { id: newId(), created: timestampNow(), existing: this.listNetworks() }, defaults);
      await this.mutex.run(() => this.installNetwork(network));
    }
  }

  // ---- sandboxes and endpoints

  /** A new network namespace with lo up (loopbackUp: false leaves that to the first join's batch). */
  createSandbox(options: { containerId?: string; hostname?: string; loopbackUp?: boolean } = {}): Promise<Sandbox> {
    return this.mutex.run(async () => {
      const id = newId();
      const sandbox: Sandbox = { id, netnsPath: join(this.netnsDir, shortId(id)), containerId: options.containerId ?? '', hostname: options.hostname ?? '' };
      this.store.putSandbox(sandbox);
      try {
        await createNetnsFile(sandbox.netnsPath);
        if (options.loopbackUp !== false) await ipBatch(['link set lo up'], sandbox.netnsPath);
      } catch (error) {
        await removeNetnsFile(sandbox.netnsPath);
        this.store.deleteSandbox(id);
        throw error;
      }
      this.sandboxesById.set(id, sandbox);
      return sandbox;
    });
  }

  /** Leaves every network, then removes the namespace. */
  deleteSandbox(id: string): Promise<void> {
    return this.mutex.run(async () => {
      const sandbox = this.getSandbox(id);
      for (const endpoint of this.endpointsOfSandbox(id)) await this.removeEndpoint(endpoint);
      await removeNetnsFile(sandbox.netnsPath);
      this.store.deleteSandbox(id);
      this.sandboxesById.delete(id);
    });
  }

  join(sandboxId: string, networkReference: string, request: JoinRequest): Promise<Endpoint> {
    return this.mutex.run(async () => {
      const sandbox = this.getSandbox(sandboxId);
      const network = this.getNetwork(networkReference);
      const existing = this.endpointsOfSandbox(sandboxId);
      if (existing.some((endpoint) => endpoint.networkId === network.id)) {
        throw forbidden(`endpoint with name ${request.name} already exists in network ${network.name}`);
      }
      const endpoint = this.allocateEndpoint(network, sandbox, existing, request);
      const defaultRoute = !network.internal && (network.driver === 'bridge' || network.driver === 'macvlan') && !existing.some((other) => this.carriesDefaultRoute(other));
      try {
        await this.drivers[network.driver].join(network, endpoint, sandbox, { defaultRoute });
      } catch (error) {
        this.releaseEndpoint(endpoint);
        throw error;
      }
      this.store.setEndpointState(endpoint.id, 'ready');
      this.events.emit('network', 'connect', network.id, { container: endpoint.containerId, name: network.name, type: network.driver });
      return endpoint;
    });
  }

  leave(sandboxId: string, networkReference: string): Promise<void> {
    return this.mutex.run(async () => {
      const sandbox = this.getSandbox(sandboxId);
      const network = this.getNetwork(networkReference);
      const endpoint = this.endpointsOfSandbox(sandbox.id).find((candidate) => candidate.networkId === network.id);
      if (endpoint === undefined) throw forbidden(`container ${sandbox.containerId || sandbox.id} is not connected to network ${network.name}`);
      const hadDefaultRoute = this.carriesDefaultRoute(endpoint);
      await this.removeEndpoint(endpoint);
      if (hadDefaultRoute) await this.moveDefaultRoute(sandbox);
    });
  }

  private carriesDefaultRoute(endpoint: Endpoint): boolean {
    const network = this.networksById.get(endpoint.networkId);
    return network !== undefined && (network.driver === 'bridge' || network.driver === 'macvlan') && !network.internal;
  }

  /** After the default route's endpoint left, route through the next endpoint that can carry it. */
  private async moveDefaultRoute(sandbox: Sandbox): Promise<void> {
    const next = this.endpointsOfSandbox(sandbox.id).find((endpoint) => this.carriesDefaultRoute(endpoint));
    if (next === undefined) return;
    const network = this.networksById.get(next.networkId)!;
    const lines = network.ipam.pools.map((pool) => `route replace default via ${pool.gateway} dev ${next.ifName}`);
    await ipBatch(lines, sandbox.netnsPath);
  }

  private allocateEndpoint(network: Network, sandbox: Sandbox, existing: Endpoint[], request: JoinRequest): Endpoint {
    const allocators = this.allocators.get(network.id) ?? [];
    const id = newId();
    const ipv4 = this.pickAddress(network, allocators, 4, request.ipv4);
    const ipv6 = network.enableIPv6 ? this.pickAddress(network, allocators, 6, request.ipv6) : undefined;
    const endpoint: Endpoint = {
      id,
      name: request.name,
      networkId: network.id,
      sandboxId: sandbox.id,
      ifName: nextInterfaceName(existing.map((other) => other.ifName)),
      hostIfName: `veth${id.slice(0, 7)}`,
      macAddress: request.macAddress ?? (ipv4 !== undefined ? macFromIpv4(ipv4.split('/')[0]!) : randomMac(randomBytes(6))),
      ipv4,
      ipv6,
      aliases: request.aliases ?? [],
      containerId: request.containerId ?? sandbox.containerId,
    };
    try {
      this.store.transaction(() => {
        this.store.putEndpoint(endpoint, 'pending');
        for (const address of [ipv4, ipv6]) {
          if (address !== undefined) this.store.recordAllocation(network.id, address.split('/')[0]!, endpoint.id);
        }
      });
    } catch (error) {
      this.releaseAddresses(network.id, endpoint);
      throw error;
    }
    this.endpointsById.set(endpoint.id, endpoint);
    return endpoint;
  }

  /** An address of one family with its prefix ("10.0.0.2/24"), static or allocated; undefined when the network has no pool of that family. */
  private pickAddress(network: Network, allocators: AddressAllocator[], family: 4 | 6, requested: string | undefined): string | undefined {
    const pools = network.ipam.pools.map((pool, index) => ({ pool, allocator: allocators[index]! }))
      .filter(({ pool }) => parseCidr(pool.subnet).family === family);
    if (requested !== undefined && requested !== '') {
      if (network.bridge?.isDefaultBridge) throw invalid('user specified IP address is supported on user defined networks only');
      if (network.driver !== 'bridge' && network.driver !== 'macvlan') throw invalid('user specified IP address is supported on user defined networks only');
      if (!pools.some(({ pool }) => pool.userConfigured)) throw invalid('user specified IP address is supported only when connecting to networks with user configured subnets');
      const value = parseAddress(requested);
      const owner = pools.find(({ pool }) => cidrContains(parseCidr(pool.subnet), value.value));
      if (owner === undefined) throw invalid(`Invalid address ${requested}: It does not belong to any of this network's subnets`);
      owner.allocator.claim(requested);
      return `${requested}/${parseCidr(owner.pool.subnet).prefix}`;
    }
    const first = pools[0];
    if (first === undefined) return undefined;
    return `${first.allocator.allocate()}/${parseCidr(first.pool.subnet).prefix}`;
  }

  private releaseAddresses(networkId: string, endpoint: Endpoint): void {
    for (const address of [endpoint.ipv4, endpoint.ipv6]) {
      if (address === undefined) continue;
      const bare = address.split('/')[0]!;
      const allocator = (this.allocators.get(networkId) ?? []).find((candidate) => candidate.isAllocated(bare));
      allocator?.release(bare);
    }
  }

  private releaseEndpoint(endpoint: Endpoint): void {
    this.store.deleteEndpoint(endpoint.id);
    this.releaseAddresses(endpoint.networkId, endpoint);
    this.endpointsById.delete(endpoint.id);
  }

  private async removeEndpoint(endpoint: Endpoint): Promise<void> {
    const network = this.networksById.get(endpoint.networkId);
    const sandbox = this.sandboxesById.get(endpoint.sandboxId);
    this.store.setEndpointState(endpoint.id, 'removing');
    if (network !== undefined && sandbox !== undefined) await this.drivers[network.driver].leave(network, endpoint, sandbox);
    this.releaseEndpoint(endpoint);
    if (network !== undefined) this.events.emit('network', 'disconnect', network.id, { container: endpoint.containerId, name: network.name, type: network.driver });
  }

  // ---- firewall

  async applyWholeFirewall(): Promise<void> {
    await applyNft(renderTable(firewallStateOf(this.networksById.values(), this.extraFirewallPorts()), this.firewallTable));
  }

  // ---- restart

  private loadFromStore(): void {
    for (const { record } of this.store.networks()) this.networksById.set(record.id, record);
    for (const sandbox of this.store.sandboxes()) this.sandboxesById.set(sandbox.id, sandbox);
    for (const { record } of this.store.endpoints()) this.endpointsById.set(record.id, record);
  }

  private reconcileContext() {
    return {
      store: this.store,
      netnsDir: this.netnsDir,
      networks: this.networksById,
      endpoints: this.endpointsById,
      sandboxes: this.sandboxesById,
      allocators: this.allocators,
      drivers: this.drivers,
      log: this.log,
      carriesDefaultRoute: (endpoint: Endpoint) => this.carriesDefaultRoute(endpoint),
    };
  }
}

/** The lowest ethN not used in the sandbox. */
export function nextInterfaceName(used: readonly string[]): string {
  for (let index = 0; ; index++) {
    const name = `eth${index}`;
    if (!used.includes(name)) return name;
  }
}

