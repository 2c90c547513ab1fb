/**
 * The overlay's audit and diagnosis as pure decisions: the kernel's FDB,
 * neighbour and VXLAN link JSON read back, the drift between the entries
 * wanted and those held with the lines that mend it, and the checks
 * `skiff network diagnose` reports for an overlay network.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { peerDrift, repairLines, vxlanName, type PeerEntry } from '../../src/drivers/overlay-peers.js';
import { parseFdbRows, parseNeighbourRows, parseVxlanState, type VxlanState } from '../../src/kernel/fdb.js';
import { overlayChecks, type OverlayObservation } from '../../src/engine/diagnose-overlay.js';
import { overlayNetworkOf } from '../../src/engine/overlay-network.js';
import { SkiffError } from '../../src/errors.js';
import type { EndpointRecord } from '../../src/cluster/index.js';

const netId = 'c'.repeat(64);
const vx = vxlanName(netId);
const entry = (ipv4: string, vtep: string): PeerEntry => ({ device: vx, ipv4, vtep, mac: `02:42:0a:00:00:0${ipv4.split('.')[3]!}` });

describe('kernel rows of VXLAN devices', () => {
  it('keeps FDB entries with a remote VTEP on the devices asked about, MACs in lower case', () => {
    const json = JSON.stringify([
      { mac: '33:33:00:00:00:01', ifname: 'eth0', flags: ['self'], state: 'permanent' },
      { mac: '7e:31:2d:eb:2d:ed', ifname: vx, master: 'ov-x', state: 'permanent' },
      { mac: '02:42:0A:00:00:03', ifname: vx, dst: '192.168.250.12', flags: ['self'], state: 'permanent' },
      { mac: '02:42:0a:00:00:09', ifname: 'vx-other', dst: '192.168.250.19', flags: ['self'], state: 'permanent' },
    ]);
    assert.deepEqual(parseFdbRows(json, new Set([vx])), [{ device: vx, mac: '02:42:0a:00:00:03', dst: '192.168.250.12' }]);
    assert.deepEqual(parseFdbRows('', new Set([vx])), []);
  });

  it('keeps IPv4 neighbour entries with a MAC on the devices asked about', () => {
    const json = JSON.stringify([
      { dst: '10.0.0.3', dev: vx, lladdr: '02:42:0A:00:00:03', state: ['PERMANENT'] },
      { dst: '10.0.0.4', dev: vx, state: ['PERMANENT'] },
      { dst: '192.168.250.1', dev: 'eth0', lladdr: '02:00:00:00:00:01', state: ['PERMANENT'] },
    ]);
    assert.deepEqual(parseNeighbourRows(json, new Set([vx])), [{ device: vx, ipv4: '10.0.0.3', mac: '02:42:0a:00:00:03' }]);
  });

  it("reads a VXLAN link's settings, and nothing from another kind of link", () => {
    const json = JSON.stringify([
      {
        flags: ['BROADCAST', 'UP'],
        mtu: 1450,
        master: 'ov-x',
        operstate: 'UNKNOWN',
        linkinfo: { info_kind: 'vxlan', info_data: { id: 4096, local: '192.168.250.11', port: 4789, learning: false, proxy: true } },
      },
    ]);
    assert.deepEqual(parseVxlanState(json), {
      up: true,
      mtu: 1450,
      master: 'ov-x',
      vni: 4096,
      local: '192.168.250.11',
      port: 4789,
      learning: false,
      proxy: true,
    });
    assert.equal(parseVxlanState(JSON.stringify([{ flags: ['UP'], mtu: 1500, linkinfo: { info_kind: 'bridge' } }])), undefined);
  });
});

describe('peer drift: the kernel against the entries wanted', () => {
  const wanted = [entry('10.0.0.3', '192.168.250.12'), entry('10.0.0.4', '192.168.250.13')];
  const fdbOf = (entries: PeerEntry[]) => entries.map((each) => ({ device: each.device, mac: each.mac, dst: each.vtep }));
  const neighboursOf = (entries: PeerEntry[]) => entries.map((each) => ({ device: each.device, ipv4: each.ipv4, mac: each.mac }));

  it('finds nothing to do when the kernel holds exactly the wanted entries', () => {
    const drift = peerDrift(wanted, fdbOf(wanted), neighboursOf(wanted));
    assert.deepEqual(repairLines(drift), { neighbourDelete: [], fdbDelete: [], fdb: [], neighbour: [] });
  });

  it('writes again an entry whose FDB row was deleted by hand, and only it', () => {
    const drift = peerDrift(wanted, fdbOf([wanted[1]!]), neighboursOf(wanted));
    assert.deepEqual(
      drift.states.map((state) => state.fdbDst),
      [undefined, '192.168.250.13'],
    );
    assert.deepEqual(repairLines(drift), {
      neighbourDelete: [],
      fdbDelete: [],
      fdb: [`fdb replace 02:42:0a:00:00:03 dev ${vx} dst 192.168.250.12 self permanent`],
      neighbour: [`neigh replace 10.0.0.3 lladdr 02:42:0a:00:00:03 dev ${vx} nud permanent`],
    });
  });

  it('deletes rows no wanted entry accounts for, an FDB row by its VTEP so a wanted one of the same MAC stays', () => {
    const gone = entry('10.0.0.9', '192.168.250.19');
    const moved = { ...wanted[0]!, vtep: '192.168.250.99' };
    const drift = peerDrift(wanted, [...fdbOf([...wanted, gone]), ...fdbOf([moved])], neighboursOf([...wanted, gone]));
    assert.deepEqual(repairLines(drift), {
      neighbourDelete: [`neigh del 10.0.0.9 dev ${vx}`],
      fdbDelete: [`fdb del 02:42:0a:00:00:09 dev ${vx} dst 192.168.250.19 self`, `fdb del 02:42:0a:00:00:03 dev ${vx} dst 192.168.250.99 self`],
      fdb: [],
      neighbour: [],
    });
  });

  it('mends a neighbour entry that names another MAC by replacing it, not deleting it', () => {
    const drift = peerDrift([wanted[0]!], fdbOf([wanted[0]!]), [{ device: vx, ipv4: '10.0.0.3', mac: '02:00:00:00:00:99' }]);
    assert.deepEqual(drift.staleNeighbours, []);
    assert.equal(repairLines(drift).neighbour.length, 1);
  });
});

describe('overlay diagnosis checks', () => {
  const network = overlayNetworkOf(
    {
      id: netId,
      name: 'ov1',
      subnet: '10.0.0.0/24',
      gateway: '10.0.0.1',
      vni: 4096,
      internal: false,
      attachable: false,
      labels: {},
      options: {},
      created: '2024-01-01T00:00:00.000Z',
    },
    1500,
  );
  const underlay = { address: '192.168.250.11', device: 'eth0', mtu: 1500 };
  const record = (id: string, nodeId: string, ipv4: string, vtep: string): EndpointRecord => ({
    id,
    networkId: netId,
    nodeId,
    vtep,
    containerId: `${id}-container`,
    containerName: id,
    aliases: [],
    ipv4,
    mac: `02:42:0a:00:00:0${ipv4.split('.')[3]!}`,
  });
  const c1 = record('c1', 'n1', '10.0.0.2', underlay.address);
  const c2 = record('c2', 'n2', '10.0.0.3', '192.168.250.12');
  const vxlan: VxlanState = {
    up: true,
    mtu: 1450,
    master: network.bridge!.bridgeName,
    vni: 4096,
    local: underlay.address,
    port: 4789,
    learning: false,
    proxy: true,
  };
  const healthy: OverlayObservation = {
    network,
    underlay,
    storeUrl: 'etcd://192.168.250.2:2379',
    vxlan,
    localEndpoints: [
      {
        id: 'c1',
        name: 'c1',
        networkId: netId,
        sandboxId: 's1',
        ifName: 'eth0',
        hostIfName: 'vethc1',
        macAddress: c1.mac,
        ipv4: { family: 4, address: c1.ipv4, prefix: 24 },
        aliases: [],
        containerId: 'c1-container',
      },
    ],
    facts: { nodeId: 'n1', heldLeaseId: '7', storedLease: { leaseId: '7', ttlSeconds: 2 }, watch: 'live', storedEndpoints: [c1, c2], watchedEndpoints: [c2] },
    fdb: [{ device: vx, mac: c2.mac, dst: c2.vtep }],
    neighbours: [{ device: vx, ipv4: c2.ipv4, mac: c2.mac }],
  };
  const failed = (observed: OverlayObservation) =>
    overlayChecks(observed)
      .filter((check) => !check.ok)
      .map((check) => `${check.what}: ${check.detail}`);

  it('passes every check on a healthy host', () => {
    assert.deepEqual(failed(healthy), []);
    const checks = overlayChecks(healthy).map((check) => check.what);
    assert.ok(checks.includes(`VXLAN device ${vx} exists and is up`));
    assert.ok(checks.includes('node n1 holds its lease in the cluster store'));
    assert.ok(checks.some((what) => what.startsWith('remote endpoint c2 (10.0.0.3 on 192.168.250.12)')));
  });

  it('reports a missing FDB entry, a wrong VNI and a down device by name', () => {
    const problems = failed({ ...healthy, fdb: [], vxlan: { ...vxlan, vni: 4097, up: false } });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.match(problems[0]!, /exists and is up: down/);
    assert.match(problems[1]!, /VNI 4097/);
    assert.match(problems[2]!, /remote endpoint c2 .*FDB entry missing/);
  });

  it('reports an entry for an endpoint the cluster no longer has', () => {
    const problems = failed({ ...healthy, neighbours: [...healthy.neighbours, { device: vx, ipv4: '10.0.0.9', mac: '02:42:0a:00:00:09' }] });
    assert.deepEqual(
      problems.map((problem) => problem.split(':')[0]),
      [`${vx} holds no entry for an endpoint the cluster does not have`],
    );
  });

  it('reports a lost lease, a lagging watch and an unpublished local endpoint', () => {
    assert.match(failed({ ...healthy, facts: { ...healthy.facts, heldLeaseId: undefined } })[0]!, /seeking a new one/);
    assert.match(failed({ ...healthy, facts: { ...healthy.facts, storedLease: { leaseId: '8', ttlSeconds: 2 } } })[0]!, /under lease 8, the daemon holds 7/);
    assert.match(failed({ ...healthy, facts: { ...healthy.facts, watchedEndpoints: [] } })[0]!, /not yet seen: c2 \(10\.0\.0\.3\)/);
    assert.match(failed({ ...healthy, facts: { ...healthy.facts, storedEndpoints: [c2] } })[0]!, /endpoint c1 .*absent/);
  });

  it("checks the entries against the watch's picture when etcd cannot be read, and says so", () => {
    const away = new SkiffError('unavailable', 'cluster store etcd://192.168.250.2:2379: cannot reach etcd');
    const problems = failed({ ...healthy, facts: { ...healthy.facts, storedLease: away, storedEndpoints: away } });
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[1]!, /answers: .*cannot reach etcd; entries below are checked against the watch's picture/);
    assert.ok(
      overlayChecks({ ...healthy, facts: { ...healthy.facts, storedEndpoints: away } }).some(
        (check) => check.ok && check.what.startsWith('remote endpoint c2'),
      ),
    );
  });
});
