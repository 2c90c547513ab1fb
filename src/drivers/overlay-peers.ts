/**
 * The kernel entries that carry an overlay network to its remote endpoints,
 * as pure decisions: from the endpoints other hosts publish, the FDB entry
 * (MAC → remote VTEP) and permanent neighbour entry (IP → MAC) each needs on
 * this host's VXLAN device, the difference from what is written, and the
 * iproute2 batch lines that carry the difference out. Flannel's way: every
 * entry written ahead of traffic, no miss handling, no flooding.
 */

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
