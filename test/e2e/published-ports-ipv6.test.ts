/**
 * IPv6 published ports as Docker 20.10 shows and serves them (compared with
 * dockerd 20.10.24, "ipv6": true and a user network --ipv6 --subnet): a
 * plain -p is 0.0.0.0 and [::]; [::] is ip6 DNAT in skiff's table, [::1]
 * is served by the daemon's relay (no route_localnet for IPv6), and a
 * container without IPv6 is relayed to its IPv4 address. Real traffic from
 * the host, from a LAN neighbour with an IPv6 route to the host, and from
 * containers; conflicts with Docker's texts; the relay comes back after a
 * daemon restart; removal leaves no element and no listener.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { assertInWorld, makeLinkedHost, scratchDir, sh, type NetnsHandle } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { httpGet } from '../helpers/traffic.js';

assertInWorld();

const HOST_V6 = '2001:db8:77::1';
const LAN_V6 = '2001:db8:77::2';
const PAGE = 'hello-over-six';
const webCommand = ['sh', '-c', `mkdir -p /www && echo ${PAGE} > /www/index.html && exec httpd -f -p 80 -h /www`];

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
let lan: NetnsHandle;

before(async () => {
  // The world's own IPv6 settings (per namespace): no duplicate address detection to wait for.
  await sh('sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  scratch = scratchDir('skiff-six-');
  lan = await makeLinkedHost(scratch.path, 'lan6', '198.51.100.1', '198.51.100.2');
  await sh('ip', ['-6', 'addr', 'add', `${HOST_V6}/64`, 'dev', 'to-lan6', 'nodad']);
  await lan.exec('ip', ['-6', 'addr', 'add', `${LAN_V6}/64`, 'dev', 'eth0', 'nodad']);
  await lan.exec('ip', ['-6', 'route', 'add', 'default', 'via', HOST_V6]);
  daemon = await startDaemon();
  await importBusybox(daemon);
  await daemon.ok('network', 'create', '--ipv6', '--subnet', 'fd00:6::/64', 'six');
  await daemon.ok('network', 'create', 'four');
});

after(async () => {
  await daemon.cleanup();
  await lan.remove();
  scratch.remove();
});

async function waitForPage(address: string, port: number, netns?: NetnsHandle): Promise<string> {
  let page = '';
  for (let attempt = 0; attempt < 30 && !page.includes(PAGE); attempt++) {
    page = await httpGet(address, port, netns);
    if (!page.includes(PAGE)) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return page;
}

async function fromContainer(name: string, address: string, port: number): Promise<string> {
  const result = await daemon.docker('exec', name, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${address} ${port}`);
  return result.stdout;
}

const nftMaps = () => sh('nft', ['list', 'table', 'inet', 'skiff']);
const listeners = async () => (await sh('ss', ['-Hltun'])).split('\n').map((line) => line.trim().split(/\s+/)[4] ?? '');

test('a plain -p on an IPv6 container: 0.0.0.0 and [::] as Docker shows them, DNAT for the host addresses, the relay for [::1]', async () => {
  await daemon.ok('run', '-d', '--name', 'web6', '--network', 'six', '-p', '8080:80', 'busybox', ...webCommand);
  const address6 = (await daemon.ok('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}', 'web6')).trim();
  assert.equal((await daemon.ok('port', 'web6')).trim(), '80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080');
  assert.equal((await daemon.ok('port', 'web6', '80')).trim(), '0.0.0.0:8080\n[::]:8080');
  const ports = JSON.parse(await daemon.ok('inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web6')) as unknown;
  assert.deepEqual(ports, {
    '80/tcp': [
      { HostIp: '0.0.0.0', HostPort: '8080' },
      { HostIp: '::', HostPort: '8080' },
    ],
  });
  const bindings = JSON.parse(await daemon.ok('inspect', '-f', '{{json .HostConfig.PortBindings}}', 'web6')) as unknown;
  assert.deepEqual(bindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, 'what was asked stays as asked');
  assert.equal((await daemon.ok('ps', '--filter', 'name=web6', '--format', '{{.Ports}}')).trim(), '0.0.0.0:8080->80/tcp, [::]:8080->80/tcp');
  assert.match(await nftMaps(), new RegExp(`tcp \\. 8080 : ${address6.replaceAll(':', '\\:')} \\. 80`), 'the ip6 DNAT element');

  assert.match(await waitForPage(HOST_V6, 8080), new RegExp(PAGE), 'the host through its own IPv6 address (output DNAT)');
  assert.match(await waitForPage('::1', 8080), new RegExp(PAGE), "the host's [::1] (the relay, as docker-proxy serves it)");
  assert.match(await waitForPage('127.0.0.1', 8080), new RegExp(PAGE), 'IPv4 loopback as before');
  assert.match(await waitForPage(HOST_V6, 8080, lan), new RegExp(PAGE), 'a LAN neighbour through its IPv6 route to the host');
  await daemon.ok('run', '-d', '--name', 'peer6', '--network', 'six', 'busybox', 'sleep', '300');
  assert.match(await fromContainer('peer6', HOST_V6, 8080), new RegExp(PAGE), 'a container on the same network (hairpin)');
  assert.match(await fromContainer('web6', HOST_V6, 8080), new RegExp(PAGE), 'the container reaches its own port');

  const diagnosis = await daemon.skiff('network', 'diagnose', 'six');
  assert.equal(diagnosis.code, 0, diagnosis.stdout + diagnosis.stderr);
  assert.match(diagnosis.stdout, /\[::\]:8080\/tcp .*ports6_any holds 6 \. 8080/);
  assert.match(diagnosis.stdout, /\[::\]:8080\/tcp .*the daemon relays the host port/);
  const element = `{ tcp . 8080 : ${address6} . 80 }`;
  await sh('nft', ['delete', 'element', 'inet', 'skiff', 'ports6_any', element]);
  const broken = await daemon.skiff('network', 'diagnose', 'six');
  assert.notEqual(broken.code, 0);
  assert.match(broken.stdout, /FAIL .*\[::\]:8080\/tcp .*ports6_any holds .*absent/, "an ip6 DNAT element lost behind skiff's back is found");
  await sh('nft', ['add', 'element', 'inet', 'skiff', 'ports6_any', element]);
});

test('another network stays isolated from an IPv6 published port, as from an IPv4 one', async () => {
  await daemon.ok('network', 'create', '--ipv6', '--subnet', 'fd00:7::/64', 'seven');
  await daemon.ok('run', '-d', '--name', 'stranger', '--network', 'seven', 'busybox', 'sleep', '300');
  assert.doesNotMatch(await fromContainer('stranger', HOST_V6, 8080), new RegExp(PAGE));
  await daemon.ok('rm', '-f', 'stranger');
  await daemon.ok('network', 'rm', 'seven');
});

test('-p [::1]:PORT is served by the relay alone: no DNAT element, nothing from outside the host', async () => {
  await daemon.ok('run', '-d', '--name', 'loop6', '--network', 'six', '-p', '[::1]:8081:80', 'busybox', ...webCommand);
  assert.equal((await daemon.ok('port', 'loop6')).trim(), '80/tcp -> [::1]:8081');
  assert.deepEqual(JSON.parse(await daemon.ok('inspect', '-f', '{{json .NetworkSettings.Ports}}', 'loop6')), {
    '80/tcp': [{ HostIp: '::1', HostPort: '8081' }],
  });
  assert.doesNotMatch(await nftMaps(), /\b8081\b/);
  assert.ok((await listeners()).includes('[::1]:8081'));
  assert.match(await waitForPage('::1', 8081), new RegExp(PAGE));
  assert.equal(await httpGet('127.0.0.1', 8081), '', 'not on IPv4');
  assert.equal(await httpGet(HOST_V6, 8081, lan), '', 'not from a neighbour');
});

test('a container without IPv6: the [::] binding is relayed to its IPv4 address, as docker-proxy does', async () => {
  await daemon.ok('run', '-d', '--name', 'web4', '--network', 'four', '-p', '8082:80', '-p', '[::]:8083:80', 'busybox', ...webCommand);
  const ports = JSON.parse(await daemon.ok('inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web4')) as Record<string, unknown>;
  assert.deepEqual(ports, {
    '80/tcp': [
      { HostIp: '0.0.0.0', HostPort: '8082' },
      { HostIp: '::', HostPort: '8082' },
      { HostIp: '::', HostPort: '8083' },
    ],
  });
  assert.doesNotMatch(await sh('nft', ['list', 'map', 'inet', 'skiff', 'ports6_any']), /808[23]/, 'no IPv6 DNAT to an IPv4 address');
  for (const port of [8082, 8083]) {
    assert.match(await waitForPage('::1', port), new RegExp(PAGE), `[::1]:${port}`);
    assert.match(await waitForPage(HOST_V6, port), new RegExp(PAGE), `[host]:${port}`);
    assert.match(await waitForPage(HOST_V6, port, lan), new RegExp(PAGE), `neighbour to [host]:${port}`);
  }
  assert.equal(await httpGet('127.0.0.1', 8083), '', '[::]:8083 alone is not on IPv4');
});

test("conflicts across families with Docker's texts; the first mapping keeps working", async () => {
  const sameAny = await daemon.docker('run', '-d', '--name', 'clash1', '-p', '[::]:8080:80', 'busybox', 'sleep', '300');
  assert.match(sameAny.stderr, /Bind for :::8080 failed: port is already allocated/);
  const loopbackUnderAny = await daemon.docker('run', '-d', '--name', 'clash2', '--network', 'six', '-p', '[::1]:8080:80', 'busybox', 'sleep', '300');
  assert.match(loopbackUnderAny.stderr, /Error starting userland proxy: listen tcp6 \[::1\]:8080: bind: address already in use/);
  const sameLoopback = await daemon.docker('run', '-d', '--name', 'clash3', '-p', '[::1]:8081:80', 'busybox', 'sleep', '300');
  assert.match(sameLoopback.stderr, /Bind for ::1:8081 failed: port is already allocated/);
  await daemon.ok('run', '-d', '--name', 'v4only', '-p', '0.0.0.0:8081:80', 'busybox', 'sleep', '300');
  assert.equal((await daemon.ok('port', 'v4only')).trim(), '80/tcp -> 0.0.0.0:8081', 'another family is another port');
  await daemon.ok('rm', '-f', 'clash1', 'clash2', 'clash3', 'v4only');
  assert.match(await waitForPage('::1', 8080), new RegExp(PAGE));
  assert.match(await waitForPage('::1', 8081), new RegExp(PAGE));
});

test('UDP through the [::1] relay', async () => {
  await daemon.ok('run', '-d', '--name', 'echo6', '--network', 'six', '-p', '[::1]:5354:53/udp', 'busybox', 'sleep', '300');
  const sandboxKey = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'echo6')).trim();
  const echoScript = "const s=require('dgram').createSocket('udp6');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(53,'::',()=>console.log('ready'))";
  const server = spawn('nsenter', [`--net=${sandboxKey}`, '--', process.execPath, '-e', echoScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => server.stdout.once('data', () => resolve()));
    const client =
      "const s=require('dgram').createSocket('udp6');const t=setTimeout(()=>process.exit(1),3000);s.on('message',(m)=>{process.stdout.write(m.toString());clearTimeout(t);s.close()});s.send('ping-six',5354,'::1')";
    assert.equal(await sh(process.execPath, ['-e', client]), 'ping-six');
  } finally {
    server.kill();
  }
  await daemon.ok('rm', '-f', 'echo6');
});

test('after a daemon restart the relays listen again; removing the containers leaves no element and no listener', async () => {
  daemon = await daemon.restart();
  assert.match(await waitForPage('::1', 8081), new RegExp(PAGE), '[::1] relay rebuilt');
  assert.match(await waitForPage('::1', 8080), new RegExp(PAGE), '[::] relay rebuilt');
  assert.match(await waitForPage(HOST_V6, 8082, lan), new RegExp(PAGE), 'the relay to an IPv4 container rebuilt');
  assert.match(await waitForPage(HOST_V6, 8080, lan), new RegExp(PAGE), 'DNAT kept');
  const clash = await daemon.docker('run', '-d', '--name', 'clash4', '-p', '[::]:8080:80', 'busybox', 'sleep', '300');
  assert.match(clash.stderr, /port is already allocated/, 'still owned after the restart');
  await daemon.ok('rm', '-f', 'clash4', 'web6', 'peer6', 'loop6', 'web4');
  const table = await nftMaps();
  for (const port of ['8080', '8081', '8082', '8083']) assert.doesNotMatch(table, new RegExp(`\\b${port}\\b`), `no element for ${port}`);
  const open = await listeners();
  for (const port of ['8080', '8081', '8082', '8083'])
    assert.ok(!open.some((local) => local.endsWith(`:${port}`)), `no listener on ${port}: ${open.join(' ')}`);
  assert.equal(await httpGet('::1', 8081), '');
  await daemon.ok('network', 'rm', 'six', 'four');
});
