/**
 * The controller (libnetwork's): validates, orders the work, owns the
 * transactions. Every mutation runs under one mutex, writes its intent to the
 * store first (state 'pending'), then changes the kernel, then marks the
 * record 'ready'; a failure undoes the kernel steps and the record. A daemon
 * killed anywhere in between finds the 'pending' records on restart and rolls
 * them back (see reconcile.ts).
 *
 * The engine owns everything a network needs beyond its driver: the address
 * allocators, skiff's nftables table (the only writer), published ports and
 * the embedded DNS, so the container layer only asks for sandboxes, joins and
 * ports.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { forbidden, invalid, notFound, SkiffError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { NetworkAllocators, hostOverlaps, DEFAULT_BRIDGE_SUBNET, type AddressPoolSpec } from '../ipam/index.js';
import { Firewall } from '../firewall/index.js';
import { BridgeDriver } from '../drivers/bridge.js';
import { PassthroughDriver } from '../drivers/passthrough.js';
import { MacvlanDriver } from '../drivers/macvlan.js';
import type { NetworkDriver } from '../drivers/driver.js';
import { macFromIpv4, randomMac } from '../drivers/mac.js';
import { createNetnsFile, removeNetnsFile } from '../kernel/netns.js';
import { setSysctl } from '../kernel/sysctl.js';
import { readHostNetworks } from '../kernel/host-networks.js';
import { Store } from '../store/store.js';
import { familyOf, type InterfaceAddress, type IpFamily } from '../model/address.js';
import { newId, shortId, timestampNow } from '../model/ids.js';
import type { DriverName, Endpoint, Network, PortBinding, PortRequest, Sandbox } from '../model/network.js';
import { DEFAULT_MTU, PREDEFINED_NETWORKS } from '../model/options.js';
import { findByReference } from './lookup.js';
import { Mutex } from './mutex.js';
import { planNetwork, planPredefinedNetwork, type DefaultBridgeConfig, type NetworkCreateRequest } from './network-plan.js';
import { defaultGateways } from './routes.js';
import { firewallNetworkOf } from './firewall-state.js';
import { reconcile } from './reconcile.js';
import { EventBus } from './events.js';
import { diagnoseNetwork, type DiagnosisCheck } from './diagnose.js';
import { forwardingUpstreams, NameService } from './name-service.js';
import { PublishedPorts } from './published-ports.js';

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
  /** Shown as the container's name in network inspect; the name the embedded DNS answers for. */
  name: string;
  ipv4?: string;
  ipv6?: string;
  aliases?: string[];
  containerId?: string;
  /** A MAC chosen by the user (--mac-address); otherwise Docker's 02:42 + IPv4. */
  macAddress?: string;
}

export interface SandboxRequest {
  containerId?: string;
  hostname?: string;
  /** The container's own --dns servers. */
  dnsServers?: string[];
  /** false leaves lo to the first join's batch. */
  loopbackUp?: boolean;
}

export class Engine {
  readonly store: Store;
  readonly netnsDir: string;
  readonly events: EventBus;
  /** Stable id of this daemon's data root (docker info's ID). */
  readonly daemonId: string;
  private readonly firewall: Firewall;
  private readonly log: (message: string) => void;
  private readonly defaultAddressPools: () => readonly AddressPoolSpec[];
  private readonly mutex = new Mutex();
  private readonly networksById = new Map<string, Network>();
  private readonly endpointsById = new Map<string, Endpoint>();
  private readonly sandboxesById = new Map<string, Sandbox>();
  private readonly allocators = new Map<string, NetworkAllocators>();
  private readonly drivers: Record<DriverName, NetworkDriver>;
  private readonly names: NameService;
  private readonly ports: PublishedPorts;

  private constructor(options: EngineOptions) {
    this.store = new Store(options.dataRoot);
    this.firewall = new Firewall(options.firewallTable ?? 'skiff');
    this.netnsDir = join(options.execRoot, 'netns');
    mkdirSync(this.netnsDir, { recursive: true });
    this.log = options.log ?? (() => undefined);
    this.defaultAddressPools = options.defaultAddressPools ?? (() => []);
    this.events = new EventBus((error) => this.log(`event subscriber failed: ${String(error)}`));
    this.daemonId = this.store.getSetting('daemon-id') ?? newId();
    this.store.setSetting('daemon-id', this.daemonId);
    this.names = new NameService(forwardingUpstreams(options.dnsServers ?? []), this.log);
    this.ports = new PublishedPorts(this.firewall, options.defaultBridge?.hostBindingIpv4 ?? '0.0.0.0');
    const bridge = new BridgeDriver();
    const passthrough = new PassthroughDriver();
    // ipvlan and overlay are refused at planning (network-plan.ts); nothing reaches their slots.
    this.drivers = { bridge, host: passthrough, null: passthrough, macvlan: new MacvlanDriver(), ipvlan: passthrough, overlay: passthrough };
  }

  /** Opens the store, reconciles the kernel with it, makes the predefined networks and gives the embedded DNS every endpoint. */
  static async open(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    if (options.ipForward !== false) await setSysctl('net.ipv4.ip_forward', '1');
    engine.loadFromStore();
    await reconcile(engine.reconcileContext());
    engine.firewall.resetNetworks(engine.listNetworks().flatMap((network) => firewallNetworkOf(network) ?? []));
    await engine.firewall.applyWhole();
    await engine.ensurePredefinedNetworks(options.defaultBridge ?? {});
    await engine.restoreNames();
    return engine;
  }

  async close(): Promise<void> {
    await this.names.close();
    this.ports.close();
    this.store.close();
  }

  get firewallTable(): string {
    return this.firewall.table;
  }

  // ---- reading

  listNetworks(): Network[] {
    return [...this.networksById.values()];
  }

  getNetwork(reference: string): Network {
    return findByReference(this.networksById.values(), reference);
  }

  /** The network, or undefined when the reference names none (other lookup errors still throw). */
  findNetwork(reference: string): Network | undefined {
    try {
      return this.getNetwork(reference);
    } catch (error) {
      if (error instanceof SkiffError && error.kind === 'notFound') return undefined;
      throw error;
    }
  }

  endpointsOfNetwork(networkId: string): Endpoint[] {
    return [...this.endpointsById.values()].filter((endpoint) => endpoint.networkId === networkId);
  }

  endpointsOfSandbox(sandboxId: string): Endpoint[] {
    return [...this.endpointsById.values()].filter((endpoint) => endpoint.sandboxId === sandboxId);
  }

  /** A sandbox's endpoints with their networks, in the order they joined. */
  attachments(sandboxId: string): Array<{ endpoint: Endpoint; network: Network }> {
    return this.endpointsOfSandbox(sandboxId).flatMap((endpoint) => {
      const network = this.networksById.get(endpoint.networkId);
      return network === undefined ? [] : [{ endpoint, network }];
    });
  }

  getSandbox(id: string): Sandbox {
    const sandbox = this.sandboxesById.get(id);
    if (sandbox === undefined) throw notFound(`sandbox ${id} not found`);
    return sandbox;
  }

  listSandboxes(): Sandbox[] {
    return [...this.sandboxesById.values()];
  }

  /** Reads the kernel and says, check by check, whether it still matches the network (skiff network diagnose). */
  diagnoseNetwork(reference: string): Promise<DiagnosisCheck[]> {
    const network = this.getNetwork(reference);
    return diagnoseNetwork(network, this.endpointsOfNetwork(network.id), this.sandboxesById, this.firewall.table);
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
        projected === undefined ? Promise.resolve() : this.firewall.addNetwork(projected),
      ]);
      const failed = steps.find((step): step is PromiseRejectedResult => step.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      failpoint('network-create:kernel-done');
      // Inside the undo's reach: a disk that filled up since the 'pending' write takes the kernel objects back out.
      this.store.setNetworkState(network.id, 'ready');
    } catch (error) {
      const undone = await Promise.allSettled([
        projected === undefined ? Promise.resolve() : this.firewall.removeNetwork(projected),
        driver.deleteNetwork(network),
        Promise.resolve().then(() => this.store.deleteNetwork(network.id)),
      ]);
      // A record left 'pending' (the store refused this write too) is removed by the next start's reconcile.
      for (const step of undone) if (step.status === 'rejected') this.log(`undo of network ${network.name} failed: ${String(step.reason)}`);
      throw error;
    }
    this.networksById.set(network.id, network);
    this.allocators.set(network.id, new NetworkAllocators(network.ipam.pools, network));
    this.events.emit('network', 'create', network.id, { name: network.name, type: network.driver });
  }

  /** Tears a network down; every step is tried, and all failures are reported together. */
  private async uninstallNetwork(network: Network): Promise<void> {
    this.store.setNetworkState(network.id, 'removing');
    const projected = firewallNetworkOf(network);
    const steps = await Promise.allSettled([
      projected === undefined ? Promise.resolve() : this.firewall.removeNetwork(projected),
      this.drivers[network.driver].deleteNetwork(network),
      this.names.networkRemoved(network.id),
    ]);
    const failures = steps.flatMap((step) => (step.status === 'rejected' ? [String(step.reason instanceof Error ? step.reason.message : step.reason)] : []));
    if (failures.length > 0) {
      // The record stays 'removing': the next restart finishes the removal.
      throw new SkiffError('unavailable', `error while removing network ${network.name}: ${failures.join('; ')}`);
    }
    this.store.deleteNetwork(network.id);
    this.networksById.delete(network.id);
    this.allocators.delete(network.id);
    this.events.emit('network', 'destroy', network.id, { name: network.name, type: network.driver });
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

  /** A new network namespace (lo up unless the first join will bring it up). */
  createSandbox(request: SandboxRequest = {}): Promise<Sandbox> {
    return this.mutex.run(async () => {
      const id = newId();
      const sandbox: Sandbox = {
        id, netnsPath: join(this.netnsDir, shortId(id)), containerId: request.containerId ?? '', hostname: request.hostname ?? '', dnsServers: request.dnsServers ?? [],
      };
      this.store.putSandbox(sandbox);
      try {
        await createNetnsFile(sandbox.netnsPath, { loopbackUp: request.loopbackUp !== false });
      } catch (error) {
        await removeNetnsFile(sandbox.netnsPath).catch((undoError: unknown) => this.log(`undo of namespace ${sandbox.netnsPath} failed: ${String(undoError)}`));
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
      for (const endpoint of this.endpointsOfSandbox(id)) await this.removeEndpoint(endpoint, undefined);
      this.names.sandboxReleased(sandbox.netnsPath);
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
      const routed = existing.some((other) => this.carriesDefaultRoute(other));
      try {
        await this.drivers[network.driver].join(network, endpoint, sandbox, { defaultGateways: routed ? [] : this.gatewaysFor(network, endpoint) });
      } catch (error) {
        this.releaseEndpoint(endpoint);
        throw error;
      }
      failpoint('endpoint-join:plumbed');
      try {
        await this.names.endpointJoined(network, endpoint, sandbox, this.attachments(sandbox.id));
      } catch (error) {
        await this.removeEndpoint(endpoint, sandbox).catch((undoError: unknown) => this.log(`undo of endpoint ${endpoint.id} failed: ${String(undoError)}`));
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
      await this.removeEndpoint(endpoint, sandbox);
      if (hadDefaultRoute) await this.moveDefaultRoute(sandbox);
    });
  }

  /** Publishes port requests on the sandbox's first network (the container's primary one); none there, none published. */
  publishPorts(sandboxId: string, requests: readonly PortRequest[]): Promise<PortBinding[]> {
    return this.mutex.run(async () => {
      const primary = this.attachments(sandboxId)[0];
      if (requests.length === 0 || primary === undefined) return [];
      return this.ports.publish(requests, primary.network, primary.endpoint);
    });
  }

  unpublishPorts(bindings: readonly PortBinding[]): Promise<void> {
    return this.mutex.run(() => this.ports.unpublish(bindings));
  }

  /** After a daemon restart: the ports of a container that kept running are held and mapped again. */
  restorePorts(bindings: readonly PortBinding[]): Promise<void> {
    return this.mutex.run(async () => {
      const endpointId = bindings[0]?.endpointId;
      const endpoint = endpointId === undefined ? undefined : this.endpointsById.get(endpointId);
      const network = endpoint === undefined ? undefined : this.networksById.get(endpoint.networkId);
      if (network !== undefined) await this.ports.restore(bindings, network);
    });
  }

  private carriesDefaultRoute(endpoint: Endpoint): boolean {
    const network = this.networksById.get(endpoint.networkId);
    return network !== undefined && !network.internal && this.drivers[network.driver].routesOutside;
  }

  private gatewaysFor(network: Network, endpoint: Endpoint): string[] {
    return network.internal || !this.drivers[network.driver].routesOutside ? [] : defaultGateways(network.ipam.pools, [endpoint.ipv4, endpoint.ipv6]);
  }

  /** After the default route's endpoint left, route through the next endpoint that can carry it. */
  private async moveDefaultRoute(sandbox: Sandbox): Promise<void> {
    const next = this.endpointsOfSandbox(sandbox.id).find((endpoint) => this.carriesDefaultRoute(endpoint));
    if (next === undefined) return;
    const network = this.networksById.get(next.networkId)!;
    await this.drivers[network.driver].setDefaultRoute(network, next, sandbox, this.gatewaysFor(network, next));
  }

  private allocateEndpoint(network: Network, sandbox: Sandbox, existing: Endpoint[], request: JoinRequest): Endpoint {
    const allocators = this.allocators.get(network.id) ?? new NetworkAllocators(network.ipam.pools, network);
    this.allocators.set(network.id, allocators);
    const id = newId();
    const ipv4 = this.pickAddress(network, allocators, 4, request.ipv4);
    let ipv6: InterfaceAddress | undefined;
    try {
      ipv6 = network.enableIPv6 ? this.pickAddress(network, allocators, 6, request.ipv6) : undefined;
    } catch (error) {
      if (ipv4 !== undefined) allocators.release(ipv4.address);
      throw error;
    }
    const endpoint: Endpoint = {
      id,
      name: request.name,
      networkId: network.id,
      sandboxId: sandbox.id,
      ifName: nextInterfaceName(existing.map((other) => other.ifName)),
      hostIfName: `veth${id.slice(0, 7)}`,
      macAddress: request.macAddress ?? (ipv4 !== undefined ? macFromIpv4(ipv4.address) : randomMac(randomBytes(6))),
      ipv4,
      ipv6,
      aliases: request.aliases ?? [],
      containerId: request.containerId ?? sandbox.containerId,
    };
    try {
      this.store.transaction(() => {
        this.store.putEndpoint(endpoint, 'pending');
        for (const address of [ipv4, ipv6]) {
          if (address !== undefined) this.store.recordAllocation(network.id, address.address, endpoint.id);
        }
      });
    } catch (error) {
      this.releaseAddresses(endpoint);
      throw error;
    }
    this.endpointsById.set(endpoint.id, endpoint);
    return endpoint;
  }

  /** An address of one family, static or allocated; undefined when the network has no pool of that family. */
  private pickAddress(network: Network, allocators: NetworkAllocators, family: IpFamily, requested: string | undefined): InterfaceAddress | undefined {
    if (requested === undefined || requested === '') return allocators.allocate(family);
    if (network.bridge?.isDefaultBridge) throw invalid('user specified IP address is supported on user defined networks only');
    if (!this.drivers[network.driver].routesOutside) throw invalid('user specified IP address is supported on user defined networks only');
    if (!allocators.hasUserConfiguredPool(family)) throw invalid('user specified IP address is supported only when connecting to networks with user configured subnets');
    if (familyOf(requested) !== family) throw invalid(`Invalid address ${requested}: it is not an IPv${family} address`);
    return allocators.claim(requested);
  }

  private releaseAddresses(endpoint: Endpoint): void {
    const allocators = this.allocators.get(endpoint.networkId);
    for (const address of [endpoint.ipv4, endpoint.ipv6]) if (address !== undefined) allocators?.release(address.address);
  }

  private releaseEndpoint(endpoint: Endpoint): void {
    this.store.deleteEndpoint(endpoint.id);
    this.releaseAddresses(endpoint);
    this.endpointsById.delete(endpoint.id);
  }

  /** Leaves the network (driver and names); sandbox undefined: the whole sandbox goes, no resolver to re-point. */
  private async removeEndpoint(endpoint: Endpoint, sandbox: Sandbox | undefined): Promise<void> {
    const network = this.networksById.get(endpoint.networkId);
    const home = this.sandboxesById.get(endpoint.sandboxId);
    this.store.setEndpointState(endpoint.id, 'removing');
    if (network !== undefined && home !== undefined) await this.drivers[network.driver].leave(network, endpoint, home);
    this.releaseEndpoint(endpoint);
    await this.names.endpointLeft(endpoint, sandbox, sandbox === undefined ? [] : this.attachments(sandbox.id));
    if (network !== undefined) this.events.emit('network', 'disconnect', network.id, { container: endpoint.containerId, name: network.name, type: network.driver });
  }

  /** The daemon's --dns changed (SIGHUP): containers without their own --dns forward there from now on. */
  setDnsUpstreams(dnsServers: readonly string[]): void {
    this.names.setUpstreams(forwardingUpstreams(dnsServers));
  }

  /** Re-renders the whole table from what the firewall holds (repairs what was changed behind skiff's back). */
  applyWholeFirewall(): Promise<void> {
    return this.mutex.run(() => this.firewall.applyWhole());
  }

  // ---- restart

  private loadFromStore(): void {
    for (const { record } of this.store.networks()) this.networksById.set(record.id, record);
    for (const sandbox of this.store.sandboxes()) this.sandboxesById.set(sandbox.id, sandbox);
    for (const { record } of this.store.endpoints()) this.endpointsById.set(record.id, record);
  }

  /** The embedded DNS learns every endpoint again (it keeps nothing across restarts). */
  private async restoreNames(): Promise<void> {
    for (const sandbox of this.sandboxesById.values()) {
      const attached = this.attachments(sandbox.id);
      for (const { network, endpoint } of attached) {
        await this.names.endpointJoined(network, endpoint, sandbox, attached).catch((error: unknown) => this.log(`restoring the names of endpoint ${endpoint.id}: ${String(error)}`));
      }
    }
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
      gatewaysFor: (network: Network, endpoint: Endpoint) => this.gatewaysFor(network, endpoint),
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
