/**
 * Published ports through the docker CLI: the seeds' `--publish 5050:80`, from
 * the host's loopback, from an "outside host" namespace, from containers
 * (hairpin, including a container reaching its own port), UDP, -P, ranges,
 * conflicts that leave the first mapping working, restart, removal.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { assertInWorld, makeLinkedHost, scratchDir, sh, tryRun, type NetnsHandle } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { httpGet } from '../helpers/traffic.js';

assertInWorld();

const HOST_ADDRESS = '198.51.100.1';
let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
let outside: NetnsHandle;

before(async () => {
  scratch = scratchDir('skiff-outside-');
  outside = await makeLinkedHost(scratch.path, 'outside', HOST_ADDRESS, '198.51.100.2');
  daemon = await startDaemon();
  await importBusybox(daemon);
});

after(async () => {
  await daemon.cleanup();
  await outside.remove();
  scratch.remove();
});

/** Sends one datagram from inside a namespace and returns the reply (node, bounded by a timeout). */
async function udpRoundTrip(netns: NetnsHandle, address: string, port: number, text: string): Promise<string> {
  const client = `const s=require('dgram').createSocket('udp4');const t=setTimeout(()=>process.exit(1),3000);s.on('message',(m)=>{process.stdout.write(m.toString());clearTimeout(t);s.close()});s.send(${JSON.stringify(text)},${port},${JSON.stringify(address)})`;
  return (await netns.tryExec(process.execPath, ['-e', client])).stdout;
}

const PAGE = 'hello-from-web';
const webCommand = ['sh', '-c', `mkdir -p /www && echo ${PAGE} > /www/index.html && exec httpd -f -p 80 -h /www`];

async function waitForPage(address: string, port: number, netns?: NetnsHandle): Promise<string> {
  let page = '';
  for (let attempt = 0; attempt < 30 && !page.includes(PAGE); attempt++) {
    page = await httpGet(address, port, netns);
    if (!page.includes(PAGE)) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return page;
}

test("the seeds' localnet web: docker port, localhost, the outside host, hairpin", async () => {
  await daemon.ok('network', 'create', '-d', 'bridge', 'localnet');
  await daemon.ok('run', '-d', '--name', 'web', '--network', 'localnet', '--publish', '5050:80', 'busybox', ...webCommand);
  // As Docker 20.10: a -p without host address is bound on 0.0.0.0 and [::] (the IPv6 side: published-ports-ipv6.test.ts).
  assert.equal((await daemon.ok('port', 'web')).trim(), '80/tcp -> 0.0.0.0:5050\n80/tcp -> [::]:5050');
  assert.equal((await daemon.ok('port', 'web', '80')).trim(), '0.0.0.0:5050\n[::]:5050');
  const ports = JSON.parse(await daemon.ok('inspect', '-f', '{{json .NetworkSettings.Ports}}', 'web')) as unknown;
  assert.deepEqual(ports, {
    '80/tcp': [
      { HostIp: '0.0.0.0', HostPort: '5050' },
      { HostIp: '::', HostPort: '5050' },
    ],
  });
  assert.match(await waitForPage('127.0.0.1', 5050), new RegExp(PAGE), "from the host's loopback");
  assert.match(await waitForPage(HOST_ADDRESS, 5050, outside), new RegExp(PAGE), 'from the outside host');
  await daemon.ok('run', '-d', '--name', 'neighbour', '--network', 'localnet', 'busybox', 'sleep', '300');
  const fromNeighbour = await daemon.ok('exec', 'neighbour', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${HOST_ADDRESS} 5050`);
  assert.match(fromNeighbour, new RegExp(PAGE), 'another container through the host address');
  const fromItself = await daemon.ok('exec', 'web', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${HOST_ADDRESS} 5050`);
  assert.match(fromItself, new RegExp(PAGE), 'the container reaches its own published port');
});

test("a conflicting -p is refused with Docker's error and the first mapping keeps working", async () => {
  const clash = await daemon.docker('run', '-d', '--name', 'clash', '-p', '5050:80', 'busybox', 'sleep', '300');
  assert.notEqual(clash.code, 0);
  assert.match(clash.stderr, /Bind for 0\.0\.0\.0:5050 failed: port is already allocated/);
  assert.match(await waitForPage('127.0.0.1', 5050), new RegExp(PAGE));
  await daemon.ok('rm', '-f', 'clash');
  // The port is held: no other process can bind it while it is published.
  const squatter = await tryRun('busybox', ['timeout', '1', 'busybox', 'nc', '-l', '-p', '5050']);
  assert.notEqual(squatter.code, 0);
});

test('UDP, -P with --expose, ranges and a host address', async () => {
  // busybox has no UDP server: a node UDP echo runs in the container's own network namespace.
  await daemon.ok('run', '-d', '--name', 'echo', '-p', '5353:53/udp', 'busybox', 'sleep', '300');
  const sandboxKey = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'echo')).trim();
  const echoScript = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(53,()=>console.log('ready'))";
  const server = spawn('nsenter', [`--net=${sandboxKey}`, '--', process.execPath, '-e', echoScript], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => server.stdout.once('data', () => resolve()));
    const reply = await udpRoundTrip(outside, HOST_ADDRESS, 5353, 'ping-udp');
    assert.equal(reply, 'ping-udp', 'UDP echo through a published UDP port from the outside host');
  } finally {
    server.kill();
  }
  await daemon.ok('run', '-d', '--name', 'many', '-P', '--expose', '8080', '-p', '127.0.0.1::81', '-p', '7000-7002:90-92', 'busybox', 'sleep', '300');
  const lines = (await daemon.ok('port', 'many')).trim().split('\n').sort();
  assert.equal(lines.length, 9, 'each port without a host address on 0.0.0.0 and [::], as Docker');
  assert.ok(lines.includes('90/tcp -> 0.0.0.0:7000') && lines.includes('92/tcp -> 0.0.0.0:7002'));
  assert.ok(lines.includes('90/tcp -> [::]:7000') && lines.includes('92/tcp -> [::]:7002'));
  assert.ok(lines.some((line) => /^81\/tcp -> 127\.0\.0\.1:\d+$/.test(line)));
  assert.ok(lines.some((line) => /^8080\/tcp -> 0\.0\.0\.0:\d+$/.test(line)));
  await daemon.ok('rm', '-f', 'echo', 'many');
});

test("a network's host_binding_ipv4 is the default address; an internal network publishes nothing", async () => {
  await daemon.ok('network', 'create', '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.1', 'localonly');
  await daemon.ok('run', '-d', '--name', 'local-web', '--network', 'localonly', '-p', '6060:80', 'busybox', ...webCommand);
  assert.equal((await daemon.ok('port', 'local-web')).trim(), '80/tcp -> 127.0.0.1:6060');
  assert.match(await waitForPage('127.0.0.1', 6060), new RegExp(PAGE), "reached on the host's loopback");
  assert.equal(await httpGet(HOST_ADDRESS, 6060, outside), '', 'not reached from the outside host');
  await daemon.ok('network', 'create', '--internal', 'sealed');
  await daemon.ok('run', '-d', '--name', 'sealed-web', '--network', 'sealed', '-p', '6061:80', 'busybox', ...webCommand);
  assert.equal((await daemon.ok('port', 'sealed-web')).trim(), '', 'nothing is published from an internal network');
  await daemon.ok('rm', '-f', 'local-web', 'sealed-web');
  await daemon.ok('network', 'rm', 'localonly', 'sealed');
});

test('the mapping survives a daemon restart and goes with the container', async () => {
  daemon = await daemon.restart();
  assert.match(await waitForPage('127.0.0.1', 5050), new RegExp(PAGE), 'after restart');
  const clash = await daemon.docker('run', '-d', '--name', 'clash2', '-p', '5050:80', 'busybox', 'sleep', '300');
  assert.match(clash.stderr, /port is already allocated/, 'still owned after restart');
  await daemon.ok('rm', '-f', 'clash2', 'web', 'neighbour');
  assert.doesNotMatch(await sh('nft', ['list', 'map', 'inet', 'skiff', 'ports4_any']), /5050/);
  assert.equal(await httpGet('127.0.0.1', 5050), '', 'nothing answers once the container is gone');
  await daemon.ok('network', 'rm', 'localnet');
});

test('disconnecting the network that carries a published port takes the mapping with it, also across a restart', async () => {
  await daemon.ok('network', 'create', 'front');
  await daemon.ok('network', 'create', 'back');
  await daemon.ok('run', '-d', '--name', 'leaver', '--network', 'front', '-p', '5090:80', 'busybox', ...webCommand);
  await daemon.ok('network', 'connect', 'back', 'leaver');
  assert.match(await sh('nft', ['list', 'map', 'inet', 'skiff', 'ports4_any']), /5090/);
  await daemon.ok('network', 'disconnect', 'front', 'leaver');
  assert.doesNotMatch(await sh('nft', ['list', 'map', 'inet', 'skiff', 'ports4_any']), /5090/, 'the DNAT element went with the endpoint');
  assert.equal((await daemon.ok('port', 'leaver')).trim(), '', 'docker port shows nothing any more');
  daemon = await daemon.restart();
  assert.doesNotMatch(await sh('nft', ['list', 'map', 'inet', 'skiff', 'ports4_any']), /5090/, 'and a restart does not bring it back');
  await daemon.ok('rm', '-f', 'leaver');
  await daemon.ok('network', 'rm', 'front', 'back');
});
