/**
 * Sandboxes made through the library on real bridges: reachability within a
 * network, isolation between networks, ICC off, internal networks, masquerade
 * seen by an "outside host", live join/leave, and nothing left behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';
import { assertInWorld, canPing, leftovers, makeNetns, scratchDir, sh, tryRun, type NetnsHandle } from '../helpers/world.js';
import { deleteTable } from '../../src/firewall/index.js';
import { cidrOf, type InterfaceAddress } from '../../src/model/address.js';

assertInWorld();

let dir: { path: string; remove: () => void };
let engine: Engine;
let outside: NetnsHandle;

const addressOf = (address: InterfaceAddress | undefined) => address?.address ?? '';

before(async () => {
  dir = scratchDir();
  engine = await Engine.open({ dataRoot: join(dir.path, 'data'), execRoot: join(dir.path, 'exec'), firewallTable: 'skiff' });
  // The "outside host": a namespace reached through a veth, with the world routing for it.
  outside = await makeNetns(dir.path, 'outside');
  await sh('ip', ['link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.path]);
  await sh('ip', ['addr', 'add', '198.51.100.1/24', 'dev', 'uplink']);
  await sh('ip', ['link', 'set', 'uplink', 'up']);
  await outside.exec('ip', ['addr', 'add', '198.51.100.2/24', 'dev', 'eth0']);
  await outside.exec('ip', ['link', 'set', 'eth0', 'up']);
});

after(async () => {
  for (const sandbox of engine.listSandboxes()) await engine.deleteSandbox(sandbox.id);
  for (const network of engine.listNetworks()) {
    if (!['bridge', 'host', 'none'].includes(network.name)) await engine.deleteNetwork(network.id);
  }
  await sh('ip', ['link', 'del', 'uplink']);
  await outside.remove();
  // Tear down what the engine keeps for the daemon's life: the default bridge and the table.
  await sh('ip', ['link', 'del', 'skiff0']);
  await deleteTable('skiff');
  await engine.close();
  assert.deepEqual(await leftovers(dir.path), []);
  dir.remove();
});

test("two sandboxes on one network ping each other; the address, MAC and route are Docker's", async () => {
  const network = await engine.createNetwork({ name: 'alpine-net' });
  const a = await engine.createSandbox({ hostname: 'a' });
  const b = await engine.createSandbox({ hostname: 'b' });
  const ea = await engine.join(a.id, 'alpine-net', { name: 'alpine1' });
  const eb = await engine.join(b.id, 'alpine-net', { name: 'alpine2' });
  assert.equal(cidrOf(ea.ipv4!), '172.18.0.2/16');
  assert.equal(cidrOf(eb.ipv4!), '172.18.0.3/16');
  assert.equal(ea.macAddress, '02:42:ac:12:00:02');
  assert.equal(ea.ifName, 'eth0');
  assert.ok(await canPing(a.netnsPath, addressOf(eb.ipv4), 3));
  assert.ok(await canPing(b.netnsPath, addressOf(ea.ipv4), 3));
  assert.ok(await canPing(a.netnsPath, '172.18.0.1'), 'the gateway answers');
  const route = await sh('nsenter', [`--net=${a.netnsPath}`, 'ip', 'route', 'show', 'default']);
  assert.match(route, /default via 172\.18\.0\.1 dev eth0/);
  const link = JSON.parse(await sh('ip', ['-json', 'link', 'show', ea.hostIfName])) as Array<{ master: string }>;
  assert.equal(link[0]?.master, network.bridge?.bridgeName);
  await engine.deleteSandbox(a.id);
  await engine.deleteSandbox(b.id);
  await engine.deleteNetwork('alpine-net');
});

test('a sandbox cannot reach a sandbox on another network; one on both reaches both', async () => {
  await engine.createNetwork({ name: 'left' });
  await engine.createNetwork({ name: 'right' });
  const l = await engine.createSandbox();
  const r = await engine.createSandbox();
  const both = await engine.createSandbox();
  const el = await engine.join(l.id, 'left', { name: 'l' });
  const er = await engine.join(r.id, 'right', { name: 'r' });
  await engine.join(both.id, 'left', { name: 'both' });
  const bothRight = await engine.join(both.id, 'right', { name: 'both' });
  assert.equal(bothRight.ifName, 'eth1');
  assert.equal(await canPing(l.netnsPath, addressOf(er.ipv4)), false, 'left must not reach right');
  assert.equal(await canPing(r.netnsPath, addressOf(el.ipv4)), false, 'right must not reach left');
  assert.ok(await canPing(both.netnsPath, addressOf(el.ipv4), 3));
  assert.ok(await canPing(both.netnsPath, addressOf(er.ipv4), 3));
  for (const sandbox of [l, r, both]) await engine.deleteSandbox(sandbox.id);
  await engine.deleteNetwork('left');
  await engine.deleteNetwork('right');
});

const setBridgeNfCall = (value: '0' | '1') =>
  sh('sysctl', ['-qw', `net.bridge.bridge-nf-call-iptables=${value}`, `net.bridge.bridge-nf-call-ip6tables=${value}`]);

test('ICC off blocks traffic between endpoints of one network, the gateway still answers, whether bridged frames meet the firewall or not', async () => {
  await engine.createNetwork({ name: 'quiet', options: { 'com.docker.network.bridge.enable_icc': 'false' } });
  await engine.createNetwork({ name: 'chatty' });
  const [a, b, c, d] = [await engine.createSandbox(), await engine.createSandbox(), await engine.createSandbox(), await engine.createSandbox()];
  const ea = await engine.join(a.id, 'quiet', { name: 'a' });
  const eb = await engine.join(b.id, 'quiet', { name: 'b' });
  await engine.join(c.id, 'chatty', { name: 'c' });
  const ed = await engine.join(d.id, 'chatty', { name: 'd' });
  const ports = JSON.parse(await sh('ip', ['-json', '-details', 'link', 'show', ea.hostIfName])) as Array<{
    linkinfo?: { info_slave_data?: { isolated?: boolean } };
  }>;
  assert.equal(ports[0]?.linkinfo?.info_slave_data?.isolated, true, 'an ICC-off endpoint is an isolated bridge port');
  try {
    for (const nfCall of ['1', '0'] as const) {
      await setBridgeNfCall(nfCall);
      assert.ok(await canPing(c.netnsPath, addressOf(ed.ipv4), 3), `control, bridge-nf-call-iptables=${nfCall}: ICC on reaches`);
      assert.equal(await canPing(a.netnsPath, addressOf(eb.ipv4)), false, `bridge-nf-call-iptables=${nfCall}`);
      assert.equal(await canPing(b.netnsPath, addressOf(ea.ipv4)), false, `bridge-nf-call-iptables=${nfCall}`);
      assert.ok(await canPing(a.netnsPath, engine.findNetwork('quiet')!.ipam.pools[0]!.gateway), `bridge-nf-call-iptables=${nfCall}: the gateway answers`);
    }
  } finally {
    await setBridgeNfCall('1');
  }
  for (const sandbox of [a, b, c, d]) await engine.deleteSandbox(sandbox.id);
  await engine.deleteNetwork('quiet');
  await engine.deleteNetwork('chatty');
});

test('a normal network reaches the outside host masqueraded; an internal one reaches nothing outside', async () => {
  await engine.createNetwork({ name: 'public' });
  await engine.createNetwork({ name: 'private', internal: true });
  const pub = await engine.createSandbox();
  const priv = await engine.createSandbox();
  await engine.join(pub.id, 'public', { name: 'pub' });
  const epriv = await engine.join(priv.id, 'private', { name: 'priv' });
  // The outside host counts the sources it sees.
  await outside.exec('nft', [
    'add table ip seen; add chain ip seen input { type filter hook input priority 0; }; add set ip seen sources { type ipv4_addr; }; add rule ip seen input icmp type echo-request add @sources { ip saddr }',
  ]);
  assert.ok(await canPing(pub.netnsPath, '198.51.100.2'), 'public network reaches the outside host');
  const seen = await outside.exec('nft', ['list', 'set', 'ip', 'seen', 'sources']);
  assert.match(seen, /198\.51\.100\.1/, "the outside host sees the host's address (masquerade)");
  assert.doesNotMatch(seen, /172\.\d+\.0\.2/, 'no container address leaks outside');
  assert.equal(await canPing(priv.netnsPath, '198.51.100.2'), false, 'internal network reaches nothing outside');
  const route = await sh('nsenter', [`--net=${priv.netnsPath}`, 'ip', 'route', 'show', 'default']);
  assert.equal(route.trim(), '', 'internal networks get no default route');
  assert.ok(await canPing(priv.netnsPath, addressOf(epriv.ipv4).replace(/\.\d+$/, '.1')), 'the internal gateway answers');
  await outside.exec('nft', ['delete', 'table', 'ip', 'seen']);
  for (const sandbox of [pub, priv]) await engine.deleteSandbox(sandbox.id);
  await engine.deleteNetwork('public');
  await engine.deleteNetwork('private');
});

test('join and leave on a live sandbox: interfaces appear and go, the default route moves', async () => {
  await engine.createNetwork({ name: 'first' });
  await engine.createNetwork({ name: 'second' });
  const s = await engine.createSandbox();
  const peer = await engine.createSandbox();
  const bridgeMac = async () =>
    (JSON.parse(await sh('ip', ['-json', 'link', 'show', engine.getNetwork('second').bridge!.bridgeName])) as Array<{ address: string }>)[0]!.address;
  const macBefore = await bridgeMac();
  const epeer = await engine.join(peer.id, 'second', { name: 'peer' });
  await engine.join(s.id, 'first', { name: 's' });
  assert.equal(await canPing(s.netnsPath, addressOf(epeer.ipv4)), false);
  const second = await engine.join(s.id, 'second', { name: 's' });
  assert.ok(await canPing(s.netnsPath, addressOf(epeer.ipv4), 3), 'reachable after join');
  await engine.leave(s.id, 'first');
  // At the answer the interface is cut off (its host end down and off the bridge); its delete follows.
  const cutOff = await sh('nsenter', [`--net=${s.netnsPath}`, 'ip', '-br', 'link', 'show', 'eth0']).catch(() => 'eth0 already deleted');
  assert.match(cutOff, /LOWERLAYERDOWN|NO-CARRIER|already deleted/, 'eth0 carries nothing from the answer on');
  const route = await sh('nsenter', [`--net=${s.netnsPath}`, 'ip', 'route', 'show', 'default']);
  assert.match(route, new RegExp(`default via \\S+ dev ${second.ifName}`));
  await engine.linksDeleted();
  const links = await sh('nsenter', [`--net=${s.netnsPath}`, 'ip', '-br', 'link']);
  assert.doesNotMatch(links, /^eth0/m);
  assert.match(links, new RegExp(`^${second.ifName}@`, 'm'));
  await engine.leave(s.id, 'second');
  assert.equal(await canPing(s.netnsPath, addressOf(epeer.ipv4)), false, 'unreachable after leave');
  assert.equal(await bridgeMac(), macBefore, "the bridge keeps its MAC as ports come and go (neighbours' ARP entries stay right)");
  await assert.rejects(engine.leave(s.id, 'second'), /is not connected to network second/);
  for (const sandbox of [s, peer]) await engine.deleteSandbox(sandbox.id);
  await engine.deleteNetwork('first');
  await engine.deleteNetwork('second');
});

test('static addresses: inside the subnet only, never twice, only on user subnets', async () => {
  await engine.createNetwork({ name: 'fixed', ipamConfig: [{ subnet: '10.20.0.0/24', gateway: '10.20.0.254' }] });
  await engine.createNetwork({ name: 'auto' });
  const a = await engine.createSandbox();
  const b = await engine.createSandbox();
  const ea = await engine.join(a.id, 'fixed', { name: 'a', ipv4: '10.20.0.7' });
  assert.equal(cidrOf(ea.ipv4!), '10.20.0.7/24');
  assert.ok(await canPing(a.netnsPath, '10.20.0.254', 3));
  await assert.rejects(engine.join(b.id, 'fixed', { name: 'b', ipv4: '10.20.0.7' }), /Address already in use/);
  await assert.rejects(engine.join(b.id, 'fixed', { name: 'b', ipv4: '10.99.0.7' }), /does not belong to any of this network's subnets/);
  await assert.rejects(
    engine.join(b.id, 'auto', { name: 'b', ipv4: '172.18.0.9' }),
    /user specified IP address is supported only when connecting to networks with user configured subnets/,
  );
  await assert.rejects(engine.join(b.id, 'bridge', { name: 'b', ipv4: '172.17.0.9' }), /user specified IP address is supported on user defined networks only/);
  assert.deepEqual(engine.endpointsOfSandbox(b.id), [], 'failed joins leave no endpoint');
  const linksBefore = (await sh('ip', ['-br', 'link'])).split('\n').length;
  const eb = await engine.join(b.id, 'fixed', { name: 'b' });
  assert.equal(cidrOf(eb.ipv4!), '10.20.0.1/24', 'dynamic allocation skips the static one and the gateway');
  assert.equal((await sh('ip', ['-br', 'link'])).split('\n').length, linksBefore + 1);
  for (const sandbox of [a, b]) await engine.deleteSandbox(sandbox.id);
  await engine.deleteNetwork('fixed');
  await engine.deleteNetwork('auto');
});

test('removing a network with endpoints is refused; predefined networks cannot be removed', async () => {
  const network = await engine.createNetwork({ name: 'busy' });
  const s = await engine.createSandbox();
  await engine.join(s.id, 'busy', { name: 'x' });
  await assert.rejects(engine.deleteNetwork('busy'), { message: `error while removing network: network busy id ${network.id} has active endpoints` });
  for (const name of ['bridge', 'host', 'none']) {
    await assert.rejects(engine.deleteNetwork(name), { message: `${name} is a pre-defined network and cannot be removed` });
  }
  await engine.deleteSandbox(s.id);
  await engine.deleteNetwork('busy');
  const result = await tryRun('ip', ['link', 'show', network.bridge!.bridgeName]);
  assert.notEqual(result.code, 0, 'the bridge is gone');
});
