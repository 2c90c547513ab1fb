/**
 * A container resolver's UDP fast path (kernel/native/dns-fastpath.c),
 * through a resolver opened in this world's own namespace on 127.0.0.11:
 * a local answer asked again is sent by the addon with the asker's id and
 * the bytes JavaScript decided, without reaching JavaScript; a change of the
 * records is answered at once; answers with several addresses still reach
 * JavaScript and get an order of their own; garbage is survived; a closed
 * resolver lets go of its socket. Whether a query reached JavaScript is
 * read from the server's one entry for every query it decides
 * (AnswerCache.keyOf).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import { assertInWorld } from '../helpers/world.js';
import { AnswerCache } from '../../src/dns/answer-cache.js';
import { DnsRecords } from '../../src/dns/records.js';
import { aQuery, dnsEndpoint } from '../helpers/dns-records.js';
import { DnsServer, RESOLVER_ADDRESS } from '../../src/dns/server.js';

assertInWorld();

const OWN_NETNS = '/proc/self/ns/net';

/** Sends datagram to the resolver; its reply's bytes and source port. */
function exchange(port: number, datagram: Buffer): Promise<{ reply: Buffer; from: number }> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no answer'));
    }, 5_000);
    socket.on('message', (reply, remote) => {
      clearTimeout(timer);
      socket.close();
      resolve({ reply, from: remote.port });
    });
    socket.send(datagram, port, RESOLVER_ADDRESS);
  });
}

const addressesOf = (reply: Buffer): string[] => (dnsPacket.decode(reply).answers ?? []).map((record) => (record as { data: string }).data);

/** Counts the queries that reach JavaScript. */
function countDecided(): { readonly count: number; restore(): void } {
  const keyOf = AnswerCache.keyOf.bind(AnswerCache);
  const counter = {
    count: 0,
    restore: () => {
      AnswerCache.keyOf = keyOf;
    },
  };
  AnswerCache.keyOf = (...args) => {
    counter.count += 1;
    return keyOf(...args);
  };
  return counter;
}

describe("a container resolver's UDP fast path", () => {
  const records = new DnsRecords();
  const server = new DnsServer({ records, upstreams: [], timeoutMs: 300 });
  const client = dnsEndpoint('client', '10.1.0.2');
  let port = 0;
  let decided: ReturnType<typeof countDecided>;

  before(() => {
    records.upsert(client);
    records.upsert(dnsEndpoint('web', '10.1.0.5', { aliases: ['app'] }));
    port = server.openResolver(OWN_NETNS, client.containerId).udp;
    decided = countDecided();
  });

  after(async () => {
    decided.restore();
    await server.close();
  });

  it('answers a local name asked again without JavaScript, with the bytes decided and each asker’s own id', async () => {
    const first = await exchange(port, aQuery(1, 'web'));
    assert.equal(first.from, port);
    assert.deepEqual(addressesOf(first.reply), ['10.1.0.5']);
    const reached = decided.count;
    for (const id of [2, 0xfffe, 1]) {
      const again = await exchange(port, aQuery(id, 'web'));
      assert.equal(again.from, port);
      assert.equal(again.reply.readUInt16BE(0), id);
      assert.deepEqual(again.reply.subarray(2), first.reply.subarray(2), 'the same bytes after the id');
    }
    assert.equal(decided.count, reached, 'answered by the addon alone');
    await exchange(port, aQuery(3, 'app'));
    assert.equal(decided.count, reached + 1, 'another question is decided in JavaScript');
  });

  it('answers from the records as they are now: a moved address, a second holder, a removed name', async () => {
    await exchange(port, aQuery(10, 'app'));
    records.upsert(dnsEndpoint('web', '10.1.0.6', { aliases: ['app'] }));
    assert.deepEqual(addressesOf((await exchange(port, aQuery(11, 'app'))).reply), ['10.1.0.6'], 'the new address, not the kept one');
    records.upsert(dnsEndpoint('web2', '10.1.0.7', { aliases: ['app'] }));
    assert.deepEqual(addressesOf((await exchange(port, aQuery(12, 'app'))).reply).sort(), ['10.1.0.6', '10.1.0.7']);
    records.remove('ep-web');
    records.remove('ep-web2');
    assert.deepEqual(addressesOf((await exchange(port, aQuery(13, 'app'))).reply), [], 'gone: forwarded, and with no upstream a failure');
  });

  it('leaves answers with several addresses to JavaScript, which gives each its own order', async () => {
    for (const [index, address] of ['10.1.0.21', '10.1.0.22', '10.1.0.23'].entries())
      records.upsert(dnsEndpoint(`pool${index}`, address, { aliases: ['pool'] }));
    const reached = decided.count;
    const firsts = new Set<string>();
    // Over 60 answers every address comes first (a miss has a chance of 3 × (2/3)^60, about 10^-10).
    for (let id = 100; id < 160; id++) {
      const addresses = addressesOf((await exchange(port, aQuery(id, 'pool'))).reply);
      assert.deepEqual([...addresses].sort(), ['10.1.0.21', '10.1.0.22', '10.1.0.23']);
      firsts.add(addresses[0]!);
    }
    assert.equal(firsts.size, 3, 'every address comes first in some answer');
    assert.equal(decided.count, reached + 60, 'every one decided in JavaScript');
  });

  it('survives garbage and still answers: empty, short, header only, a response, random bytes, too big', async () => {
    const response = dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'web' }] });
    const garbage = [
      Buffer.alloc(0),
      Buffer.from([1]),
      Buffer.alloc(12),
      response,
      Buffer.from(Array.from({ length: 300 }, (_, at) => (at * 97) % 256)),
      Buffer.alloc(9_000, 0xff),
    ];
    const socket = dgram.createSocket('udp4');
    for (const datagram of garbage) await new Promise<void>((resolve) => socket.send(datagram, port, RESOLVER_ADDRESS, () => resolve()));
    socket.close();
    assert.deepEqual(addressesOf((await exchange(port, aQuery(200, 'client'))).reply), ['10.1.0.2']);
    assert.deepEqual(addressesOf((await exchange(port, aQuery(201, 'client'))).reply), ['10.1.0.2']);
  });

  it('lets go of its socket when closed: no descriptor left, its port free again', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const otherServer = new DnsServer({ records, upstreams: [], timeoutMs: 300 });
    const ports = otherServer.openResolver(OWN_NETNS, client.containerId);
    await exchange(ports.udp, aQuery(300, 'client'));
    await exchange(ports.udp, aQuery(301, 'client'));
    await otherServer.close();
    const stray = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => stray.send(aQuery(302, 'client'), ports.udp, RESOLVER_ADDRESS, () => resolve()));
    stray.close();
    // The event loop and the relay thread let go of their descriptors when they next run: wait, without judging how long it takes.
    for (let tries = 0; tries < 100 && openFds() > before; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(openFds(), before);
    const again = new DnsServer({ records, upstreams: [], timeoutMs: 300 });
    assert.deepEqual(again.openResolver(OWN_NETNS, client.containerId, ports), ports, 'the same ports can be bound again');
    assert.deepEqual(addressesOf((await exchange(ports.udp, aQuery(303, 'client'))).reply), ['10.1.0.2']);
    await again.close();
  });
});
