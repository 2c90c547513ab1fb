/**
 * The kernel entries that carry an overlay network to its remote endpoints,
 * as pure decisions: from the endpoints other hosts publish, the FDB entry
 * (MAC → remote VTEP) and permanent neighbour entry (IP → MAC) each needs on
 * this host's VXLAN device, the difference from what is written, and the
 * iproute2 batch lines that carry the difference out. Flannel's way: every
 * entry written ahead of traffic, no miss handling, no flooding.
 */
import type { FdbRow, NeighbourRow } from '../kernel/fdb.js';

/** What the entries of one remote endpoint are made from (an etcd endpoint record fits). */
export interface RemoteEndpoint {
  networkId: string;
  nodeId: string;
  mac: string;
  ipv4: string;
  /** The remote node's advertise address. */
  vtep: string;
}

/** One remote endpoint's entries on one VXLAN device. */
export interface PeerEntry {
  device: string;
  mac: string;
  ipv4: string;
  vtep: string;
}

/** Host links of an overlay network: names derive from its id, so a restart finds its own. */
export const overlayBridgeName = (networkId: string) => `ov-${networkId.slice(0, 12)}`;
export const vxlanName = (networkId: string) => `vx-${networkId.slice(0, 12)}`;

/** The entries this node needs: every endpoint of another node on a network this host has built. */
export function desiredPeers(endpoints: Iterable<RemoteEndpoint>, builtNetworkIds: ReadonlySet<string>, ownNodeId: string): PeerEntry[] {
  const entries: PeerEntry[] = [];
  for (const endpoint of endpoints) {
    if (endpoint.nodeId === ownNodeId || !builtNetworkIds.has(endpoint.networkId)) continue;
    entries.push({ device: vxlanName(endpoint.networkId), mac: endpoint.mac.toLowerCase(), ipv4: endpoint.ipv4, vtep: endpoint.vtep });
  }
  return entries.sort((a, b) => peerKey(a).localeCompare(peerKey(b)));
}

export const peerKey = (entry: PeerEntry) => `${entry.device} ${entry.ipv4} ${entry.mac} ${entry.vtep}`;

/** What to take away and what to write to get from the entries written to the ones wanted. */
export function peerDiff(written: Iterable<PeerEntry>, wanted: Iterable<PeerEntry>): { remove: PeerEntry[]; add: PeerEntry[] } {
  const writtenByKey = new Map([...written].map((entry) => [peerKey(entry), entry]));
  const wantedByKey = new Map([...wanted].map((entry) => [peerKey(entry), entry]));
  return {
    remove: [...writtenByKey].filter(([key]) => !wantedByKey.has(key)).map(([, entry]) => entry),
    add: [...wantedByKey].filter(([key]) => !writtenByKey.has(key)).map(([, entry]) => entry),
  };
}

/**
 * Removal lines, neighbours before FDB (`ip -batch` then `bridge -batch`).
 * An address or MAC still wanted by another entry on the same device is not
 * deleted: the new entry's `replace` takes it over instead (an address that
 * moved to another container, a MAC on a host that came back elsewhere).
 */
export function removalLines(remove: readonly PeerEntry[], keep: readonly PeerEntry[]): { neighbour: string[]; fdb: string[] } {
  const keptAddresses = new Set(keep.map((entry) => `${entry.device} ${entry.ipv4}`));
  const keptMacs = new Set(keep.map((entry) => `${entry.device} ${entry.mac}`));
  return {
    neighbour: remove.filter((entry) => !keptAddresses.has(`${entry.device} ${entry.ipv4}`)).map((entry) => `neigh del ${entry.ipv4} dev ${entry.device}`),
    fdb: remove.filter((entry) => !keptMacs.has(`${entry.device} ${entry.mac}`)).map((entry) => `fdb del ${entry.mac} dev ${entry.device} self`),
  };
}

/** Lines that write entries, FDB before neighbours (an address must never resolve to a MAC that leads nowhere); `replace` is idempotent. */
export function additionLines(add: readonly PeerEntry[]): { fdb: string[]; neighbour: string[] } {
  return {
    fdb: add.map((entry) => `fdb replace ${entry.mac} dev ${entry.device} dst ${entry.vtep} self permanent`),
    neighbour: add.map((entry) => `neigh replace ${entry.ipv4} lladdr ${entry.mac} dev ${entry.device} nud permanent`),
  };
}

/** One wanted entry and what the kernel holds for it: the FDB entry's VTEP and the neighbour entry's MAC, when present. */
export interface PeerState {
  entry: PeerEntry;
  fdbDst?: string;
  neighbourMac?: string;
}

export const peerIntact = (state: PeerState) => state.fdbDst === state.entry.vtep && state.neighbourMac === state.entry.mac;

/** How the kernel's entries differ from the wanted ones: each wanted entry's state, and what no wanted entry accounts for. */
export interface PeerDrift {
  states: PeerState[];
  staleFdb: FdbRow[];
  staleNeighbours: NeighbourRow[];
}

/**
 * Compares the kernel's rows with the wanted entries. An FDB row is stale
 * unless a wanted entry on its device has its MAC and VTEP (one leading
 * elsewhere is deleted by its VTEP, then written anew); a neighbour row is
 * stale when no wanted entry on its device has its address (one with another
 * MAC is mended by `replace`).
 */
export function peerDrift(wanted: readonly PeerEntry[], fdb: readonly FdbRow[], neighbours: readonly NeighbourRow[]): PeerDrift {
  const wantedFdb = new Set(wanted.map((entry) => `${entry.device} ${entry.mac} ${entry.vtep}`));
  const wantedAddresses = new Set(wanted.map((entry) => `${entry.device} ${entry.ipv4}`));
  const states = wanted.map((entry): PeerState => {
    const rows = fdb.filter((row) => row.device === entry.device && row.mac === entry.mac);
    // A MAC may lead to several VTEPs (appended by hand); the wanted one counts if present.
    const fdbDst = rows.find((row) => row.dst === entry.vtep)?.dst ?? rows[0]?.dst;
    const neighbourMac = neighbours.find((row) => row.device === entry.device && row.ipv4 === entry.ipv4)?.mac;
    return { entry, ...(fdbDst === undefined ? {} : { fdbDst }), ...(neighbourMac === undefined ? {} : { neighbourMac }) };
  });
  return {
    states,
    staleFdb: fdb.filter((row) => !wantedFdb.has(`${row.device} ${row.mac} ${row.dst}`)),
    staleNeighbours: neighbours.filter((row) => !wantedAddresses.has(`${row.device} ${row.ipv4}`)),
  };
}

/** The lines that make the kernel's entries exactly the wanted ones: stale rows deleted (by VTEP, so a wanted one for the same MAC stays), broken entries written again. */
export function repairLines(drift: PeerDrift): { neighbourDelete: string[]; fdbDelete: string[]; fdb: string[]; neighbour: string[] } {
  const broken = drift.states.filter((state) => !peerIntact(state)).map((state) => state.entry);
  return {
    neighbourDelete: drift.staleNeighbours.map((row) => `neigh del ${row.ipv4} dev ${row.device}`),
    fdbDelete: drift.staleFdb.map((row) => `fdb del ${row.mac} dev ${row.device} dst ${row.dst} self`),
    ...additionLines(broken),
  };
}
