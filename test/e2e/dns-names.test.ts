/**
 * Embedded DNS through the docker CLI: names, aliases, short ids, round robin,
 * PTR, two networks, scoping, forwarding to an upstream the test runs in a
 * namespace of its own, SERVFAIL when the upstream is dead, records gone after
 * disconnect. Never the machine's resolver.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, sh } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { serveDnsIn, startUpstreamDns, type RunningUpstream } from '../helpers/upstream.js';

assertInWorld();

const UPSTREAM = '198.51.100.53';
const DEAD_UPSTREAM = '198.51.100.99';

let daemon: TestDaemon;
let upstream: RunningUpstream;

before(async () => {
  upstream = await startUpstreamDns('skiff-upstream-', UPSTREAM);
  daemon = await startDaemon({ extraArgs: ['--dns', UPSTREAM] });
  await importBusybox(daemon);
});

after(async () => {
  await daemon.cleanup();
  await upstream.stop();
});

/** Addresses busybox nslookup prints for a name (after the server lines). */
async function lookup(container: string, name: string, type = 'A'): Promise<{ code: number; addresses: string[]; output: string }> {
  const result = await daemon.docker('exec', container, 'nslookup', `-type=${type}`, name);
  const answer = result.stdout.split('\n').slice(2).join('\n');
  const addresses = [...answer.matchAll(/Address: (\S+)/g)].map((match) => match[1]!);
  return { code: result.code, addresses, output: result.stdout + result.stderr };
}

test('names, aliases, short ids and hostnames resolve on a user network; round robin over an alias', async () => {
  await daemon.ok('network', 'create', 'front');
  await daemon.ok('run', '-dit', '--name', 'web1', '--network', 'front', '--network-alias', 'web', '--hostname', 'webhost', 'busybox', 'sh');
  await daemon.ok('run', '-dit', '--name', 'web2', '--network', 'front', '--network-alias', 'web', 'busybox', 'sh');
  await daemon.ok('run', '-dit', '--name', 'client', '--network', 'front', 'busybox', 'sh');
  const web1 = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.Networks.front.IPAddress}}', 'web1')).trim();
  const web2 = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.Networks.front.IPAddress}}', 'web2')).trim();
  assert.deepEqual((await lookup('client', 'web1')).addresses, [web1]);
  assert.deepEqual((await lookup('client', 'WEB1')).addresses, [web1], 'case-insensitive');
  assert.deepEqual((await lookup('client', 'web1.front')).addresses, [web1], 'network-scoped name');
  assert.deepEqual((await lookup('client', 'webhost')).addresses, [web1], 'hostname');
  const shortId = (await daemon.ok('inspect', '-f', '{{.Id}}', 'web2')).trim().slice(0, 12);
  assert.deepEqual((await lookup('client', shortId)).addresses, [web2], 'short id');
  // Each answer draws its order anew (as Docker's resolver shuffles): with two addresses the same one comes first
  // in six answers in a row once in 32 runs, so the rounds go on (bounded) until both have led.
  const firsts = new Set<string>();
  for (let round = 0; round < 6 || (firsts.size < 2 && round < 40); round++) {
    const { addresses } = await lookup('client', 'web');
    assert.deepEqual([...addresses].sort(), [web1, web2].sort(), 'an alias shared by two answers with both');
    firsts.add(addresses[0]!);
  }
  assert.equal(firsts.size, 2, 'the order rotates between queries');
  const ptr = await daemon.docker('exec', 'client', 'nslookup', web1);
  assert.match(ptr.stdout, /web1\.front/);
  const empty = await lookup('client', 'web1', 'AAAA');
  assert.deepEqual(empty.addresses, []);
});

test('a container on two networks resolves names of both; others only their own', async () => {
  await daemon.ok('network', 'create', 'back');
  await daemon.ok('run', '-dit', '--name', 'db', '--network', 'back', 'busybox', 'sh');
  await daemon.ok('network', 'connect', 'back', 'client');
  const db = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.Networks.back.IPAddress}}', 'db')).trim();
  assert.deepEqual((await lookup('client', 'db')).addresses, [db]);
  assert.ok((await lookup('db', 'client')).addresses.length === 1, 'db sees client on back');
  const hidden = await lookup('db', 'web1');
  assert.deepEqual(hidden.addresses, [], 'web1 is only on front');
  const ping = await daemon.docker('exec', 'db', 'ping', '-c', '1', '-W', '1', 'web1');
  assert.equal(ping.code, 1);
  await daemon.ok('network', 'disconnect', 'back', 'client');
  assert.deepEqual((await lookup('db', 'client')).addresses, [], 'records go at disconnect');
});

test('the default bridge has no name resolution', async () => {
  await daemon.ok('run', '-dit', '--name', 'plain1', 'busybox', 'sh');
  await daemon.ok('run', '-dit', '--name', 'plain2', 'busybox', 'sh');
  const result = await daemon.docker('exec', 'plain1', 'ping', '-c', '1', '-W', '1', 'plain2');
  assert.notEqual(result.code, 0);
  assert.match(result.stdout + result.stderr, /bad address 'plain2'/);
  assert.match(await daemon.ok('exec', 'plain1', 'cat', '/etc/resolv.conf'), new RegExp(`nameserver ${UPSTREAM.replaceAll('.', '\\.')}`));
});

test('other names are forwarded to the upstream; a dead upstream gets SERVFAIL at once', async () => {
  assert.deepEqual((await lookup('client', 'upstream.test')).addresses, ['10.10.10.10']);
  const missing = await lookup('client', 'nowhere.test');
  assert.match(missing.output, /NXDOMAIN|can't find/);
  await daemon.ok('run', '-dit', '--name', 'lonely', '--network', 'front', '--dns', DEAD_UPSTREAM, 'busybox', 'sh');
  // busybox nslookup waits out its timeout on SERVFAIL; dig, run in the container's namespace, shows the answer.
  const sandboxKey = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'lonely')).trim();
  const dead = await sh('nsenter', [`--net=${sandboxKey}`, 'dig', '+tries=1', '+time=10', '@127.0.0.11', 'upstream.test']);
  assert.match(dead, /status: SERVFAIL/, 'a dead upstream is answered with SERVFAIL, not silence');
  assert.deepEqual((await lookup('lonely', 'web1')).addresses.length, 1, 'local names still answer with --dns set');
});

test("a container's --dns 127.0.0.1 is its own loopback, as with Docker", async () => {
  await daemon.ok('run', '-dit', '--name', 'selfdns', '--network', 'front', '--dns', '127.0.0.1', 'busybox', 'sh');
  const sandboxKey = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'selfdns')).trim();
  // A DNS server on the container's own 127.0.0.1:53, in its namespace: the container's "local resolver".
  const own = await serveDnsIn(sandboxKey, '127.0.0.1');
  try {
    assert.deepEqual((await lookup('selfdns', 'upstream.test')).addresses, ['10.10.10.10'], "forwarded to the container's own loopback");
    assert.deepEqual((await lookup('selfdns', 'web1')).addresses.length, 1, 'container names still answered by skiff');
  } finally {
    own.kill();
  }
});
