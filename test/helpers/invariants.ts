/**
 * What must hold for a daemon at rest, whatever happened before (kills,
 * restarts, objects deleted by hand): every kernel object skiff made belongs
 * to something the daemon shows, and everything it shows is whole. Read
 * through the API (as a user sees it) and from the kernel (as it is).
 * Returns the violations, so a caller can print them with its seed.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh, tryRun } from './world.js';
import type { TestDaemon } from './daemon.js';

interface InspectedNetwork {
  Name: string;
  Id: string;
  Driver: string;
  Options: Record<string, string>;
  Containers: Record<string, { Name: string; EndpointID: string; IPv4Address: string }>;
}

interface InspectedContainer {
  Id: string;
  Name: string;
  State: { Status: string };
  NetworkSettings: { SandboxKey: string; Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | null };
}

async function json<T>(daemon: TestDaemon, path: string): Promise<T> {
  const reply = await daemon.http('GET', path);
  if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${reply.body}`);
  return JSON.parse(reply.body) as T;
}

const sorted = (items: Iterable<string>) => [...items].sort();

function differences(what: string, kernel: Iterable<string>, expected: Iterable<string>): string[] {
  const have = new Set(kernel);
  const want = new Set(expected);
  return [
    ...sorted([...have].filter((item) => !want.has(item))).map((item) => `leaked ${what}: ${item}`),
    ...sorted([...want].filter((item) => !have.has(item))).map((item) => `missing ${what}: ${item}`),
  ];
}

/** The ids of the containers whose shim (their parent, one per running container) is alive under this daemon's exec-root. */
function shimContainerIds(execRoot: string): string[] {
  const ids: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    // skiff-shim ID BUNDLE LOG MODE RUNTIME [GLOBAL-OPTION...]
    if (argv[0]?.endsWith('skiff-shim') === true && argv[2]?.startsWith(execRoot) === true) ids.push(argv[1]!);
  }
  return ids;
}

/** Mount points under a directory (overlay rootfs, bound netns files). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mount) => mount.startsWith(`${dir}/`));
}

/**
 * Waits (at most 5 s) until every veth in this world belongs to an endpoint
 * the API shows: the daemon deletes a leaving endpoint's veth after it
 * answered (src/engine/endpoint-teardowns.ts), so a reading right after a
 * disconnect or a removal may still see it for a few milliseconds.
 */
export async function backgroundTeardownsDone(daemon: TestDaemon): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const networks = await json<Array<{ Id: string }>>(daemon, '/networks');
    const detailed = await Promise.all(networks.map((network) => json<InspectedNetwork>(daemon, `/networks/${network.Id}`)));
    const owned = new Set(detailed.flatMap((network) => Object.values(network.Containers).map((endpoint) => `veth${endpoint.EndpointID.slice(0, 7)}`)));
    const links = (JSON.parse(await sh('ip', ['-json', 'link', 'show'])) as Array<{ ifname: string }>).map((link) => link.ifname);
    if (links.every((link) => !link.startsWith('veth') || owned.has(link))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface InvariantOptions {
  /** nftables table the daemon writes (default skiff). */
  table?: string;
  /** Also ping by name between running neighbours on each user network (slower). */
  reachability?: boolean;
}

export async function invariantViolations(daemon: TestDaemon, options: InvariantOptions = {}): Promise<string[]> {
  const table = options.table ?? 'skiff';
  await backgroundTeardownsDone(daemon);
  const violations: string[] = [];
  const networks = await json<InspectedNetwork[]>(daemon, '/networks');
  const detailed = await Promise.all(networks.map((network) => json<InspectedNetwork>(daemon, `/networks/${network.Id}`)));
  const summaries = await json<Array<{ Id: string }>>(daemon, '/containers/json?all=1');
  const containers = await Promise.all(summaries.map((summary) => json<InspectedContainer>(daemon, `/containers/${summary.Id}/json`)));
  const running = containers.filter((container) => container.State.Status === 'running');

  // No address held twice on one network.
  for (const network of detailed) {
    const addresses = Object.values(network.Containers)
      .map((endpoint) => endpoint.IPv4Address)
      .filter(Boolean);
    const twice = addresses.filter((address, index) => addresses.indexOf(address) !== index);
    if (twice.length > 0) violations.push(`address held twice on ${network.Name}: ${twice.join(', ')}`);
    // Only running containers hold endpoints (a created or exited one holds none, as in Docker).
    for (const [id, endpoint] of Object.entries(network.Containers)) {
      if (!running.some((container) => container.Id === id))
        violations.push(`${endpoint.Name} is not running but holds ${endpoint.IPv4Address} on ${network.Name}`);
    }
  }

  // Links: every veth is an endpoint's, every br- a network's.
  const links = (JSON.parse(await sh('ip', ['-json', 'link', 'show'])) as Array<{ ifname: string }>).map((link) => link.ifname);
  const endpointVeths = detailed.flatMap((network) =>
    network.Driver === 'bridge' ? Object.values(network.Containers).map((endpoint) => `veth${endpoint.EndpointID.slice(0, 7)}`) : [],
  );
  violations.push(
    ...differences(
      'veth',
      links.filter((link) => link.startsWith('veth')),
      endpointVeths,
    ),
  );
  const bridges = detailed
    .filter((network) => network.Driver === 'bridge')
    .map((network) => network.Options['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`);
  violations.push(
    ...differences(
      'bridge',
      links.filter((link) => link.startsWith('br-')),
      bridges.filter((bridge) => bridge.startsWith('br-')),
    ),
  );

  // Namespace files and their mounts: one per running container with a namespace of its own.
  const sandboxKeys = running.map((container) => container.NetworkSettings.SandboxKey).filter((key) => key !== '');
  const netnsDir = join(daemon.execRoot, 'netns');
  violations.push(
    ...differences(
      'netns file',
      readdirSync(netnsDir).map((name) => join(netnsDir, name)),
      sandboxKeys,
    ),
  );
  violations.push(...differences('netns mount', mountsUnder(netnsDir), sandboxKeys));
  // Container root filesystems (overlay mounts): containers that exist (skiff keeps an exited one's
  // mounted until its next start or its removal); shims: running containers only.
  const containersDir = join(daemon.execRoot, 'containers');
  const mountedRootfs = mountsUnder(containersDir).map((mount) => mount.slice(containersDir.length + 1).split('/')[0]!);
  violations.push(
    ...differences(
      'rootfs mount',
      mountedRootfs,
      running.map((container) => container.Id),
    ).filter((problem) => problem.startsWith('missing') || !containers.some((container) => problem.endsWith(container.Id))),
  );
  violations.push(
    ...differences(
      'shim process',
      shimContainerIds(daemon.execRoot),
      running.map((container) => container.Id),
    ),
  );

  // Published ports: the IPv4 maps hold exactly the running containers' IPv4 bindings; the IPv6 maps
  // hold no port that no running container has on an IPv6 address (a container without IPv6 has none there: its [::] is relayed).
  const published = (family: 4 | 6) =>
    running.flatMap((container) =>
      Object.entries(container.NetworkSettings.Ports ?? {}).flatMap(([port, bindings]) =>
        (bindings ?? []).filter((binding) => binding.HostIp.includes(':') === (family === 6)).map((binding) => `${port.split('/')[1]!}:${binding.HostPort}`),
      ),
    );
  const mappedIn = async (maps: string[]) => {
    const mapped: string[] = [];
    for (const map of maps) {
      const listing = JSON.parse(await sh('nft', ['-j', 'list', 'map', 'inet', table, map])) as {
        nftables: Array<{ map?: { elem?: Array<[{ concat: Array<string | number> }, unknown]> } }>;
      };
      for (const [key] of listing.nftables.find((entry) => entry.map !== undefined)?.map?.elem ?? []) {
        const protocol = key.concat[0] === 6 || key.concat[0] === 'tcp' ? 'tcp' : 'udp';
        mapped.push(`${protocol}:${String(key.concat[key.concat.length - 1])}`);
      }
    }
    return mapped;
  };
  violations.push(...differences('published port', await mappedIn(['ports4_any', 'ports4']), published(4)));
  const published6 = new Set(published(6));
  violations.push(...(await mappedIn(['ports6_any', 'ports6'])).filter((port) => !published6.has(port)).map((port) => `leaked IPv6 published port: ${port}`));

  // The kernel matches every network as diagnose reads it.
  for (const network of detailed) {
    const reply = await daemon.http('GET', `/networks/${network.Id}/diagnose`);
    const checks =
      reply.status === 200
        ? (JSON.parse(reply.body) as Array<{ what: string; ok: boolean; detail: string }>)
        : [{ what: `diagnose answered ${reply.status}`, ok: false, detail: reply.body }];
    for (const check of checks.filter((candidate) => !candidate.ok)) violations.push(`diagnose ${network.Name}: ${check.what}: ${check.detail}`);
  }

  if (options.reachability === true) violations.push(...(await unreachableNeighbours(daemon, detailed)));
  return violations;
}

/** Each running container on a user network pings the next one there by name (a ring, so each is asked once and answers once). */
async function unreachableNeighbours(daemon: TestDaemon, networks: InspectedNetwork[]): Promise<string[]> {
  const failures: string[] = [];
  for (const network of networks) {
    if (network.Driver !== 'bridge' || ['bridge', 'host', 'none'].includes(network.Name)) continue;
    const members = Object.values(network.Containers)
      .map((endpoint) => endpoint.Name)
      .sort();
    if (members.length < 2) continue;
    for (const [index, from] of members.entries()) {
      const to = members[(index + 1) % members.length]!;
      let reached = false;
      // A busy machine may drop one packet: a few tries before calling it unreachable.
      for (let attempt = 0; attempt < 3 && !reached; attempt++) reached = (await daemon.docker('exec', from, 'ping', '-c', '1', '-W', '2', to)).code === 0;
      if (!reached) failures.push(`${from} cannot reach ${to} by name on ${network.Name}`);
    }
  }
  return failures;
}

/** The containers the OCI runtimes (runc, crun) keep under this daemon's exec-root (none may be left by a rolled-back start), sorted. */
export function runtimeContainers(daemon: TestDaemon): string[] {
  const roots = ['runc', 'crun'].map((name) => join(daemon.execRoot, name)).filter((root) => existsSync(root));
  return roots.flatMap((root) => readdirSync(root).filter((name) => /^[0-9a-f]{64}$/.test(name))).sort();
}

/**
 * What a request must not change, read from both sides: the daemon's view
 * (networks, containers, images as the API lists them) and the kernel's
 * (links with their addresses, skiff's nftables table, namespace files,
 * mounts under the daemon's roots). Two equal snapshots: nothing changed.
 */
export async function worldSnapshot(daemon: TestDaemon, table = 'skiff'): Promise<Record<string, unknown>> {
  await backgroundTeardownsDone(daemon);
  const api = async (path: string) => {
    const reply = await daemon.http('GET', path);
    return reply.status === 200 ? (JSON.parse(reply.body) as unknown) : `${reply.status} ${reply.body}`;
  };
  const networks = (await api('/networks')) as Array<{ Id: string }>;
  const addresses = JSON.parse(await sh('ip', ['-json', 'addr', 'show'])) as Array<{
    ifname: string;
    operstate: string;
    master?: string;
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return {
    networks: await Promise.all(networks.map((network) => api(`/networks/${network.Id}`))),
    // Without Status ("Up 3 seconds"): it changes with the clock, not with requests.
    containers: ((await api('/containers/json?all=1')) as Array<Record<string, unknown>>).map(({ Status: _status, ...rest }) => rest),
    images: await api('/images/json'),
    links: addresses
      .map((link) => ({
        name: link.ifname,
        state: link.operstate,
        master: link.master,
        addresses: link.addr_info.map((info) => `${info.local}/${info.prefixlen}`).sort(),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    nft: (await tryRun('nft', ['list', 'table', 'inet', table])).stdout,
    netns: readdirSync(join(daemon.execRoot, 'netns')).sort(),
    mounts: [...mountsUnder(daemon.execRoot), ...mountsUnder(daemon.dataRoot)].sort(),
  };
}
