/**
 * macvlan networks: containers straight on a "physical" LAN (a veth whose peer
 * is a namespace acting as the LAN's router), reaching each other and the
 * router; Docker's errors for a missing or absent parent; restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, makeLinkedHost, scratchDir, sh, type NetnsHandle } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
let router: NetnsHandle;

before(async () => {
  scratch = scratchDir('skiff-lan-');
  // The world's end of this veth ("to-lan") is the macvlan parent; the far end is the LAN's router.
  router = await makeLinkedHost(scratch.path, 'lan', '192.168.77.254', '192.168.77.1');
  daemon = await startDaemon();
  await importBusybox(daemon);
});

after(async () => {
  await daemon.cleanup();
  await router.remove();
  scratch.remove();
});

const ping = async (from: string, address: string) => (await daemon.docker('exec', from, 'ping', '-c', '1', '-W', '2', address)).code === 0;

/** The LAN network with m1 (dynamic address) and m2 (192.168.77.50) on it; each test makes its own and removes it. */
async function lanWithTwoContainers(): Promise<void> {
  await daemon.ok('network', 'create', '-d', 'macvlan', '--subnet', '192.168.77.0/24', '--gateway', '192.168.77.1', '-o', 'parent=to-lan', 'lan');
  await daemon.ok('run', '-d', '--name', 'm1', '--network', 'lan', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'm2', '--network', 'lan', '--ip', '192.168.77.50', 'busybox', 'sleep', '300');
}

async function removeLan(): Promise<void> {
  await daemon.docker('rm', '-f', 'm1', 'm2');
  await daemon.docker('network', 'rm', 'lan');
}

/** The macvlan links inside a running container's namespace. */
async function macvlanLinksOf(container: string): Promise<string[]> {
  const pid = (await daemon.ok('inspect', '-f', '{{.State.Pid}}', container)).trim();
  const links = JSON.parse(await sh('nsenter', ['-t', pid, '-n', 'ip', '-json', '-details', 'link', 'show'])) as Array<{
    ifname: string;
    linkinfo?: { info_kind?: string };
  }>;
  return links.filter((link) => link.linkinfo?.info_kind === 'macvlan').map((link) => link.ifname);
}

test("containers on a macvlan network reach each other and the LAN's router", async () => {
  await lanWithTwoContainers();
  try {
    const m1 = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.Networks.lan.IPAddress}} {{.NetworkSettings.Networks.lan.MacAddress}}', 'm1')).trim();
    assert.equal(m1, '192.168.77.2 02:42:c0:a8:4d:02');
    assert.ok(await ping('m1', '192.168.77.50'), 'm1 reaches m2 on the LAN');
    assert.ok(await ping('m1', '192.168.77.1'), 'm1 reaches the router');
    assert.match(await daemon.ok('exec', 'm1', 'ip', 'route'), /default via 192\.168\.77\.1 dev eth0/);
    const seen = await router.exec('ip', ['neigh', 'show', '192.168.77.2']);
    assert.match(seen, /02:42:c0:a8:4d:02/, "the router sees the container's own MAC on the wire");
  } finally {
    await removeLan();
  }
});

test('restart keeps macvlan endpoints; leaving takes the link away, the network goes once empty', async () => {
  await lanWithTwoContainers();
  try {
    daemon = await daemon.restart();
    assert.ok(await ping('m1', '192.168.77.50'), 'still reachable after a restart');
    assert.deepEqual(await macvlanLinksOf('m1'), ['eth0']);
    assert.equal((await router.tryExec('ping', ['-c', '1', '-W', '2', '192.168.77.2'])).code, 0, 'control: the router reaches m1 while it is on the LAN');
    await daemon.ok('network', 'disconnect', 'lan', 'm1');
    assert.deepEqual(await macvlanLinksOf('m1'), [], 'the macvlan link left with the endpoint');
    assert.notEqual((await router.tryExec('ping', ['-c', '1', '-W', '1', '192.168.77.2'])).code, 0, 'the router no longer reaches m1');
    assert.equal((await router.tryExec('ping', ['-c', '1', '-W', '2', '192.168.77.50'])).code, 0, 'm2 is still there');
    const busy = await daemon.docker('network', 'rm', 'lan');
    assert.match(busy.stderr, /has active endpoints/);
  } finally {
    await removeLan();
  }
  assert.equal((await daemon.ok('network', 'ls', '--filter', 'name=lan', '-q')).trim(), '', 'the network is gone');
});

test('a macvlan network without a usable parent gets a clear error and nothing is made', async () => {
  const noParent = await daemon.docker('network', 'create', '-d', 'macvlan', '--subnet', '192.168.78.0/24', 'lan2');
  assert.match(noParent.stderr, /macvlan networks need -o parent=<interface>/);
  const missing = await daemon.docker('network', 'create', '-d', 'macvlan', '--subnet', '192.168.79.0/24', '-o', 'parent=nosuch0', 'lan3');
  assert.match(missing.stderr, /-o parent interface was not found on the host: nosuch0/);
  const vlan = await daemon.docker('network', 'create', '-d', 'macvlan', '--subnet', '192.168.80.0/24', '-o', 'parent=to-lan.10', 'lan4');
  assert.match(vlan.stderr, /802\.1q/);
  assert.deepEqual((await daemon.ok('network', 'ls', '--filter', 'driver=macvlan', '-q')).trim(), '');
});
