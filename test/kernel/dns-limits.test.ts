/**
 * The server's limits, on this world's loopback: the cap on forwarded queries
 * in flight (REFUSED past it), SERVFAIL when the only upstream never answers,
 * idle TCP clients closed, a stranger's query forwarded with the query id kept.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { assertInWorld } from '../helpers/world.js';
import { DnsRecords } from '../../src/dns/records.js';
import { DnsServer } from '../../src/dns/server.js';

assertInWorld();

const SERVER = '127.0.0.1';
const SILENT_PORT = 5300;
const ANSWERING_PORT = 5301;

function ask(id: number, name: string): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer for ${name}`));
    }, 3_000);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(dnsPacket.decode(message));
    });
    socket.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), 53, SERVER);
  });
}

describe('embedded DNS server limits', () => {
  const silent = dgram.createSocket('udp4');
  const answering = dgram.createSocket('udp4');
  const server = new DnsServer({ records: new DnsRecords(), upstreams: [`${SERVER}:${SILENT_PORT}`], timeoutMs: 400, maxInFlight: 2, tcpIdleMs: 300 });

  before(async () => {
    await new Promise<void>((resolve) => silent.bind(SILENT_PORT, SERVER, () => resolve()));
    answering.on('message', (message, remote) => {
      const query = dnsPacket.decode(message);
      answering.send(
        dnsPacket.encode({
          type: 'response',
          id: query.id,
          flags: dnsPacket.RECURSION_AVAILABLE,
          questions: query.questions,
          answers: [{ type: 'A', name: query.questions![0]!.name, data: '10.1.2.3' }],
        }),
        remote.port,
        remote.address,
      );
    });
    await new Promise<void>((resolve) => answering.bind(ANSWERING_PORT, SERVER, () => resolve()));
    await server.addListener('lo-net', SERVER);
  });

  after(async () => {
    await server.close();
    silent.close();
    answering.close();
  });

  it('refuses forwarded queries past the in-flight cap, then SERVFAILs the ones that timed out', async () => {
    const started = Date.now();
    const replies = await Promise.all([1, 2, 3].map((id) => ask(id, `slow${id}.test`)));
    const rcodes = replies.map((reply) => [reply.id, (reply as { rcode?: string }).rcode]);
    assert.deepEqual(rcodes, [
      [1, 'SERVFAIL'],
      [2, 'SERVFAIL'],
      [3, 'REFUSED'],
    ]);
    assert.ok(Date.now() - started < 1_500);
  });

  it("forwards to the asking container's own upstreams, not the daemon's, keeping the query id", async () => {
    const records = new DnsRecords();
    records.upsert({
      endpointId: 'e',
      networkId: 'n',
      networkName: 'lo',
      containerId: 'c'.repeat(64),
      containerName: 'me',
      aliases: [],
      ipv4: SERVER,
      upstreams: [`${SERVER}:${ANSWERING_PORT}`],
    });
    const own = new DnsServer({ records, upstreams: [`${SERVER}:${SILENT_PORT}`], timeoutMs: 400, port: 5353 });
    await own.addListener('lo-net', SERVER);
    try {
      const reply = await new Promise<dnsPacket.Packet>((resolve) => {
        const socket = dgram.createSocket('udp4');
        socket.on('message', (message) => {
          socket.close();
          resolve(dnsPacket.decode(message));
        });
        socket.send(dnsPacket.encode({ type: 'query', id: 4242, questions: [{ type: 'A', name: 'outside.test' }] }), 5353, SERVER);
      });
      assert.equal(reply.id, 4242);
      assert.deepEqual(
        reply.answers?.map((answer) => (answer as { data: string }).data),
        ['10.1.2.3'],
      );
    } finally {
      await own.close();
    }
  });

  it('closes idle TCP connections', async () => {
    const socket = net.connect(53, SERVER);
    const started = Date.now();
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    assert.ok(Date.now() - started < 2_000);
  });

  it('fails clearly when the address cannot be bound, and adding the same listener twice is a no-op', async () => {
    await server.addListener('lo-net', SERVER);
    const other = new DnsServer({ records: new DnsRecords(), upstreams: [] });
    await assert.rejects(other.addListener('x', SERVER), /error in opening name server socket 127\.0\.0\.1:53/);
    await other.close();
  });

  it('survives a listener removed while one of its queries is out upstream', async () => {
    const socket = dgram.createSocket('udp4');
    socket.send(dnsPacket.encode({ type: 'query', id: 77, questions: [{ type: 'A', name: 'late.test' }] }), 53, SERVER);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.removeListener('lo-net');
    await new Promise((resolve) => setTimeout(resolve, 600));
    socket.close();
    await server.addListener('lo-net', SERVER);
    assert.equal(((await ask(78, 'again.test')) as { rcode?: string }).rcode, 'SERVFAIL');
  });
});
