/**
 * Daemon start: make the kernel and the store agree. Operations a killed
 * daemon left half-done ('pending' / 'removing' records) are rolled back or
 * finished; ready networks and endpoints get back any kernel object they
 * lost; links and namespace files with skiff's marks that the store does not
 * know are removed.
 */
import { AddressAllocator, cidrContains, parseAddress, parseCidr } from '../ipam/index.js';
import type { NetworkDriver } from '../drivers/driver.js';
import { deleteLink, listLinks, SKIFF_LINK_ALIAS } from '../kernel/links.js';
import { isMountPoint, listNetnsFiles, removeNetnsFile } from '../kernel/netns.js';
import type { Store } from '../store/store.js';
import type { DriverName, Endpoint, Network, Sandbox } from './model.js';

export interface ReconcileContext {
  store: Store;
  netnsDir: string;
  networks: Map<string, Network>;
  endpoints: Map<string, Endpoint>;
  sandboxes: Map<string, Sandbox>;
  allocators: Map<string, AddressAllocator[]>;
  drivers: Record<DriverName, NetworkDriver>;
  log: (message: string) => void;
  carriesDefaultRoute: (endpoint: Endpoint) => boolean;
}

export async function reconcile(context: ReconcileContext): Promise<void> {
  const { store, networks, endpoints, sandboxes, drivers, log } = context;
  const endpointStates = new Map(store.endpoints().map(({ record, state }) => [record.id, state]));

  // Sandboxes whose namespace is gone (a reboot emptied the exec-root) take their endpoints with them.
  for (const sandbox of [...sandboxes.values()]) {
    if (isMountPoint(sandbox.netnsPath)) continue;
    log(`sandbox ${sandbox.id} lost its namespace ${sandbox.netnsPath}: removing it and its endpoints`);
    for (const endpoint of [...endpoints.values()].filter((candidate) => candidate.sandboxId === sandbox.id)) {
      await deleteLink(endpoint.hostIfName);
      store.deleteEndpoint(endpoint.id);
      endpoints.delete(endpoint.id);
    }
    store.deleteSandbox(sandbox.id);
    sandboxes.delete(sandbox.id);
  }

  // Endpoints caught mid-join or mid-leave: undo them.
  for (const endpoint of [...endpoints.values()]) {
    const state = endpointStates.get(endpoint.id);
    const orphan = !networks.has(endpoint.networkId) || !sandboxes.has(endpoint.sandboxId);
    if (state === 'ready' && !orphan) continue;
    log(`endpoint ${endpoint.id} was ${state ?? 'unknown'} when the daemon stopped: removing it`);
    await deleteLink(endpoint.hostIfName);
    store.deleteEndpoint(endpoint.id);
    endpoints.delete(endpoint.id);
  }

  // Networks caught mid-create or mid-delete: undo / finish them.
  for (const { record, state } of store.networks()) {
    if (state === 'ready') continue;
    log(`network ${record.name} was ${state} when the daemon stopped: removing it`);
    await drivers[record.driver].deleteNetwork(record);
    store.deleteNetwork(record.id);
    networks.delete(record.id);
  }

  for (const network of networks.values()) await drivers[network.driver].restoreNetwork(network);

  // Endpoints whose veth vanished while their sandbox lives: plumb them again.
  for (const endpoint of endpoints.values()) {
    const network = networks.get(endpoint.networkId)!;
    const sandbox = sandboxes.get(endpoint.sandboxId)!;
    if (await drivers[network.driver].endpointIntact(network, endpoint, sandbox)) continue;
    const peers = [...endpoints.values()].filter((other) => other.sandboxId === sandbox.id && other.id !== endpoint.id);
    const defaultRoute = context.carriesDefaultRoute(endpoint) && !peers.some((other) => context.carriesDefaultRoute(other) && other.ifName < endpoint.ifName);
    log(`endpoint ${endpoint.id} lost its link ${endpoint.hostIfName}: plumbing it again`);
    await drivers[network.driver].join(network, endpoint, sandbox, { defaultRoute });
  }

  rebuildAllocators(context);
  await removeUnknownLinks(context);
  await removeUnknownNetns(context);
}

function rebuildAllocators({ store, networks, endpoints, allocators }: ReconcileContext): void {
  allocators.clear();
  for (const network of networks.values()) allocators.set(network.id, network.ipam.pools.map((pool) => new AddressAllocator(pool)));
  for (const { networkId, address, endpointId } of store.allocations()) {
    if (!endpoints.has(endpointId)) continue;
    const network = networks.get(networkId);
    const value = parseAddress(address).value;
    const poolIndex = network?.ipam.pools.findIndex((pool) => cidrContains(parseCidr(pool.subnet), value)) ?? -1;
    allocators.get(networkId)?.[poolIndex]?.restore(address);
  }
}

async function removeUnknownLinks({ networks, endpoints, drivers, log }: ReconcileContext): Promise<void> {
  const owned = new Set<string>();
  for (const network of networks.values()) for (const link of drivers[network.driver].ownedLinks(network)) owned.add(link);
  for (const endpoint of endpoints.values()) owned.add(endpoint.hostIfName);
  for (const link of await listLinks()) {
    if (link.alias !== SKIFF_LINK_ALIAS || owned.has(link.ifname)) continue;
    log(`removing link ${link.ifname}: skiff made it but no network or endpoint owns it`);
    await deleteLink(link.ifname);
  }
}

async function removeUnknownNetns({ netnsDir, sandboxes, log }: ReconcileContext): Promise<void> {
  const known = new Set([...sandboxes.values()].map((sandbox) => sandbox.netnsPath));
  for (const path of await listNetnsFiles(netnsDir)) {
    if (known.has(path)) continue;
    log(`removing namespace file ${path}: no sandbox owns it`);
    await removeNetnsFile(path);
  }
}
