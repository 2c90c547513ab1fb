/**
 * The relay thread's path (kernel/native/dns-relay.c) through a container
 * resolver opened in this world's own namespace: forwarded queries sent
 * and their answers sent by it straight to the asker with the asker's id, failover past a silent upstream, SERVFAIL when the only one
 * stays silent, an answer that is not final taken only from the last
 * upstream, nothing left open once the resolver is closed, and queries that
 * meet a full socket buffer (an upstream behind a slow link) sent once the
 * socket takes them again, none lost. Upstreams are tiny servers on this
 * world's loopback, and one in a namespace of the test's own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import dnsPacket from 'dns-packet';
import { assertInWorld, leftovers, makeLinkedHost, scratchDir, sh, type NetnsHandle } from '../helpers/world.js';
import { serveDnsIn } from '../helpers/upstream.js';
import { DnsRecords } from '../../src/dns/records.js';
import { DnsServer, RESOLVER_ADDRESS } from '../../src/dns/server.js';

assertInWorld();

const OWN_NETNS = '/proc/self/ns/net';
const UPSTREAM_HOST = '127.0.0.1';
const SILENT = `${UPSTREAM_HOST}:5400`;
const ANSWERING = `${UPSTREAM_HOST}:5401`;
/** Answers NXDOMAIN without AA: not the last word while another upstream is left to ask. */
const NX = `${UPSTREAM_HOST}:5402`;

function ask(port: number, id: number, name: string, deadlineMs = 5_000): Promise<{ answer: dnsPacket.Packet; from: number }> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer for ${name}`));
    }, deadlineMs);
    socket.on('message', (message, remote) => {
      clearTimeout(timer);
      socket.close();
      resolve({ answer: dnsPacket.decode(message), from: remote.port });
    });
    socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, RESOLVER_ADDRESS);
  });
}

function upstream(port: number, rcode: 'NOERROR' | 'NXDOMAIN'): dgram.Socket {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    const query = dnsPacket.decode(message);
    const name = query.questions![0]!.name;
    const answers = rcode === 'NOERROR' ? [{ type: 'A' as const, name, data: `10.9.0.${name.length}` }] : [];
    const flags = dnsPacket.RECURSION_AVAILABLE | (rcode === 'NXDOMAIN' ? 3 : 0);
    // A little later, so that queries overlap.
    setTimeout(
      () => socket.send(dnsPacket.encode({ type: 'response', id: query.id, flags, questions: query.questions, answers }), remote.port, remote.address),
      10,
    );
  });
  socket.bind(port, UPSTREAM_HOST);
  return socket;
}

const rcodeOf = (packet: dnsPacket.Packet) => (packet as { rcode?: string }).rcode;
const addressesOf = (packet: dnsPacket.Packet) => (packet.answers ?? []).map((record) => (record as { data?: unknown }).data);

describe('the relay thread behind a container resolver', () => {
  const upstreams = [dgram.createSocket('udp4'), upstream(5401, 'NOERROR'), upstream(5402, 'NXDOMAIN')];
  const server = new DnsServer({ records: new DnsRecords(), upstreams: [ANSWERING], timeoutMs: 300 });
  let port = 0;

  before(async () => {
    await new Promise<void>((resolve) => upstreams[0]!.bind(5400, UPSTREAM_HOST, () => resolve()));
    port = server.openResolver(OWN_NETNS, 'c0ffee').udp;
  });

  after(async () => {
    await server.close();
    for (const socket of upstreams) socket.close();
  });

  it("answers forwarded queries from the resolver's port with each asker's own id, also when they share it", async () => {
    server.setUpstreams([ANSWERING]);
    const names = ['a.relay.test', 'bb.relay.test', 'ccc.relay.test', 'dddd.relay.test'];
    const replies = await Promise.all(names.map((name) => ask(port, 4242, name)));
    for (const [index, { answer, from }] of replies.entries()) {
      assert.equal(from, port);
      assert.equal(answer.id, 4242);
      assert.equal(answer.questions?.[0]?.name, names[index]);
      assert.deepEqual(addressesOf(answer), [`10.9.0.${names[index]!.length}`]);
    }
  });

  it('asks the next upstream when the first stays silent', async () => {
    server.setUpstreams([SILENT, ANSWERING]);
    const { answer } = await ask(port, 17, 'failover.relay.test');
    assert.equal(answer.id, 17);
    assert.equal(rcodeOf(answer), 'NOERROR');
    assert.deepEqual(addressesOf(answer), ['10.9.0.19']);
  });

  it('answers SERVFAIL with the asker’s id when the only upstream stays silent', async () => {
    server.setUpstreams([SILENT]);
    const { answer } = await ask(port, 23, 'silent.relay.test');
    assert.equal(answer.id, 23);
    assert.equal(rcodeOf(answer), 'SERVFAIL');
  });

  it('takes an answer that is not final only from the last upstream', async () => {
    server.setUpstreams([NX, ANSWERING]);
    assert.equal(rcodeOf((await ask(port, 31, 'second.relay.test')).answer), 'NOERROR');
    server.setUpstreams([ANSWERING, NX]);
    assert.equal(rcodeOf((await ask(port, 32, 'first.relay.test')).answer), 'NOERROR');
    server.setUpstreams([NX]);
    const { answer } = await ask(port, 33, 'only.relay.test');
    assert.equal(answer.id, 33);
    assert.equal(rcodeOf(answer), 'NXDOMAIN');
  });

  it('leaves no descriptor open once a resolver is closed', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const otherServer = new DnsServer({ records: new DnsRecords(), upstreams: [ANSWERING], timeoutMs: 300 });
    const otherPort = otherServer.openResolver(OWN_NETNS, 'beef').udp;
    assert.equal((await ask(otherPort, 5, 'closing.relay.test')).answer.id, 5);
    await otherServer.close();
    // The relay thread closes its own descriptors when it next runs: wait for it, without judging how long it takes.
    for (let tries = 0; tries < 100 && openFds() > before; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(openFds(), before);
  });
});

/** One of this world's UDP counters (SndbufErrors: sends the kernel refused for a full socket buffer, EAGAIN). */
function udpCounter(name: string): number {
  const [names, values] = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('Udp:'));
  return Number(values!.split(/\s+/)[names!.split(/\s+/).indexOf(name)]);
}

describe('the relay thread with an upstream behind a slow link', () => {
  const scratch = scratchDir('skiff-dns-relay-');
  const server = new DnsServer({ records: new DnsRecords(), upstreams: ['10.97.0.2'], timeoutMs: 20_000 });
  const QUERIES = 800;
  let host: NetnsHandle;
  let upstreamDns: ChildProcess;
  let port = 0;

  before(async () => {
    host = await makeLinkedHost(scratch.path, 'slowup', '10.97.0.1', '10.97.0.2');
    upstreamDns = await serveDnsIn(host.path, '10.97.0.2');
    // Queued packets stay charged to the sending socket: at this rate its buffer fills long before the queue does.
    await sh('tc', ['qdisc', 'add', 'dev', 'to-slowup', 'root', 'tbf', 'rate', '512kbit', 'burst', '1600', 'limit', '1000000']);
    port = server.openResolver(OWN_NETNS, 'slow').udp;
  });

  after(async () => {
    await server.close();
    upstreamDns?.kill();
    await host?.remove();
    assert.deepEqual(await leftovers(scratch.path), []);
    scratch.remove();
  });

  it('sends the queries that met a full socket buffer once it takes them again: every one answered, none SERVFAIL', async () => {
    const errorsBefore = udpCounter('SndbufErrors');
    const asked: Promise<{ answer: dnsPacket.Packet }>[] = [];
    for (let index = 0; index < QUERIES; index++) {
      asked.push(ask(port, index, `q${index}.slow.test`, 60_000));
      // In waves the resolver's own socket takes whole: only the upstream's is to fill.
      if (index % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const replies = await Promise.all(asked);
    assert.ok(udpCounter('SndbufErrors') > errorsBefore, 'the upstream socket was full at least once, as intended');
    for (const [index, { answer }] of replies.entries()) {
      assert.equal(answer.id, index);
      assert.equal(rcodeOf(answer), 'NXDOMAIN');
    }
  });
});
