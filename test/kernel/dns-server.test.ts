/**
 * The embedded DNS server on a real bridge: two "containers" (netns on veths)
 * ask 127.0.0.11 with dig and busybox nslookup, answered by a resolver made
 * inside each one's namespace (reached through the nft port rewrite of :53), which
 * forwards from that namespace too; an
 * "upstream DNS" is a tiny dns-packet server in a namespace of its own, with
 * two more addresses there: one where nothing listens (refused) and one whose
 * packets are dropped (timeout).
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequire } from 'node:module';
import { assertInWorld, scratchDir, makeNetns, sh, tryRun, leftovers, type NetnsHandle } from '../helpers/world.js';
import { DnsRecords, type DnsEndpoint } from '../../src/dns/records.js';
import { DnsServer } from '../../src/dns/server.js';
import { installResolverRedirect, readResolverRedirect, removeResolverRedirect } from '../../src/firewall/resolver-redirect.js';

assertInWorld();

const GATEWAY = '172.30.0.1';
const UPSTREAM = '10.99.0.2';
const REFUSING_UPSTREAM = '10.99.0.3';
const DROPPING_UPSTREAM = '10.99.0.4';
const BIG_ANSWER_COUNT = 40;

/** The upstream: answers upstream.test, big.test (truncated over UDP, whole over TCP), NXDOMAIN for the rest; logs each TCP question. */
const upstreamScript = `
import dnsPacket from ${JSON.stringify(createRequire(import.meta.url).resolve('dns-packet'))};
import dgram from 'node:dgram';
import net from 'node:net';
const address = process.argv[1];
function answer(message, tcp) {
  const query = dnsPacket.decode(message);
  const question = query.questions[0];
  const base = { type: 'response', id: query.id, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER, questions: query.questions };
  if (question.name === 'upstream.test') return dnsPacket.encode({ ...base, answers: [{ type: 'A', name: question.name, ttl: 60, data: '10.10.10.10' }] });
  if (question.name === 'big.test') {
    if (!tcp) return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE });
    return dnsPacket.encode({ ...base, answers: Array.from({ length: ${BIG_ANSWER_COUNT} }, (_, i) => ({ type: 'A', name: question.name, ttl: 60, data: '10.20.0.' + (i + 1) })) });
  }
  return dnsPacket.encode({ ...base, flags: base.flags | 3 });
}
const udp = dgram.createSocket('udp4');
udp.on('message', (message, remote) => udp.send(answer(message, false), remote.port, remote.address));
const tcp = net.createServer((socket) => {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
      pending = pending.subarray(2 + message.length);
      console.log('tcp ' + dnsPacket.decode(message).questions[0].name);
      const reply = answer(message, true);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(reply.length);
      socket.write(Buffer.concat([length, reply]));
    }
  });
  socket.on('error', () => {});
});
udp.bind(53, address, () => tcp.listen(53, address, () => console.log('ready')));
`;

function containerEndpoint(name: string, ip: string, extra: Partial<DnsEndpoint> = {}): DnsEndpoint {
  return {
    endpointId: `ep-${name}`,
    networkId: 'net-1',
    networkName: 'dnsnet',
    containerId: `${name.charCodeAt(0).toString(16)}`.repeat(32).slice(0, 64),
    containerName: name,
    aliases: [],
    ipv4: ip,
    ...extra,
  };
}

async function attach(ns: NetnsHandle, hostSide: string, address: string): Promise<void> {
  await sh('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.path]);
  await sh('ip', ['link', 'set', hostSide, 'master', 'br-dns', 'up']);
  await ns.exec('ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await ns.exec('ip', ['link', 'set', 'eth0', 'up']);
  await ns.exec('ip', ['route', 'add', 'default', 'via', GATEWAY]);
}

/** Opens the resolver in the "container" and points its 127.0.0.11:53 at it, as the engine does at the first join. */
async function openResolver(server: DnsServer, ns: NetnsHandle, name: string): Promise<void> {
  await installResolverRedirect(ns.path, server.openResolver(ns.path, containerEndpoint(name, '').containerId));
}

describe('embedded DNS server in a world', () => {
  const scratch = scratchDir('skiff-dns-');
  const records = new DnsRecords();
  const server = new DnsServer({ records, upstreams: [UPSTREAM], timeoutMs: 500 });
  let web: NetnsHandle;
  let db: NetnsHandle;
  let upstreamNs: NetnsHandle;
  let upstream: ChildProcess;
  let upstreamLog = '';

  before(async () => {
    await sh('ip', ['link', 'add', 'br-dns', 'type', 'bridge']);
    await sh('ip', ['addr', 'add', `${GATEWAY}/24`, 'dev', 'br-dns']);
    await sh('ip', ['link', 'set', 'br-dns', 'up']);
    web = await makeNetns(scratch.path, 'web');
    db = await makeNetns(scratch.path, 'db');
    await attach(web, 'veth-web', '172.30.0.2');
    await attach(db, 'veth-db', '172.30.0.3');

    upstreamNs = await makeNetns(scratch.path, 'upstream');
    await sh('ip', ['link', 'add', 'veth-up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', upstreamNs.path]);
    await sh('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'veth-up']);
    await sh('ip', ['link', 'set', 'veth-up', 'up']);
    for (const address of [UPSTREAM, REFUSING_UPSTREAM, DROPPING_UPSTREAM]) await upstreamNs.exec('ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await upstreamNs.exec('ip', ['link', 'set', 'eth0', 'up']);
    // The containers forward from their own namespaces: this world routes between the bridge and the upstreams.
    await upstreamNs.exec('ip', ['route', 'add', 'default', 'via', '10.99.0.1']);
    await sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await sh(
      'nsenter',
      [`--net=${upstreamNs.path}`, '--', 'nft', '-f', '-'],
      `table ip blackhole {\n  chain input {\n    type filter hook input priority 0;\n    ip daddr ${DROPPING_UPSTREAM} drop\n  }\n}\n`,
    );

    upstream = spawn('nsenter', [`--net=${upstreamNs.path}`, '--', process.execPath, '--input-type=module', '-e', upstreamScript, UPSTREAM], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      upstream.stdout!.on('data', (chunk: Buffer) => {
        upstreamLog += chunk.toString();
        if (upstreamLog.includes('ready')) resolve();
      });
      upstream.on('exit', (code) => reject(new Error(`upstream DNS exited with ${code}`)));
    });

    records.upsert(containerEndpoint('web', '172.30.0.2', { hostname: 'webhost', aliases: ['frontend'] }));
    records.upsert(containerEndpoint('db', '172.30.0.3', { aliases: ['frontend', 'store'] }));
    // A listener on the gateway too (the kind found by source address), for the garbage sent from outside.
    await server.addListener('net-1', GATEWAY);
    await server.addListener('net-1', GATEWAY);
    await openResolver(server, web, 'web');
    await openResolver(server, db, 'db');
  });

  after(async () => {
    await server.close();
    upstream?.kill();
    await removeResolverRedirect(web.path).catch(() => undefined);
    for (const ns of [web, db, upstreamNs]) await ns?.remove();
    // A veth goes with its namespace only once the kernel has freed it, which lags under load: delete them outright.
    for (const link of ['br-dns', 'veth-up', 'veth-web', 'veth-db']) await tryRun('ip', ['link', 'del', link]);
    assert.deepEqual(await leftovers(scratch.path), []);
    scratch.remove();
  });

  const dig = (ns: NetnsHandle, ...args: string[]) => ns.tryExec('dig', ['@127.0.0.11', '+time=3', '+tries=1', ...args]);
  const digShort = async (ns: NetnsHandle, ...args: string[]): Promise<string[]> => {
    const result = await dig(ns, '+short', ...args);
    return result.stdout
      .split('\n')
      .filter((line) => line !== '')
      .sort();
  };

  it('answers names, aliases, short ids, hostnames and name.network through 127.0.0.11, over UDP and TCP', async () => {
    assert.deepEqual(await digShort(web, 'db'), ['172.30.0.3']);
    assert.deepEqual(await digShort(web, '+tcp', 'DB.dnsnet'), ['172.30.0.3']);
    assert.deepEqual(await digShort(db, 'store'), ['172.30.0.3']);
    assert.deepEqual(await digShort(db, 'webhost.'), ['172.30.0.2']);
    assert.deepEqual(await digShort(db, containerEndpoint('web', '').containerId.slice(0, 12)), ['172.30.0.2']);
    assert.deepEqual(await digShort(db, 'frontend'), ['172.30.0.2', '172.30.0.3']);
    assert.deepEqual(await digShort(web, '-x', '172.30.0.3'), ['db.dnsnet.']);
  });

  it('answers busybox nslookup', async () => {
    const result = await web.tryExec('/bin/busybox', ['nslookup', 'db', '127.0.0.11']);
    assert.match(result.stdout, /172\.30\.0\.3/, result.stdout + result.stderr);
  });

  it('turns the order of several addresses between queries', async () => {
    // Two addresses: each answer's order is a coin toss, so six answers were all alike one run in 32; up to 24 make that ~1 in 8 million.
    const orders = new Set<string>();
    for (let i = 0; i < 24 && orders.size < 2; i++) orders.add((await dig(web, '+short', 'frontend')).stdout);
    assert.ok(orders.size > 1, [...orders].join('|'));
  });

  it('forwards other names to the upstream over UDP and over TCP, keeping the query id', async () => {
    assert.deepEqual(await digShort(web, 'upstream.test'), ['10.10.10.10']);
    assert.deepEqual(await digShort(web, '+tcp', 'upstream.test'), ['10.10.10.10']);
    assert.match(upstreamLog, /tcp upstream\.test/);
    const missing = await dig(web, 'nothing.test');
    assert.match(missing.stdout, /status: NXDOMAIN/);
  });

  it('forwards over TCP first thing, before any UDP question warmed anything up', async () => {
    // Past the second for which the host's route to an upstream is remembered: the TCP exchange waits for that check.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.deepEqual(await digShort(db, '+tcp', 'upstream.test'), ['10.10.10.10']);
    assert.deepEqual(await digShort(web, '+tcp', 'upstream.test'), ['10.10.10.10'], 'and the server is still there');
  });

  it('asks again over TCP when the upstream truncates a UDP answer', async () => {
    const lines = await digShort(web, '+ignore', '+bufsize=4096', 'big.test');
    assert.equal(lines.length, BIG_ANSWER_COUNT);
    assert.match(upstreamLog, /tcp big\.test/);
    const small = await dig(web, '+ignore', '+noedns', 'big.test');
    assert.match(small.stdout, /flags:[a-z ]* tc[ ;]/, 'past 512 bytes the client is told to use TCP');
  });

  it("uses the container's own upstreams and gives SERVFAIL quickly when they refuse or stay silent", async () => {
    records.upsert(containerEndpoint('db', '172.30.0.3', { aliases: ['frontend', 'store'], upstreams: [REFUSING_UPSTREAM] }));
    let started = Date.now();
    const refused = await dig(db, 'upstream.test');
    assert.match(refused.stdout, /status: SERVFAIL/);
    assert.ok(Date.now() - started < 1_500, `refused took ${Date.now() - started} ms`);
    assert.deepEqual(await digShort(db, 'web'), ['172.30.0.2'], 'local names still answer');

    records.upsert(containerEndpoint('db', '172.30.0.3', { aliases: ['frontend', 'store'], upstreams: [DROPPING_UPSTREAM, UPSTREAM] }));
    assert.deepEqual(await digShort(db, 'upstream.test'), ['10.10.10.10'], 'the next upstream after a silent one');
    records.upsert(containerEndpoint('db', '172.30.0.3', { aliases: ['frontend', 'store'], upstreams: [DROPPING_UPSTREAM] }));
    started = Date.now();
    const silent = await dig(db, 'upstream.test');
    assert.match(silent.stdout, /status: SERVFAIL/);
    assert.ok(Date.now() - started < 2_000, `silent took ${Date.now() - started} ms`);
    records.upsert(containerEndpoint('db', '172.30.0.3', { aliases: ['frontend', 'store'] }));
  });

  it('survives garbage and keeps answering', async () => {
    const socket = dgram.createSocket('udp4');
    for (const garbage of [Buffer.alloc(0), Buffer.from([1]), Buffer.alloc(12, 0xff), Buffer.from('definitely not dns, but long enough to have a header')]) {
      await new Promise<void>((resolve) => socket.send(garbage, 53, GATEWAY, () => resolve()));
    }
    socket.close();
    // A frame split across writes, one of garbage, then a connection left open half-way through a frame.
    const connection = net.connect(53, GATEWAY);
    await new Promise<void>((resolve) => connection.on('connect', () => resolve()));
    connection.write(Buffer.from([0, 20, 1, 2]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    connection.write(Buffer.concat([Buffer.alloc(18, 0xee), Buffer.from([0, 3, 1, 2, 3, 0, 200, 9])]));
    assert.deepEqual(await digShort(web, 'db'), ['172.30.0.3']);
    assert.deepEqual(await digShort(web, '+tcp', 'db'), ['172.30.0.3']);
    connection.destroy();
  });

  it('forgets removed records: the name goes upstream (NXDOMAIN there)', async () => {
    records.remove('ep-db');
    const gone = await dig(web, 'db');
    assert.match(gone.stdout, /status: NXDOMAIN/);
    records.upsert(containerEndpoint('db', '172.30.0.3', { aliases: ['frontend', 'store'] }));
    assert.deepEqual(await digShort(web, 'db'), ['172.30.0.3']);
  });

  it('re-points the redirect when installed again, reads it back, and removes it', async () => {
    const ports = server.resolverPorts(web.path)!;
    await installResolverRedirect(web.path, ports);
    const table = await web.exec('nft', ['list', 'table', 'ip', 'skiff_dns']);
    assert.equal(table.match(/dport set|sport set/g)?.length, 4);
    assert.deepEqual(await readResolverRedirect(web.path), ports);
    assert.deepEqual(await digShort(web, 'db'), ['172.30.0.3']);
    await removeResolverRedirect(web.path);
    const emptied = await web.exec('nft', ['list', 'table', 'ip', 'skiff_dns']);
    assert.doesNotMatch(emptied, /port set/, 'no rule redirects 127.0.0.11 any more');
    assert.equal(await readResolverRedirect(web.path), undefined);
    await removeResolverRedirect(web.path);
    await installResolverRedirect(web.path, ports);
  });

  it('stops answering in a namespace once its resolver is closed, and answers again once reopened on the same ports', async () => {
    const ports = server.resolverPorts(web.path)!;
    await server.closeResolver(web.path);
    const result = await dig(web, 'db');
    assert.doesNotMatch(result.stdout, /172\.30\.0\.3/);
    assert.deepEqual(await digShort(db, 'web'), ['172.30.0.2'], "the other namespace's resolver is untouched");
    assert.deepEqual(server.openResolver(web.path, containerEndpoint('web', '').containerId, ports), ports, 'a restarted daemon takes its ports back');
    assert.deepEqual(await digShort(web, 'db'), ['172.30.0.3']);
  });

  it('stops answering on a network once its listener is removed', async () => {
    await server.removeListener('net-1');
    const silent = await tryRun('dig', [`@${GATEWAY}`, '+time=1', '+tries=1', 'db']);
    assert.doesNotMatch(silent.stdout, /172\.30\.0\.3/);
    await server.addListener('net-1', GATEWAY);
    assert.match((await tryRun('dig', [`@${GATEWAY}`, '+time=3', '+tries=1', 'db'])).stdout, /status: NXDOMAIN/, 'a stranger asking is forwarded');
  });
});
