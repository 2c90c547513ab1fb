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
import { randomBytes } from '../model/random.js';
import { conflict, forbidden, invalid, notFound, SkiffError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { NetworkAllocators, hostOverlaps, DEFAULT_BRIDGE_SUBNET, type AddressPoolSpec } from '../ipam/index.js';
import { Firewall, type FirewallPort } from '../firewall/index.js';
import { BridgeDriver } from '../drivers/bridge.js';
import { PassthroughDriver } from '../drivers/passthrough.js';
import { MacvlanDriver } from '../drivers/macvlan.js';
import { OverlayDriver, vniOf } from '../drivers/overlay.js';
import type { NetworkRecord } from '../cluster/index.js';
import type { NetworkDriver } from '../drivers/driver.js';
import { macFromIpv4, randomMac } from '../drivers/mac.js';
import { createNetnsFile, removeNetnsFile, setInterfaceIpv6 } from '../kernel/netns.js';
import { setSysctl } from '../kernel/sysctl.js';
import { readHostNetworks } from '../kernel/host-networks.js';
import { Store } from '../store/store.js';
import { familyOf, type InterfaceAddress, type IpFamily } from '../model/address.js';
import { EndpointIndex } from './endpoint-index.js';
import { EndpointTeardowns } from './endpoint-teardowns.js';
import { newId, shortId, timestampNow } from '../model/ids.js';
import { endpointUsesIpv6, type DriverName, type Endpoint, type Network, type PortBinding, type PortRequest, type Sandbox } from '../model/network.js';
import { DEFAULT_MTU, PREDEFINED_NETWORKS } from '../model/options.js';
import { findByReference } from './lookup.js';
import { Mutex } from './mutex.js';
import { mapBounded } from './bounded-map.js';
import { planNetwork, planPredefinedNetwork, sameDefaultBridge, type DefaultBridgeConfig, type NetworkCreateRequest } from './network-plan.js';
import { defaultGateways } from './routes.js';
import { firewallNetworkOf } from './firewall-state.js';
import { reconcile } from './reconcile.js';
import { EventBus } from './events.js';
import type { DiagnosisCheck } from './diagnose.js';
import { forwardingUpstreams, NameService } from './name-service.js';
import { PublishedPorts } from './published-ports.js';
import type { OverlayCluster, ClusterHooks, ClusterOptions } from './overlay-cluster.js';
import { clashingOverlays, overlayNetworkOf, planOverlayCreate } from './overlay-network.js';

export interface EngineOptions {
  dataRoot: string;
  execRoot: string;
  /** nftables table name (inet family); several daemons in one namespace need different ones. */
  firewallTable?: string;
  defaultBridge?: Partial<DefaultBridgeConfig>;
  /** dockerd -b none: no default bridge network (one the store holds goes once no container is on it). */
  withoutDefaultBridge?: boolean;
  /** Daemon-level DNS servers (dockerd --dns): containers' resolvers and the embedded DNS forwarder. */
  dnsServers?: string[];
  /** dockerd's default-address-pools, read at each choice (a reload may change them); Docker's pools when empty. */
  defaultAddressPools?: () => readonly AddressPoolSpec[];
  /** dockerd --ip-forward: whether the daemon turns on the host's IPv4 forwarding (default true). */
  ipForward?: boolean;
  /** dockerd --cluster-store / --cluster-advertise: overlay networks through etcd. */
  cluster?: ClusterOptions;
  log?: (message: string) => void;
}

/** dockerd's -b value for "no default bridge network". */
export const NO_DEFAULT_BRIDGE = 'none';

export interface JoinRequest {
  /** Shown as the container's name in network inspect; the name the embedded DNS answers for. */
  name: string;
  ipv4?: string;
  ipv6?: string;
  aliases?: string[];
  containerId?: string;
  /** A MAC chosen by the user (--mac-address); otherwise Docker's 02:42 + IPv4. */
  macAddress?: string;
  /** Link-local addresses for the interface besides the allocated ones. */
  linkLocalAddresses?: InterfaceAddress[];
  /** Links on a user network: alias → linked container's name, which only this container's DNS questions see. */
  links?: Record<string, string>;
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
  private readonly endpointsById = new EndpointIndex();
  private readonly teardowns: EndpointTeardowns;
  private readonly sandboxesById = new Map<string, Sandbox>();
  private readonly allocators = new Map<string, NetworkAllocators>();
  private readonly drivers: Record<DriverName, NetworkDriver>;
  private readonly names: NameService;
  private readonly ports: PublishedPorts;
  private readonly overlay: OverlayDriver;
  private cluster: OverlayCluster | undefined;

  private constructor(options: EngineOptions, cluster: OverlayCluster | undefined) {
    this.cluster = cluster;
    this.store = new Store(options.dataRoot);
    this.firewall = new Firewall(options.firewallTable ?? 'skiff');
    this.netnsDir = join(options.execRoot, 'netns');
    mkdirSync(this.netnsDir, { recursive: true });
    this.log = options.log ?? (() => undefined);
    this.teardowns = new EndpointTeardowns(this.log);
    this.defaultAddressPools = options.defaultAddressPools ?? (() => []);
    this.events = new EventBus((error) => this.log(`event subscriber failed: ${String(error)}`));
    this.daemonId = this.store.getSetting('daemon-id') ?? newId();
    this.store.setSetting('daemon-id', this.daemonId);
    this.names = new NameService(forwardingUpstreams(options.dnsServers ?? []), this.log, (sandboxId, ports) => this.rememberRedirect(sandboxId, ports));
    this.ports = new PublishedPorts(this.firewall, options.defaultBridge?.hostBindingIpv4 ?? '0.0.0.0', options.ipForward !== false);
    const bridge = new BridgeDriver();
    const passthrough = new PassthroughDriver();
    this.overlay = new OverlayDriver(() => this.cluster?.underlay, this.log);
    // ipvlan is refused at planning (network-plan.ts); nothing reaches its slot.
    this.drivers = { bridge, host: passthrough, null: passthrough, macvlan: new MacvlanDriver(), ipvlan: passthrough, overlay: this.overlay };
  }

  /** Opens the store, reconciles the kernel with it, makes the predefined networks and gives the embedded DNS every endpoint. */
  static async open(options: EngineOptions): Promise<Engine> {
    // etcd and the underlay first: if either is missing, the daemon stops before changing anything.
    // The cluster's modules (and etcd's client) are loaded only by a daemon started with --cluster-store.
    const cluster = options.cluster === undefined ? undefined : await (await import('./overlay-cluster.js')).OverlayCluster.connect(options.cluster);
    const engine = new Engine(options, cluster);
    if (options.ipForward !== false) await setSysctl('net.ipv4.ip_forward', '1');
    engine.loadFromStore();
    await reconcile(engine.reconcileContext());
    engine.firewall.resetNetworks(engine.listNetworks().flatMap((network) => firewallNetworkOf(network) ?? []));
    await engine.firewall.applyWhole();
    await engine.ensurePredefinedNetworks(options.defaultBridge ?? {}, options.withoutDefaultBridge === true);
    await engine.restoreNames();
    if (cluster !== undefined) await engine.joinCluster(cluster);
    void engine.names.checkRestoredRedirects(engine.log);
    return engine;
  }

  /** Resolves once the links of every endpoint that left are deleted (they go after the answer; see endpoint-teardowns.ts). */
  linksDeleted(): Promise<void> {
    return this.teardowns.settled();
  }

  async close(): Promise<void> {
    await this.linksDeleted();
    await this.cluster?.close(this.log);
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
    // A full id (what records hold) is found without copying every network: `ps` asks once per container.
    return this.networksById.get(reference) ?? findByReference(this.networksById.values(), reference);
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
    return this.endpointsById.ofNetwork(networkId);
  }

  endpointsOfSandbox(sandboxId: string): Endpoint[] {
    return this.endpointsById.ofSandbox(sandboxId);
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
  async diagnoseNetwork(reference: string): Promise<DiagnosisCheck[]> {
    const network = this.getNetwork(reference);
    const cluster = this.cluster;
    const overlay =
      cluster === undefined ? undefined : { underlay: cluster.underlay, storeUrl: cluster.storeUrl, facts: (networkId: string) => cluster.facts(networkId) };
    const endpoints = this.endpointsOfNetwork(network.id);
    const published = network.bridge === undefined ? [] : this.ports.publishedOn(network.bridge.bridgeName);
    const { diagnoseNetwork, ENDPOINT_CHECKS_AT_ONCE } = await import('./diagnose.js');
    const checks = await diagnoseNetwork(network, endpoints, this.sandboxesById, this.firewall.table, overlay, published);
    const resolvers = await mapBounded(endpoints, ENDPOINT_CHECKS_AT_ONCE, async (endpoint) => {
      const sandbox = this.sandboxesById.get(endpoint.sandboxId);
      return sandbox === undefined ? [] : this.names.diagnoseResolver(network, sandbox, `endpoint ${endpoint.name}`);
    });
    return [...checks, ...resolvers.flat()];
  }

  /** What the embedded DNS would answer sourceIp for name (skiff network trace); undefined: it would forward the query. */
  answerNameFor(sourceIp: string, name: string): string[] | undefined {
    return this.names.answerFor(sourceIp, name);
  }

  /** Every published port as skiff's nftables maps hold it. */
  publishedPorts(): FirewallPort[] {
    return this.firewall.state().ports;
  }

  // ---- networks

  createNetwork(request: NetworkCreateRequest): Promise<Network> {
    return this.mutex.run(async () => {
      // Read at each create: a VPN or LAN may have come up since the last one.
      const hostSubnets = await readHostNetworks();
      if (request.driver === 'overlay' && this.cluster !== undefined) return this.createOverlayNetwork(this.cluster, request, hostSubnets);
      const network = planNetwork(request, {
        id: newId(),
        created: timestampNow(),
        existing: this.listNetworks(),
        hostSubnets,
        defaultPools: this.defaultAddressPools(),
      });
      for (const pool of network.ipam.pools.filter((planned) => planned.userConfigured)) {
        const shadowed = hostOverlaps(pool.subnet, hostSubnets);
        if (shadowed.length > 0)
          this.log(`network ${network.name}: subnet ${pool.subnet} overlaps the host's own ${shadowed.join(', ')} (allowed, as in Docker)`);
      }
      await this.installNetwork(network);
      return network;
    });
  }

  deleteNetwork(reference: string): Promise<void> {
    return this.mutex.run(async () => {
      const named = this.listNetworks().filter((network) => network.name === reference && network.id !== reference);
      // docker network rm words the ambiguity its own way.
      if (named.length > 1) throw invalid(`${named.length} matches found based on name: network ${reference} is ambiguous`);
      const network = this.getNetwork(reference);
      if ((PREDEFINED_NETWORKS as readonly string[]).includes(network.name)) {
        throw forbidden(`${network.name} is a pre-defined network and cannot be removed`);
      }
      if (this.endpointsOfNetwork(network.id).length > 0) {
        throw new SkiffError('forbidden', `error while removing network: network ${network.name} id ${network.id} has active endpoints`);
      }
      if (network.driver === 'overlay') await this.removeGlobalNetwork(network);
      await this.uninstallNetwork(network);
    });
  }

  /** Removes every user network without endpoints; returns the names removed. */
  pruneNetworks(keep: (network: Network) => boolean = () => false): Promise<string[]> {
    return this.mutex.run(async () => {
      const removed: string[] = [];
      for (const network of this.listNetworks()) {
        if ((PREDEFINED_NETWORKS as readonly string[]).includes(network.name)) continue;
        // Global networks belong to the cluster: removed by name only (docker network rm).
        if (network.scope === 'global') continue;
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
    await this.teardowns.settled((endpoint) => endpoint.networkId === network.id);
    this.store.setNetworkState(network.id, 'removing');
    const projected = firewallNetworkOf(network);
    const steps = await Promise.allSettled([
      projected === undefined ? Promise.resolve() : this.firewall.removeNetwork(projected),
      this.drivers[network.driver].deleteNetwork(network),
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

  private async ensurePredefinedNetworks(overrides: Partial<DefaultBridgeConfig>, withoutDefaultBridge: boolean): Promise<void> {
    const defaults: DefaultBridgeConfig = {
      bridgeName: 'skiff0',
      subnet: DEFAULT_BRIDGE_SUBNET,
      mtu: DEFAULT_MTU,
      icc: true,
      ipMasquerade: true,
      hostBindingIpv4: '0.0.0.0',
      ...overrides,
    };
    for (const name of PREDEFINED_NETWORKS) {
      const stored = this.listNetworks().find((network) => network.name === name);
      if (name === 'bridge' && withoutDefaultBridge) {
        if (stored !== undefined) await this.retireDefaultBridge(stored, 'the daemon runs with -b none');
        continue;
      }
      const others = this.listNetworks().filter((network) => network !== stored);
      const network = planPredefinedNetwork(name, { id: newId(), created: timestampNow(), existing: others }, defaults);
      if (stored !== undefined) {
        if (network.driver !== 'bridge' || sameDefaultBridge(stored, network)) continue;
        // The settings changed since it was made (--bip, --fixed-cidr(-v6), --ipv6, --icc, --mtu …): dockerd makes it again at each start.
        if (!(await this.retireDefaultBridge(stored, 'the daemon settings it comes from changed'))) continue;
      }
      await this.mutex.run(() => this.installNetwork(network));
    }
  }

  /** Removes the stored default bridge when no container is on it (else logs why it stays); whether it went. */
  private async retireDefaultBridge(stored: Network, why: string): Promise<boolean> {
    const attached = this.endpointsOfNetwork(stored.id).length;
    if (attached > 0) {
      this.log(`the default bridge stays as it is although ${why}: ${attached} container(s) are on it; stop them and restart the daemon`);
      return false;
    }
    this.log(`the default bridge is removed: ${why}`);
    await this.mutex.run(() => this.uninstallNetwork(stored));
    return true;
  }

  // ---- sandboxes and endpoints

  /** A new network namespace (lo up unless the first join will bring it up). */
  createSandbox(request: SandboxRequest = {}): Promise<Sandbox> {
    return this.mutex.run(async () => {
      const id = newId();
      const sandbox: Sandbox = {
        id,
        netnsPath: join(this.netnsDir, shortId(id)),
        containerId: request.containerId ?? '',
        hostname: request.hostname ?? '',
        dnsServers: request.dnsServers ?? [],
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

  /** The sandbox's record keeps (or drops) the ports its 127.0.0.11 redirect names (name-service.ts). */
  private rememberRedirect(sandboxId: string, ports: Sandbox['resolverRedirect']): void {
    const sandbox = this.sandboxesById.get(sandboxId);
    if (sandbox === undefined) return;
    const { resolverRedirect: _dropped, ...rest } = sandbox;
    const updated: Sandbox = ports === undefined ? rest : { ...rest, resolverRedirect: { udp: ports.udp, tcp: ports.tcp } };
    this.store.putSandbox(updated);
    this.sandboxesById.set(sandboxId, updated);
  }

  /** Leaves every network, then removes the namespace. */
  deleteSandbox(id: string): Promise<void> {
    return this.mutex.run(async () => {
      const sandbox = this.getSandbox(id);
      for (const endpoint of this.endpointsOfSandbox(id)) await this.removeEndpoint(endpoint, undefined);
      await this.names.sandboxReleased(sandbox.netnsPath);
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
      const limit = this.drivers[network.driver].maxEndpoints;
      if (limit !== undefined) checkEndpointLimit(network, this.endpointsOfNetwork(network.id).length, limit);
      // Interfaces still being deleted keep their names in the sandbox until they are gone.
      const named = [...existing, ...this.teardowns.matching((doomed) => doomed.sandboxId === sandboxId)];
      const endpoint =
        network.driver === 'overlay'
          ? await this.publishOverlayEndpoint(network, sandbox, named, request)
          : await this.allocateEndpointAfterTeardowns(network, sandbox, named, request);
      const routed = existing.some((other) => this.carriesDefaultRoute(other));
      try {
        await this.drivers[network.driver].join(network, endpoint, sandbox, { defaultGateways: routed ? [] : this.gatewaysFor(network, endpoint) });
      } catch (error) {
        this.releaseEndpoint(endpoint);
        await this.unpublishOverlayEndpoint(network, endpoint);
        throw error;
      }
      failpoint('endpoint-join:plumbed');
      try {
        await this.names.endpointJoined(network, endpoint, sandbox);
      } catch (error) {
        await this.removeEndpoint(endpoint, sandbox).catch((undoError: unknown) => this.log(`undo of endpoint ${endpoint.id} failed: ${String(undoError)}`));
        throw error;
      }
      this.store.setEndpointState(endpoint.id, 'ready');
      this.events.emit('network', 'connect', network.id, { container: endpoint.containerId, name: network.name, type: network.driver });
      return endpoint;
    });
  }

  /**
   * docker rename of a running container: its endpoints (network inspect)
   * and the embedded DNS take the new name. An overlay endpoint's record on
   * other hosts keeps the old name until the container joins again.
   */
  renameContainer(sandboxId: string, containerId: string, name: string): Promise<void> {
    return this.mutex.run(() =>
      Promise.resolve().then(() => {
        for (const endpoint of this.endpointsOfSandbox(sandboxId).filter((candidate) => candidate.containerId === containerId)) {
          const renamed = { ...endpoint, name };
          this.store.putEndpoint(renamed, 'ready');
          this.endpointsById.set(renamed.id, renamed);
          this.names.endpointRenamed(renamed.id, name);
        }
      }),
    );
  }

  leave(sandboxId: string, networkReference: string): Promise<void> {
    return this.mutex.run(async () => {
      const sandbox = this.getSandbox(sandboxId);
      const network = this.getNetwork(networkReference);
      const endpoint = this.endpointsOfSandbox(sandbox.id).find((candidate) => candidate.networkId === network.id);
      if (endpoint === undefined) throw forbidden(`container ${sandbox.containerId || sandbox.id} is not connected to network ${network.name}`);
      // The first endpoint that can carry the default route carries it (join and moveDefaultRoute keep it so).
      const hadDefaultRoute = this.endpointsOfSandbox(sandbox.id).find((candidate) => this.carriesDefaultRoute(candidate)) === endpoint;
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

  /** Allocates; when that fails while links of this network are still being deleted (their addresses held), once more after them. */
  private async allocateEndpointAfterTeardowns(network: Network, sandbox: Sandbox, existing: Endpoint[], request: JoinRequest): Promise<Endpoint> {
    try {
      return this.allocateEndpoint(network, sandbox, existing, request);
    } catch (error) {
      const onNetwork = (doomed: Endpoint) => doomed.networkId === network.id;
      if (this.teardowns.matching(onNetwork).length === 0) throw error;
      await this.teardowns.settled(onNetwork);
      return this.allocateEndpoint(network, sandbox, existing, request);
    }
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
      ...(request.linkLocalAddresses === undefined || request.linkLocalAddresses.length === 0 ? {} : { linkLocalAddresses: request.linkLocalAddresses }),
      ...(request.links === undefined || Object.keys(request.links).length === 0 ? {} : { links: request.links }),
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
    if (!allocators.hasUserConfiguredPool(family))
      throw invalid('user specified IP address is supported only when connecting to networks with user configured subnets');
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

  /** Leaves the network (driver and names). */
  private async removeEndpoint(endpoint: Endpoint, sandbox: Sandbox | undefined): Promise<void> {
    const network = this.networksById.get(endpoint.networkId);
    const home = this.sandboxesById.get(endpoint.sandboxId);
    this.store.setEndpointState(endpoint.id, 'removing');
    const driver = network === undefined ? undefined : this.drivers[network.driver];
    if (network !== undefined && home !== undefined && driver?.detach !== undefined) {
      // Cut off now (a whole sandbox going is cut off by its namespace going); the slow delete follows the answer.
      if (sandbox !== undefined) {
        await driver.detach(network, endpoint);
        await this.dropLoopbackIpv6(endpoint, home);
      }
      // Other hosts count an overlay endpoint until the cluster drops it, so that goes before the answer (as
      // Docker's endpoint count in the store): a `network rm` on another host right after must not see it. The
      // address may then go to another host while the cut-off link still carries it here, which nothing reaches.
      await this.unpublishOverlayEndpoint(network, endpoint);
      this.endpointsById.delete(endpoint.id);
      this.teardowns.start(
        endpoint,
        async () => {
          failpoint('endpoint-leave:answered');
          await driver.leave(network, endpoint, home);
        },
        () => this.releaseEndpoint(endpoint),
      );
    } else {
      if (network !== undefined && home !== undefined) await driver!.leave(network, endpoint, home);
      this.releaseEndpoint(endpoint);
      if (network !== undefined) await this.unpublishOverlayEndpoint(network, endpoint);
    }
    this.names.endpointLeft(endpoint);
    if (network !== undefined)
      this.events.emit('network', 'disconnect', network.id, { container: endpoint.containerId, name: network.name, type: network.driver });
  }

  /** As Docker: the sandbox's lo loses IPv6 with its last endpoint that had an IPv6 address. Logged, not thrown: the endpoint is already cut off. */
  private async dropLoopbackIpv6(leaving: Endpoint, sandbox: Sandbox): Promise<void> {
    if (!endpointUsesIpv6(leaving)) return;
    if (this.endpointsOfSandbox(sandbox.id).some((endpoint) => endpoint.id !== leaving.id && endpointUsesIpv6(endpoint))) return;
    await setInterfaceIpv6(sandbox.netnsPath, 'lo', false).catch((error: unknown) => this.log(`sandbox ${sandbox.id}: ${String(error)}`));
  }

  /** The daemon's --dns changed (SIGHUP): containers without their own --dns forward there from now on. */
  setDnsUpstreams(dnsServers: readonly string[]): void {
    this.names.setUpstreams(forwardingUpstreams(dnsServers));
  }

  /** Re-renders the whole table from what the firewall holds (repairs what was changed behind skiff's back). */
  applyWholeFirewall(): Promise<void> {
    return this.mutex.run(() => this.firewall.applyWhole());
  }

  // ---- the cluster (overlay networks)

  /** Records the network in etcd (subnet and VNI chosen cluster-wide), then builds it here; other hosts build it from their watch. */
  private async createOverlayNetwork(cluster: OverlayCluster, request: NetworkCreateRequest, hostSubnets: readonly string[]): Promise<Network> {
    const record = await cluster.createNetwork(planOverlayCreate(request, newId(), this.listNetworks(), hostSubnets));
    const network = overlayNetworkOf(record, cluster.underlay.mtu);
    try {
      await this.takeDownClashing(record);
      await this.installNetwork(network);
    } catch (error) {
      await cluster
        .removeNetwork(record.id)
        .catch((undoError: unknown) => this.log(`undo of network ${record.name} in the cluster store failed: ${String(undoError)}`));
      throw error;
    }
    return network;
  }

  /**
   * Takes down the global networks already removed from the cluster whose VNI
   * or subnet a new one reuses, ahead of this host's watch (a create racing a
   * removal). One that containers here still use cannot go: the new network
   * is refused here, by name.
   */
  private async takeDownClashing(record: NetworkRecord): Promise<void> {
    for (const stale of clashingOverlays(record, this.listNetworks())) {
      const attached = this.endpointsOfNetwork(stale.id);
      if (attached.length > 0) {
        throw conflict(
          `cannot build overlay network ${record.name} here: removed network ${stale.name} still holds VNI ${vniOf(stale)} or subnet ${stale.ipam.pools[0]?.subnet ?? '?'} for ${attached.map((endpoint) => endpoint.name).join(', ')}`,
        );
      }
      this.log(`cluster: taking down network ${stale.name}, removed from the cluster, before ${record.name} reuses its VNI or subnet`);
      await this.uninstallNetwork(stale);
    }
  }

  /** Removes a global network from etcd, refused while any host has an endpoint on it. */
  private async removeGlobalNetwork(network: Network): Promise<void> {
    if (this.cluster === undefined)
      throw new SkiffError('unavailable', `network ${network.name} is an overlay network: removing it needs the cluster store (--cluster-store)`);
    try {
      await this.cluster.removeNetwork(network.id);
    } catch (error) {
      if (error instanceof SkiffError && error.kind === 'notFound') return; // already gone from the cluster: finish here
      if (error instanceof SkiffError && error.kind === 'conflict') throw new SkiffError('forbidden', error.message);
      throw error;
    }
  }

  /** An endpoint on a global network: its address allocated and the endpoint published in one etcd transaction, before any plumbing. */
  private async publishOverlayEndpoint(network: Network, sandbox: Sandbox, existing: Endpoint[], request: JoinRequest): Promise<Endpoint> {
    if (this.cluster === undefined)
      throw new SkiffError('unavailable', `network ${network.name} is an overlay network: the daemon needs --cluster-store and --cluster-advertise for it`);
    if (request.ipv6 !== undefined && request.ipv6 !== '')
      throw invalid(`network ${network.name} has no IPv6 subnet: --ip6 is not supported on overlay networks`);
    const id = newId();
    const containerId = request.containerId ?? sandbox.containerId;
    const record = await this.cluster.addEndpoint({
      id,
      networkId: network.id,
      containerId,
      containerName: request.name,
      aliases: request.aliases ?? [],
      ...(request.ipv4 === undefined || request.ipv4 === '' ? {} : { ipv4: request.ipv4 }),
      macOf: (ipv4) => request.macAddress ?? macFromIpv4(ipv4),
    });
    const prefix = Number(network.ipam.pools[0]?.subnet.split('/')[1]);
    const endpoint: Endpoint = {
      id,
      name: request.name,
      networkId: network.id,
      sandboxId: sandbox.id,
      ifName: nextInterfaceName(existing.map((other) => other.ifName)),
      hostIfName: `veth${id.slice(0, 7)}`,
      macAddress: record.mac,
      ipv4: { family: 4, address: record.ipv4, prefix },
      aliases: request.aliases ?? [],
      containerId,
    };
    try {
      this.store.putEndpoint(endpoint, 'pending');
    } catch (error) {
      await this.unpublishOverlayEndpoint(network, endpoint);
      throw error;
    }
    this.endpointsById.set(endpoint.id, endpoint);
    return endpoint;
  }

  /** Takes an endpoint off the cluster and frees its address; etcd out of reach is logged (the lease still ends it if the daemon goes). */
  private async unpublishOverlayEndpoint(network: Network, endpoint: Endpoint): Promise<void> {
    if (network.driver !== 'overlay' || this.cluster === undefined || endpoint.ipv4 === undefined) return;
    await this.cluster
      .removeEndpoint({ id: endpoint.id, networkId: network.id, ipv4: endpoint.ipv4.address })
      .catch((error: unknown) => this.log(`cluster: unpublishing endpoint ${endpoint.id} of network ${network.name}: ${String(error)}`));
  }

  /** Joins the cluster, publishes this host's endpoints again, and takes every global network from the watch. */
  private async joinCluster(cluster: OverlayCluster): Promise<void> {
    const hooks: ClusterHooks = {
      networkAppeared: (record) =>
        this.mutex.run(async () => {
          if (this.networksById.has(record.id)) return;
          await this.takeDownClashing(record);
          await this.installNetwork(overlayNetworkOf(record, cluster.underlay.mtu));
          cluster.resyncPeers(hooks);
        }),
      networkVanished: (networkId) =>
        this.mutex.run(async () => {
          const network = this.networksById.get(networkId);
          if (network === undefined) return;
          const attached = this.endpointsOfNetwork(networkId);
          if (attached.length > 0) {
            this.log(
              `cluster: network ${network.name} was removed from the cluster but containers here are still on it (${attached.map((endpoint) => endpoint.name).join(', ')}): kept until they leave`,
            );
            return;
          }
          await this.uninstallNetwork(network);
        }),
      remoteNameUpserted: (name) => this.names.remoteEndpointUpserted(name),
      remoteNameRemoved: (endpointId) => this.names.remoteEndpointRemoved(endpointId),
      builtNetworkIds: () =>
        new Set(
          this.listNetworks()
            .filter((network) => network.driver === 'overlay')
            .map((network) => network.id),
        ),
      log: this.log,
    };
    const local = this.listNetworks()
      .filter((network) => network.driver === 'overlay')
      .flatMap((network) => this.endpointsOfNetwork(network.id))
      .flatMap((endpoint) =>
        endpoint.ipv4 === undefined
          ? []
          : [
              {
                id: endpoint.id,
                networkId: endpoint.networkId,
                nodeId: this.daemonId,
                vtep: cluster.underlay.address,
                containerId: endpoint.containerId,
                containerName: endpoint.name,
                aliases: endpoint.aliases,
                mac: endpoint.macAddress,
                ipv4: endpoint.ipv4.address,
              },
            ],
      );
    await cluster.start(this.daemonId, local, this.overlay, hooks);
    // Global networks removed while this daemon was away.
    const known = new Set(cluster.knownNetworks().map((record) => record.id));
    for (const network of this.listNetworks().filter((candidate) => candidate.driver === 'overlay' && !known.has(candidate.id))) {
      await hooks.networkVanished(network.id).catch((error: unknown) => this.log(`cluster: removing network ${network.name}: ${String(error)}`));
    }
  }

  // ---- restart

  private loadFromStore(): void {
    for (const { record } of this.store.networks()) this.networksById.set(record.id, record);
    for (const sandbox of this.store.sandboxes()) this.sandboxesById.set(sandbox.id, sandbox);
    for (const { record } of this.store.endpoints()) this.endpointsById.set(record.id, record);
  }

  /**
   * The embedded DNS learns every endpoint again (it keeps nothing across
   * restarts); each sandbox's resolver takes back the ports its 127.0.0.11
   * redirect names, from the sandbox's record (a process per sandbox reads
   * them from its namespace only for records from before they were kept).
   * Sandboxes that bring a network's first endpoint go one by one (that
   * opens the network's listener); the rest a few at a time.
   */
  private async restoreNames(): Promise<void> {
    const restore = async (sandbox: Sandbox) => {
      const attached = this.attachments(sandbox.id);
      for (const { network, endpoint } of attached) {
        await this.names
          .endpointJoined(network, endpoint, sandbox, { afterRestart: true })
          .catch((error: unknown) => this.log(`restoring the names of endpoint ${endpoint.id}: ${String(error)}`));
      }
    };
    const listened = new Set<string>();
    const rest: Sandbox[] = [];
    for (const sandbox of this.sandboxesById.values()) {
      const networks = this.endpointsOfSandbox(sandbox.id).map((endpoint) => endpoint.networkId);
      if (networks.every((networkId) => listened.has(networkId))) {
        rest.push(sandbox);
        continue;
      }
      for (const networkId of networks) listened.add(networkId);
      await restore(sandbox);
    }
    const workers = Array.from({ length: RESTORE_CONCURRENCY }, async () => {
      for (let sandbox = rest.shift(); sandbox !== undefined; sandbox = rest.shift()) await restore(sandbox);
    });
    await Promise.all(workers);
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

/** Sandboxes whose names and DNS redirect a restart restores at once (each runs a process). */
const RESTORE_CONCURRENCY = 4;

/** Refuses one endpoint past what the network's kernel object can hold, before anything is made. */
export function checkEndpointLimit(network: Pick<Network, 'name'>, endpoints: number, limit: number): void {
  if (endpoints >= limit) {
    throw new SkiffError(
      'unavailable',
      `network ${network.name} is full: a Linux bridge holds at most ${limit} ports, and ${endpoints} containers are attached; connect further containers to another network`,
    );
  }
}

/** The lowest ethN not used in the sandbox. */
export function nextInterfaceName(used: readonly string[]): string {
  for (let index = 0; ; index++) {
    const name = `eth${index}`;
    if (!used.includes(name)) return name;
  }
}
