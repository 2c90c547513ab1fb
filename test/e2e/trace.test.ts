/**
 * `skiff network trace` against a real daemon, one verdict per case of the
 * seeds' walkthroughs: alpine-net (same network, by name), another network
 * (isolation, the rule named), ICC off, an internal network reaching out,
 * the published port from the host and from a LAN host, the default bridge
 * (no name resolution, with the reason), and a veth deleted by hand. Each
 * probe leaves no table, link or namespace behind.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, makeLinkedHost, scratchDir, sh, worldLinks, worldNftTables, type NetnsHandle } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { TraceReport } from '../../src/trace/model.js';

assertInWorld();

const HOST_ADDRESS = '198.51.100.1';
const LAN_ADDRESS = '198.51.100.2';
let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
let lan: NetnsHandle;

before(async () => {
  scratch = scratchDir('skiff-trace-');
  lan = await makeLinkedHost(scratch.path, 'lan', HOST_ADDRESS, LAN_ADDRESS);
  daemon = await startDaemon();
  await importBusybox(daemon);
  await daemon.ok('network', 'create', 'alpine-net');
  await daemon.ok('network', 'create', 'other-net');
  await Promise.all([
    daemon.ok('run', '-dit', '--name', 'alpine1', '--network', 'alpine-net', 'busybox', 'ash'),
    daemon.ok('run', '-dit', '--name', 'alpine2', '--network', 'alpine-net', '--network-alias', 'db', 'busybox', 'ash'),
    daemon.ok('run', '-dit', '--name', 'alpine3', '--network', 'other-net', 'busybox', 'ash'),
    daemon.ok('run', '-d', '--name', 'web', '--network', 'alpine-net', '-p', '5050:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc'),
  ]);
});

after(async () => {
  await daemon.cleanup();
  await lan.remove();
  scratch.remove();
});

async function trace(...args: string[]): Promise<TraceReport> {
  const result = await daemon.skiff('network', 'trace', ...args, '--format', 'json');
  assert.ok(result.stdout.startsWith('{'), `skiff network trace ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as TraceReport;
}

/** Nothing of a probe stays: no trace table, no probe veth, no probe namespace. */
async function assertProbeGone(): Promise<void> {
  assert.deepEqual(
    (await worldNftTables()).filter((table) => table.includes('skiff_trace_')),
    [],
  );
  assert.deepEqual(
    (await worldLinks()).filter((link) => link.startsWith('sktr')),
    [],
  );
  assert.deepEqual(
    (await sh('ls', [`${daemon.execRoot}/netns`])).split('\n').filter((name) => name.startsWith('trace-')),
    [],
  );
}

test('alpine-net: alpine1 reaches alpine2 by name, the embedded DNS answer, the route and the bridge switching past the firewall shown', async () => {
  const result = await daemon.skiff('network', 'trace', 'alpine1', 'alpine2');
  assert.equal(result.code, 0, result.stderr);
  // The containers started together: their addresses are whatever each got.
  const alpine2 = (await daemon.ok('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', 'alpine2')).trim();
  assert.match(result.stdout, /^trace alpine1 -> alpine2 \(icmp echo\)$/m);
  assert.ok(result.stdout.includes(`name      ok: alpine1's embedded DNS answers alpine2 with ${alpine2}\n`), result.stdout);
  assert.match(result.stdout, /route +in alpine1's namespace: dev eth0 src /);
  // skiff's default: frames within a network are switched past the firewall (net.bridge.bridge-nf-call-iptables 0).
  assert.match(
    result.stdout,
    /bridge +br-[0-9a-f]{12} switches the probe from port to port, past the firewall \(net\.bridge\.bridge-nf-call-iptables is 0\)\n/,
  );
  assert.ok(!result.stdout.includes('forward'), 'no forward chain on the way');
  assert.match(result.stdout, /^result: reachable: alpine1 reaches .*: echo reply received$/m);
  const alias = await trace('alpine1', 'db', '--port', '5432');
  assert.deepEqual(alias.name?.answer, [alpine2]);
  assert.equal(alias.verdict.result, 'reachable');
  assert.match(alias.verdict.reason, /nothing listens there/);
  await assertProbeGone();
});

test("another network: isolation, with skiff's rule named and `docker network connect` as the fix", async () => {
  const report = await trace('alpine1', 'alpine3');
  assert.equal(report.verdict.result, 'unreachable');
  assert.deepEqual(report.verdict.rule, { table: 'skiff', chain: 'forward', rule: 'iifname @bridges oifname @bridges drop' });
  assert.equal(report.verdict.fix, 'docker network connect other-net alpine1');
  assert.equal(report.verdict.name?.ok, false);
  assert.match(report.verdict.name?.reason ?? '', /answers only for containers on a network both are on/);
  const text = await daemon.skiff('network', 'trace', 'alpine1', 'alpine3');
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^fix: docker network connect other-net alpine1$/m);
  // The fix works: after it, the trace says reachable.
  await daemon.ok('network', 'connect', 'other-net', 'alpine1');
  assert.equal((await trace('alpine1', 'alpine3')).verdict.result, 'reachable');
  await daemon.ok('network', 'disconnect', 'other-net', 'alpine1');
});

test('ICC off: isolated bridge ports, named as ICC, whether bridged frames meet the firewall or not', async () => {
  await daemon.ok('network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'quiet-icc');
  await daemon.ok('run', '-dit', '--name', 'q1', '--network', 'quiet-icc', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'q2', '--network', 'quiet-icc', 'busybox', 'ash');
  const report = await trace('q1', 'q2');
  assert.equal(report.verdict.result, 'unreachable');
  assert.equal(report.verdict.rule, undefined, 'no rule: the bridge itself keeps the ports apart');
  assert.match(report.verdict.reason, /ICC is off on quiet-icc .*ports on br-[0-9a-f]{12} are isolated/);
  assert.ok(
    report.links.some((check) => check.ok && /is an isolated port \(ICC off on quiet-icc\)/.test(check.what)),
    JSON.stringify(report.links),
  );
  assert.equal(report.verdict.name?.ok, true, 'names still resolve with ICC off');
  // As with --bridge-nf-call-iptables (dockerd's way): the firewall sees bridged frames, but the bridge drops them at the isolated port before its forward hook.
  await sh('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=1']);
  try {
    const filtered = await trace('q1', 'q2');
    assert.equal(filtered.bridged?.firewall, true);
    assert.equal(filtered.verdict.result, 'unreachable');
    assert.match(filtered.verdict.reason, /ICC is off on quiet-icc .*isolated/);
  } finally {
    await sh('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=0']);
  }
});

test('an internal network reaching outside: no route leaves it', async () => {
  await daemon.ok('network', 'create', '--internal', 'inside');
  await daemon.ok('run', '-dit', '--name', 'i1', '--network', 'inside', 'busybox', 'ash');
  const report = await trace('i1', LAN_ADDRESS);
  assert.equal(report.verdict.result, 'unreachable');
  assert.match(report.verdict.reason, /i1 is only on inside, which is --internal: no route leaves it/);
  assert.equal(report.route?.ok, false);
  assert.equal(report.probe, undefined, 'no probe without a route');
});

test("the published port from the host's loopback: output DNAT through the ports4_any element", async () => {
  const report = await trace('host', '127.0.0.1', '--port', '5050');
  assert.equal(report.verdict.result, 'reachable', report.verdict.reason);
  assert.equal(report.published?.map, 'ports4_any');
  assert.equal(report.published?.container, 'web');
  assert.match(report.published?.element ?? '', /^6 \. 5050 : 172\.\d+\.0\.\d+ \. 80$/);
  assert.ok(
    report.probe?.events.some((event) => event.chain === 'published' && event.text.includes('@ports4_any')),
    'the DNAT rule is in the trace',
  );
});

test("the published port from a LAN host: the probe enters as that host, is DNAT'ed and forwarded; nothing is left behind", async () => {
  const report = await trace(LAN_ADDRESS, HOST_ADDRESS, '--port', '5050');
  assert.equal(report.verdict.result, 'reachable', `${report.verdict.reason}\n${JSON.stringify(report.probe, null, 1)}`);
  assert.match(report.verdict.reason, /the answer was seen on its way back/);
  const chains = report.probe?.events.filter((event) => event.kind !== 'packet').map((event) => `${event.chain}: ${event.text}`) ?? [];
  assert.ok(chains.includes('forward: oifname @bridges ct status dnat accept'), chains.join('\n'));
  await assertProbeGone();
  // The LAN host itself does reach it: the trace's path is the real one.
  assert.match(await lan.exec('busybox', ['wget', '-qO-', `http://${HOST_ADDRESS}:5050/hostname`]), /\w/);
  await daemon.ok(
    'run',
    '-d',
    '--name',
    'local-only',
    '--network',
    'alpine-net',
    '-p',
    '127.0.0.1:8080:80',
    'busybox',
    'httpd',
    '-f',
    '-p',
    '80',
    '-h',
    '/etc',
  );
  const loopbackOnly = await trace(LAN_ADDRESS, HOST_ADDRESS, '--port', '8080');
  assert.match(loopbackOnly.verdict.reason, /port 8080 is published on 127\.0\.0\.1 only/);
});

test('the default bridge: reachable by address, the name fails because the default bridge has no embedded DNS', async () => {
  await daemon.ok('run', '-dit', '--name', 'b1', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'b2', 'busybox', 'ash');
  const report = await trace('b1', 'b2');
  assert.equal(report.verdict.result, 'reachable');
  assert.equal(report.verdict.name?.ok, false);
  assert.match(report.verdict.name?.reason ?? '', /b1 and b2 share only the default bridge, which has no embedded DNS \(as in Docker\)/);
  assert.match(report.verdict.name?.fix ?? '', /docker network connect NET b1/);
});

test('a veth deleted by hand: broken, pointing to diagnose', async () => {
  await daemon.ok('run', '-dit', '--name', 'victim', '--network', 'alpine-net', 'busybox', 'ash');
  const inspect = JSON.parse(await daemon.ok('network', 'inspect', 'alpine-net')) as Array<{
    Containers: Record<string, { Name: string; EndpointID: string }>;
  }>;
  const endpoint = Object.values(inspect[0]!.Containers).find((entry) => entry.Name === 'victim')!;
  await sh('ip', ['link', 'del', `veth${endpoint.EndpointID.slice(0, 7)}`]);
  const report = await trace('alpine1', 'victim');
  assert.equal(report.verdict.result, 'broken');
  assert.match(report.verdict.reason, /victim's veth\) is a port of br-[0-9a-f]{12}: no such link/);
  assert.equal(report.verdict.fix, 'skiff network diagnose alpine-net (a daemon restart reconciles the kernel)');
  assert.notEqual((await daemon.skiff('network', 'diagnose', 'alpine-net')).code, 0, 'diagnose agrees');
});

test('bad input gets a clear error and the daemon goes on', async () => {
  const unknown = await daemon.skiff('network', 'trace', 'nobody', 'alpine1');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No such container, host or address: nobody/);
  const badPort = await daemon.http('GET', '/skiff/trace?source=alpine1&destination=alpine2&port=99999');
  assert.equal(badPort.status, 400);
  assert.match(badPort.body, /invalid port 99999/);
  const udpNoPort = await daemon.http('GET', '/skiff/trace?source=alpine1&destination=alpine2&protocol=udp');
  assert.match(udpNoPort.body, /--udp needs --port/);
  assert.equal((await trace('alpine1', 'alpine2', '--udp', '--port', '53')).request.protocol, 'udp');
  assert.equal((await daemon.http('GET', '/_ping')).status, 200);
  await assertProbeGone();
});
