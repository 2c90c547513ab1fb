/**
 * `skiff network diagnose` on an overlay network: besides the bridge, the
 * VXLAN device's settings, this node's lease and watch, and every remote
 * endpoint's FDB and neighbour entry against what etcd holds now (the watch's
 * picture when etcd cannot be read). The checks are pure (overlayChecks);
 * diagnoseOverlay reads the kernel and etcd for them. Nothing is changed:
 * drifted entries are mended by the next re-read of the cluster or a restart,
 * both of which check the kernel's entries one by one.
 */
import { VXLAN_PORT, vniOf, type Underlay } from '../drivers/overlay.js';
import { desiredPeers, peerDrift, peerIntact, vxlanName, type PeerState } from '../drivers/overlay-peers.js';
import { readPeerRows, vxlanState, type FdbRow, type NeighbourRow, type VxlanState } from '../kernel/fdb.js';
import type { EndpointRecord } from '../cluster/index.js';
import type { Endpoint, Network } from '../model/network.js';
import { SkiffError } from '../errors.js';
import type { ClusterFacts } from './overlay-cluster.js';
import type { DiagnosisCheck } from './diagnose.js';

/** What the engine lends diagnose about the cluster. */
export interface OverlayContext {
  underlay: Underlay;
  storeUrl: string;
  facts: (networkId: string) => Promise<ClusterFacts>;
}

export interface OverlayObservation {
  network: Network;
  underlay: Underlay;
  storeUrl: string;
  /** This host's endpoints on the network. */
  localEndpoints: readonly Endpoint[];
  vxlan: VxlanState | undefined;
  facts: ClusterFacts;
  fdb: readonly FdbRow[];
  neighbours: readonly NeighbourRow[];
}

const REPAIR_HINT = 'the next re-read of the cluster (etcd reconnect) or a daemon restart writes the entries again';

function vxlanChecks(network: Network, underlay: Underlay, vxlan: VxlanState | undefined): DiagnosisCheck[] {
  const device = vxlanName(network.id);
  const bridgeName = network.bridge?.bridgeName;
  if (vxlan === undefined) return [{ what: `VXLAN device ${device} exists`, ok: false, detail: 'no such VXLAN device: a daemon restart builds it again' }];
  const vni = vniOf(network);
  const mtu = network.bridge?.mtu;
  const settings = `VNI ${vxlan.vni ?? '?'}, dstport ${vxlan.port ?? '?'}, local ${vxlan.local ?? '?'}, learning ${vxlan.learning === false ? 'off' : 'on'}, proxy ${vxlan.proxy === true ? 'on' : 'off'}`;
  const settingsOk = vxlan.vni === vni && vxlan.port === VXLAN_PORT && vxlan.local === underlay.address && vxlan.learning === false && vxlan.proxy === true;
  return [
    { what: `VXLAN device ${device} exists and is up`, ok: vxlan.up, detail: vxlan.up ? 'up' : 'down' },
    { what: `${device}: VNI ${vni}, dstport ${VXLAN_PORT}, local ${underlay.address}, nolearning proxy`, ok: settingsOk, detail: settings },
    { what: `${device}: MTU ${mtu ?? '?'}`, ok: vxlan.mtu === mtu, detail: String(vxlan.mtu) },
    { what: `${device} is a port of ${bridgeName ?? '?'}`, ok: vxlan.master === bridgeName, detail: `master ${vxlan.master ?? 'none'}` },
  ];
}

function leaseCheck(facts: ClusterFacts): DiagnosisCheck {
  const what = `node ${facts.nodeId} holds its lease in the cluster store`;
  const stored = facts.storedLease;
  if (stored instanceof SkiffError) return { what, ok: false, detail: stored.message };
  if (facts.heldLeaseId === undefined) return { what, ok: false, detail: 'the lease was lost; the daemon is seeking a new one' };
  if (stored === undefined) return { what, ok: false, detail: 'etcd holds no record of this node' };
  if (stored.leaseId !== facts.heldLeaseId)
    return { what, ok: false, detail: `etcd keeps the node under lease ${stored.leaseId}, the daemon holds ${facts.heldLeaseId}` };
  return {
    what,
    ok: stored.ttlSeconds > 0,
    detail: stored.ttlSeconds > 0 ? `lease ${stored.leaseId}, ${stored.ttlSeconds} s left` : `lease ${stored.leaseId} expired`,
  };
}

const endpointKey = (endpoint: EndpointRecord) => `${endpoint.id} ${endpoint.ipv4} ${endpoint.mac} ${endpoint.vtep}`;
const named = (endpoints: readonly EndpointRecord[]) => endpoints.map((endpoint) => `${endpoint.containerName} (${endpoint.ipv4})`).join(', ');

/** The watch's picture of the network's remote endpoints against etcd's. */
function viewCheck(network: Network, facts: ClusterFacts, stored: readonly EndpointRecord[]): DiagnosisCheck {
  const remote = stored.filter((endpoint) => endpoint.nodeId !== facts.nodeId);
  const storedKeys = new Set(remote.map(endpointKey));
  const watchedKeys = new Set(facts.watchedEndpoints.map(endpointKey));
  const unseen = remote.filter((endpoint) => !watchedKeys.has(endpointKey(endpoint)));
  const ghosts = facts.watchedEndpoints.filter((endpoint) => !storedKeys.has(endpointKey(endpoint)));
  const problems = [...(unseen.length > 0 ? [`not yet seen: ${named(unseen)}`] : []), ...(ghosts.length > 0 ? [`gone from etcd: ${named(ghosts)}`] : [])];
  return {
    what: `the watch's picture of ${network.name} matches etcd (${remote.length} remote endpoints)`,
    ok: problems.length === 0,
    detail: problems.length === 0 ? 'matches' : `${problems.join('; ')} (a change in flight, or a watch that lags)`,
  };
}

function peerCheck(state: PeerState, name: string): DiagnosisCheck {
  const { entry } = state;
  const problems = [
    ...(state.fdbDst === undefined ? ['FDB entry missing'] : state.fdbDst !== entry.vtep ? [`FDB entry leads to ${state.fdbDst}`] : []),
    ...(state.neighbourMac === undefined
      ? ['neighbour entry missing']
      : state.neighbourMac !== entry.mac
        ? [`neighbour entry says ${state.neighbourMac}`]
        : []),
  ];
  return {
    what: `remote endpoint ${name} (${entry.ipv4} on ${entry.vtep}): FDB ${entry.mac} → ${entry.vtep} and neighbour ${entry.ipv4} → ${entry.mac} on ${entry.device}`,
    ok: peerIntact(state),
    detail: problems.length === 0 ? 'present' : `${problems.join(', ')}: ${REPAIR_HINT}`,
  };
}

/** Every check of an overlay network's cluster side (pure). */
export function overlayChecks(observed: OverlayObservation): DiagnosisCheck[] {
  const { network, facts } = observed;
  const checks = vxlanChecks(network, observed.underlay, observed.vxlan);
  checks.push(leaseCheck(facts));
  checks.push({ what: 'the cluster watch is attached', ok: facts.watch === 'live', detail: facts.watch === 'live' ? 'live' : 'reading the cluster again' });
  const reachable = !(facts.storedEndpoints instanceof SkiffError);
  checks.push({
    what: `cluster store ${observed.storeUrl} answers`,
    ok: reachable,
    detail: facts.storedEndpoints instanceof SkiffError ? `${facts.storedEndpoints.message}; entries below are checked against the watch's picture` : 'yes',
  });
  const stored = facts.storedEndpoints instanceof SkiffError ? undefined : facts.storedEndpoints;
  if (stored !== undefined) {
    checks.push(viewCheck(network, facts, stored));
    const published = new Set(stored.filter((endpoint) => endpoint.nodeId === facts.nodeId).map((endpoint) => endpoint.id));
    for (const endpoint of observed.localEndpoints) {
      checks.push({
        what: `endpoint ${endpoint.name} (${endpoint.ipv4?.address ?? 'no address'}) is published in etcd`,
        ok: published.has(endpoint.id),
        detail: published.has(endpoint.id) ? 'published' : 'absent: other hosts cannot reach it',
      });
    }
  }
  const basis = stored ?? facts.watchedEndpoints;
  const wanted = desiredPeers(basis, new Set([network.id]), facts.nodeId);
  const drift = peerDrift(wanted, observed.fdb, observed.neighbours);
  const names = new Map(basis.map((endpoint) => [endpoint.ipv4, endpoint.containerName]));
  for (const state of drift.states) checks.push(peerCheck(state, names.get(state.entry.ipv4) ?? '?'));
  const stale = [...drift.staleFdb.map((row) => `FDB ${row.mac} → ${row.dst}`), ...drift.staleNeighbours.map((row) => `neighbour ${row.ipv4} → ${row.mac}`)];
  checks.push({
    what: `${vxlanName(network.id)} holds no entry for an endpoint the cluster does not have`,
    ok: stale.length === 0,
    detail: stale.length === 0 ? 'none' : `${stale.join(', ')}: ${REPAIR_HINT}`,
  });
  return checks;
}

/** Reads the VXLAN device, its entries and the cluster's facts, then checks them. */
export async function diagnoseOverlay(network: Network, localEndpoints: readonly Endpoint[], context: OverlayContext): Promise<DiagnosisCheck[]> {
  const device = vxlanName(network.id);
  const [vxlan, rows, facts] = await Promise.all([vxlanState(device), readPeerRows(new Set([device])), context.facts(network.id)]);
  return overlayChecks({
    network,
    underlay: context.underlay,
    storeUrl: context.storeUrl,
    localEndpoints,
    vxlan,
    facts,
    fdb: rows.fdb,
    neighbours: rows.neighbours,
  });
}
