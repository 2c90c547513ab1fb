/**
 * The embedded DNS resolver lives in each container's network namespace, as
 * Docker's does: it answers the container's very first lookup, it is there
 * again after the daemon is SIGKILLed and restarted (on the same ports), it
 * follows network connect and disconnect, `--network container:X` shares
 * X's, `skiff network diagnose` checks it, and `docker rm` leaves no socket
 * behind in the daemon.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, sh } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { startUpstreamDns, type RunningUpstream } from '../helpers/upstream.js';

assertInWorld();

const UPSTREAM = '198.51.100.53';

let daemon: TestDaemon;
let upstream: RunningUpstream;

before(async () => {
  upstream = await startUpstreamDns('skiff-resolver-', UPSTREAM);
  daemon = await startDaemon({ extraArgs: ['--dns', UPSTREAM] });
  await importBusybox(daemon);
  await daemon.ok('network', 'create', 'alpha');
  await daemon.ok('network', 'create', 'beta');
  await daemon.ok('run', '-dit', '--name', 'target', '--network', 'alpha', 'busybox', 'sh');
  await daemon.ok('run', '-dit', '--name', 'other', '--network', 'beta', 'busybox', 'sh');
});

after(async () => {
  await daemon.cleanup();
  await upstream.stop();
});

function addressOf(container: string, network: string): Promise<string> {
  return daemon.ok('inspect', '-f', `{{.NetworkSettings.Networks.${network}.IPAddress}}`, container).then((text) => text.trim());
}

async function sandboxKey(container: string): Promise<string> {
  return (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', container)).trim();
}

/** The addresses busybox nslookup prints for name, asked at 127.0.0.11 from inside the container. */
async function lookup(container: string, name: string): Promise<string[]> {
  const result = await daemon.docker('exec', container, 'nslookup', name, '127.0.0.11');
  return [
    ...result.stdout
      .split('\n')
      .slice(2)
      .join('\n')
      .matchAll(/Address: (\S+)/g),
  ].map((match) => match[1]!);
}

/** How many of the daemon's open file descriptors are sockets. */
function daemonSockets(): number {
  const fds = `/proc/${daemon.process.pid}/fd`;
  return readdirSync(fds).filter((fd) => {
    try {
      return readlinkSync(join(fds, fd)).startsWith('socket:');
    } catch {
      return false; // closed while being listed
    }
  }).length;
}

test("a container's very first lookup is answered, by a resolver inside its own namespace", async () => {
  const target = await addressOf('target', 'alpha');
  for (let round = 0; round < 5; round++) {
    const first = await daemon.docker('run', '--rm', '--network', 'alpha', 'busybox', 'nslookup', 'target');
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, new RegExp(`Address: ${target.replaceAll('.', '\\.')}`));
  }
  const netns = await sandboxKey('target');
  const udp = await sh('nsenter', [`--net=${netns}`, 'ss', '-Hnuap', 'src', '127.0.0.11']);
  const tcp = await sh('nsenter', [`--net=${netns}`, 'ss', '-Hntlp', 'src', '127.0.0.11']);
  assert.match(udp, new RegExp(`pid=${daemon.process.pid},`), `the daemon holds a UDP socket on 127.0.0.11 in the container's namespace: ${udp}`);
  assert.match(tcp, new RegExp(`pid=${daemon.process.pid},`), `and a listening TCP one: ${tcp}`);
  assert.doesNotMatch(udp + tcp, /127\.0\.0\.11:53\s/, 'on ports of their own: a container may run its own server on 0.0.0.0:53');
  assert.deepEqual(await lookup('target', 'upstream.test'), ['10.10.10.10'], 'other names are forwarded');
});

test('--network container:X shares X’s resolver', async () => {
  const shared = await daemon.docker('run', '--rm', '--network', 'container:target', 'busybox', 'nslookup', 'target');
  assert.equal(shared.code, 0, shared.stdout + shared.stderr);
  assert.match(shared.stdout, new RegExp(`Address: ${(await addressOf('target', 'alpha')).replaceAll('.', '\\.')}`));
});

test('the resolver follows network connect and disconnect', async () => {
  await daemon.ok('run', '-dit', '--name', 'roamer', '--network', 'alpha', 'busybox', 'sh');
  assert.deepEqual(await lookup('roamer', 'other'), [], 'other is on beta only');
  await daemon.ok('network', 'connect', 'beta', 'roamer');
  assert.deepEqual(await lookup('roamer', 'other'), [await addressOf('other', 'beta')], 'names of a network connected later');
  assert.deepEqual(await lookup('roamer', 'target'), [await addressOf('target', 'alpha')], 'and still those of the first');
  await daemon.ok('network', 'disconnect', 'alpha', 'roamer');
  assert.deepEqual(await lookup('roamer', 'target'), [], 'no longer those of a network left');
  assert.deepEqual(await lookup('roamer', 'other'), [await addressOf('other', 'beta')]);
  await daemon.ok('network', 'disconnect', 'beta', 'roamer');
  assert.deepEqual(await lookup('roamer', 'other'), [], 'no user network left: no names');
  await daemon.ok('network', 'connect', 'alpha', 'roamer');
  assert.deepEqual(await lookup('roamer', 'target'), [await addressOf('target', 'alpha')], 'connected again');
  await daemon.ok('rm', '-f', 'roamer');
});

test('skiff network diagnose checks the resolver and its redirect', async () => {
  const healthy = await daemon.skiff('network', 'diagnose', 'alpha');
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  assert.match(healthy.stdout, /^ok {4}endpoint target: the embedded DNS answers inside its namespace on 127\.0\.0\.11/m);
  assert.match(healthy.stdout, /^ok {4}endpoint target: 127\.0\.0\.11:53 in its namespace is redirected to the resolver/m);
  const netns = await sandboxKey('target');
  await sh('nsenter', [`--net=${netns}`, 'nft', 'flush', 'table', 'ip', 'skiff_dns']);
  const broken = await daemon.skiff('network', 'diagnose', 'alpha');
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /^FAIL {2}endpoint target: 127\.0\.0\.11:53 in its namespace is redirected to the resolver/m);
  daemon = await daemon.restart();
  const repaired = await daemon.skiff('network', 'diagnose', 'alpha');
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.deepEqual(await lookup('target', 'target'), [await addressOf('target', 'alpha')]);
});

test('after the daemon is SIGKILLed and restarted, lookups answer again, on the same ports', async () => {
  const netns = await sandboxKey('target');
  const redirectBefore = await sh('nsenter', [`--net=${netns}`, 'nft', 'list', 'table', 'ip', 'skiff_dns']);
  await daemon.kill('SIGKILL');
  daemon = await daemon.restart();
  assert.deepEqual(await lookup('target', 'target'), [await addressOf('target', 'alpha')]);
  assert.deepEqual(await lookup('other', 'other'), [await addressOf('other', 'beta')]);
  assert.deepEqual(await lookup('target', 'upstream.test'), ['10.10.10.10']);
  const redirectAfter = await sh('nsenter', [`--net=${netns}`, 'nft', 'list', 'table', 'ip', 'skiff_dns']);
  assert.equal(redirectAfter, redirectBefore, 'the restarted daemon took the same ports back: flows the kernel tracks still reach it');
});

test('docker rm leaves no socket behind: the daemon holds no more sockets after 20 run+rm than before', async () => {
  // busybox nslookup fails when either of its A and AAAA questions does (the upstream knows no AAAA): the address is what counts.
  const lookups = 'nslookup target && nslookup upstream.test | grep -q 10.10.10.10';
  await daemon.ok('run', '--rm', '--network', 'alpha', 'busybox', 'sh', '-c', lookups);
  const before = daemonSockets();
  for (let round = 0; round < 20; round++) {
    const run = await daemon.docker('run', '--rm', '--network', 'alpha', '--network-alias', `r${round}`, 'busybox', 'sh', '-c', lookups);
    assert.equal(run.code, 0, run.stdout + run.stderr);
  }
  // Closing is asynchronous on the event loop, and the API's own connections come and go: a leak is sockets that stay.
  let after = daemonSockets();
  for (let attempt = 0; attempt < 50 && after > before; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    after = daemonSockets();
  }
  assert.ok(after <= before, `sockets of the daemon: ${before} before, ${after} after (each container had 2 of its own and 1 upstream)`);
});
