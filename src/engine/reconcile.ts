/**
 * Daemon start: make the kernel and the store agree. Operations a killed
 * daemon left half-done ('pending' / 'removing' records) are rolled back or
 * finished; ready networks and endpoints get back any kernel object they
 * lost; links and namespace files with skiff's marks that the store does not
 * know are removed.
 */
import { NetworkAllocators } from '../ipam/index.js';
import type { NetworkDriver } from '../drivers/driver.js';
import { deleteLink, listLinks, SKIFF_LINK_ALIAS } from '../kernel/links.js';
import { isMountPoint, listNetnsFiles, removeNetnsFile } from '../kernel/netns.js';
import type { Store } from '../store/store.js';
import type { DriverName, Endpoint, Network, Sandbox } from '../model/network.js';

export interface ReconcileContext {
  store: Store;
  netnsDir: string;
  networks: Map<string, Network>;
  endpoints: Map<string, Endpoint>;
  sandboxes: Map<string, Sandbox>;
  allocators: Map<string, NetworkAllocators>;
  drivers: Record<DriverName, NetworkDriver>;
  log: (message: string) => void;
  carriesDefaultRoute: (endpoint: Endpoint) => boolean;
  gatewaysFor: (network: Network, endpoint: Endpoint) => string[];
}

/** Takes an endpoint's kernel objects away through its driver; a failure is logged and the record still goes (the link sweep below catches what is left). */
async function dropEndpoint(context: ReconcileContext, endpoint: Endpoint, why: string): Promise<void> {
  const { store, endpoints, networks, sandboxes, drivers, log } = context;
  log(`endpoint ${endpoint.id} ${why}: removing it`);
  const network = networks.get(endpoint.networkId);
  const sandbox = sandboxes.get(endpoint.sandboxId);
  if (network !== undefined && sandbox !== undefined) {
    await drivers[network.driver]
      .leave(network, endpoint, sandbox)
      .catch((error: unknown) => log(`leaving network ${network.name} for endpoint ${endpoint.id}: ${String(error)}`));
  } else {
    await deleteLink(endpoint.hostIfName).catch((error: unknown) => log(`deleting link ${endpoint.hostIfName}: ${String(error)}`));
  }
  store.deleteEndpoint(endpoint.id);
  endpoints.delete(endpoint.id);
}

export async function reconcile(context: ReconcileContext): Promise<void> {
  const { store, networks, endpoints, sandboxes, drivers, log } = context;
  const endpointStates = new Map(store.endpoints().map(({ record, state }) => [record.id, state]));

  // Sandboxes whose namespace is gone (a reboot emptied the exec-root) take their endpoints with them.
  for (const sandbox of [...sandboxes.values()]) {
    if (isMountPoint(sandbox.netnsPath)) continue;
    log(`sandbox ${sandbox.id} lost its namespace ${sandbox.netnsPath}: removing it and its endpoints`);
    sandboxes.delete(sandbox.id);
    for (const endpoint of [...endpoints.values()].filter((candidate) => candidate.sandboxId === sandbox.id)) {
      await dropEndpoint(context, endpoint, 'lost its sandbox');
    }
    store.deleteSandbox(sandbox.id);
  }

  // Endpoints caught mid-join or mid-leave: undo them.
  for (const endpoint of [...endpoints.values()]) {
    const state = endpointStates.get(endpoint.id);
    const orphan = !networks.has(endpoint.networkId) || !sandboxes.has(endpoint.sandboxId);
    if (state === 'ready' && !orphan) continue;
    await dropEndpoint(context, endpoint, `was ${orphan ? 'orphaned' : (state ?? 'unknown')} when the daemon stopped`);
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

  // Endpoints whose veth vanished while their sandbox lives: plumb them again. One listing for all (not a process per endpoint).
  const hostLinks = new Set((await listLinks()).map((link) => link.ifname));
  for (const endpoint of endpoints.values()) {
    const network = networks.get(endpoint.networkId)!;
    const sandbox = sandboxes.get(endpoint.sandboxId)!;
    if (await drivers[network.driver].endpointIntact(network, endpoint, sandbox, hostLinks)) {
      await drivers[network.driver].restoreEndpoint?.(network, endpoint);
      continue;
    }
    const peers = [...endpoints.values()].filter((other) => other.sandboxId === sandbox.id && other.id !== endpoint.id);
    const routed = peers.some((other) => context.carriesDefaultRoute(other) && other.ifName < endpoint.ifName);
    log(`endpoint ${endpoint.id} lost its link ${endpoint.hostIfName}: plumbing it again`);
    await drivers[network.driver].join(network, endpoint, sandbox, { defaultGateways: routed ? [] : context.gatewaysFor(network, endpoint) });
  }

  rebuildAllocators(context);
  await removeUnknownLinks(context);
  await removeUnknownNetns(context);
}

function rebuildAllocators({ store, networks, endpoints, allocators, log }: ReconcileContext): void {
  allocators.clear();
  for (const network of networks.values()) allocators.set(network.id, new NetworkAllocators(network.ipam.pools, network));
  for (const { networkId, address, endpointId } of store.allocations()) {
    if (!endpoints.has(endpointId)) continue;
    try {
      allocators.get(networkId)?.restore(address);
    } catch (error) {
      log(`address ${address} of endpoint ${endpointId} is outside its network's pools: ${String(error)}`);
    }
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
