/**
 * VXLAN devices in the daemon's namespace: their forwarding entries (`bridge
 * fdb`) and neighbour entries (`ip neigh`), written in batches (one process
 * per kind of entry for a whole change, whatever its size) and read back,
 * and the device's own settings as the kernel reports them.
 */
import { run } from './exec.js';

/** Writes `bridge` lines (without the leading `bridge`) in one process; stops at the first failure. */
export async function bridgeBatch(lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await run('bridge', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/**
 * Deletes entries, every line tried (-force): deleting an entry that is
 * already gone exits non-zero and counts as success, so the exit status says
 * nothing useful and is not reported.
 */
export async function deleteEntries(program: 'ip' | 'bridge', lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await run(program, ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` }).catch(() => undefined);
}

/** A remote forwarding entry on a VXLAN device: frames for mac go to the VTEP dst. */
export interface FdbRow {
  device: string;
  mac: string;
  dst: string;
}

/** A permanent neighbour entry: ipv4 is at mac behind device. */
export interface NeighbourRow {
  device: string;
  ipv4: string;
  mac: string;
}

interface BridgeJsonFdb {
  mac: string;
  ifname?: string;
  dst?: string;
}
interface IpJsonNeigh {
  dst: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

/** The entries of `bridge -json fdb show` on the given devices that lead to a remote VTEP (pure). */
export function parseFdbRows(json: string, devices: ReadonlySet<string>): FdbRow[] {
  return (JSON.parse(json || '[]') as BridgeJsonFdb[])
    .filter((row) => row.ifname !== undefined && devices.has(row.ifname) && row.dst !== undefined)
    .map((row) => ({ device: row.ifname!, mac: row.mac.toLowerCase(), dst: row.dst! }));
}

/** The IPv4 entries of `ip -json neigh show nud permanent` on the given devices (pure). */
export function parseNeighbourRows(json: string, devices: ReadonlySet<string>): NeighbourRow[] {
  return (JSON.parse(json || '[]') as IpJsonNeigh[])
    .filter((row) => row.dev !== undefined && devices.has(row.dev) && row.lladdr !== undefined && !row.dst.includes(':'))
    .map((row) => ({ device: row.dev!, ipv4: row.dst, mac: row.lladdr!.toLowerCase() }));
}

/** What the kernel holds on the given VXLAN devices: two processes whatever their number. */
export async function readPeerRows(devices: ReadonlySet<string>): Promise<{ fdb: FdbRow[]; neighbours: NeighbourRow[] }> {
  if (devices.size === 0) return { fdb: [], neighbours: [] };
  const [fdb, neighbours] = await Promise.all([run('bridge', ['-json', 'fdb', 'show']), run('ip', ['-json', '-4', 'neigh', 'show', 'nud', 'permanent'])]);
  return { fdb: parseFdbRows(fdb.stdout, devices), neighbours: parseNeighbourRows(neighbours.stdout, devices) };
}

/** A VXLAN device's settings as the kernel holds them. */
export interface VxlanState {
  up: boolean;
  mtu: number;
  master?: string;
  vni?: number;
  local?: string;
  port?: number;
  learning?: boolean;
  proxy?: boolean;
}

interface IpJsonVxlan {
  flags?: string[];
  mtu: number;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean; proxy?: boolean } };
}

/** `ip -json -details link show dev NAME` of a VXLAN device (pure); undefined if it is no VXLAN device. */
export function parseVxlanState(json: string): VxlanState | undefined {
  const [link] = JSON.parse(json || '[]') as IpJsonVxlan[];
  if (link?.linkinfo?.info_kind !== 'vxlan') return undefined;
  const data = link.linkinfo.info_data ?? {};
  return {
    // A VXLAN device's operstate stays UNKNOWN: it is up when the UP flag is set.
    up: link.flags?.includes('UP') ?? false,
    mtu: link.mtu,
    ...(link.master === undefined ? {} : { master: link.master }),
    ...(data.id === undefined ? {} : { vni: data.id }),
    ...(data.local === undefined ? {} : { local: data.local }),
    ...(data.port === undefined ? {} : { port: data.port }),
    ...(data.learning === undefined ? {} : { learning: data.learning }),
    ...(data.proxy === undefined ? {} : { proxy: data.proxy }),
  };
}

/** The VXLAN device's settings, or undefined when there is no such device (or it is not VXLAN). */
export async function vxlanState(name: string): Promise<VxlanState | undefined> {
  try {
    return parseVxlanState((await run('ip', ['-json', '-details', 'link', 'show', 'dev', name])).stdout);
  } catch {
    return undefined; // "Device does not exist"
  }
}
