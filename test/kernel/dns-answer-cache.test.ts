/**
 * The embedded DNS server's answers kept as bytes (dns/answer-cache.ts):
 * asked again, a question gets the answer of the records as they are now,
 * with its own id and address order, and only for the container that asked.
 * The server listens on the world's loopback; "containers" are source
 * addresses on it (127.0.0.2 and 127.0.0.3 are known, 127.0.0.9 is not).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Packet } from 'dns-packet';
import { assertInWorld } from '../helpers/world.js';
import { DnsRecords } from '../../src/dns/records.js';
import { aQuery, dnsEndpoint } from '../helpers/dns-records.js';
import { DnsServer } from '../../src/dns/server.js';

assertInWorld();

const LISTEN = '127.0.0.1';

/** One UDP question from source address `from`; the decoded answer. */
function askUdp(from: string, id: number, name: string): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no answer to ${name} from ${from}`));
    }, 3_000);
    socket.on('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(dnsPacket.decode(message));
    });
    socket.bind(0, from, () => socket.send(aQuery(id, name), 53, LISTEN));
  });
}

/** The same over TCP. */
function askTcp(from: string, id: number, name: string): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: LISTEN, port: 53, localAddress: from });
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        socket.destroy();
        resolve(dnsPacket.decode(pending.subarray(2, 2 + pending.readUInt16BE(0))));
      }
    });
    socket.on('error', reject);
    const message = aQuery(id, name);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(message.length);
    socket.write(Buffer.concat([length, message]));
  });
}

const rcodeOf = (answer: Packet): number => (answer.flags ?? 0) & 0x0f;
const SERVFAIL = 2;
const addressesOf = (answer: Packet): string[] => (answer.answers ?? []).map((record) => (record as { data: string }).data);

describe('embedded DNS: answers asked again', () => {
  const records = new DnsRecords();
  const server = new DnsServer({ records, upstreams: [], timeoutMs: 300 });

  before(async () => {
    records.upsert(dnsEndpoint('client', '127.0.0.2'));
    records.upsert(dnsEndpoint('web', '10.1.0.5', { aliases: ['app'] }));
    records.upsert(dnsEndpoint('other', '127.0.0.3', { networkId: 'back' }));
    await server.addListener('front', LISTEN);
  });

  after(async () => {
    await server.close();
  });

  it('answers each asking with its own id and the same records', async () => {
    for (const id of [1, 2, 0xfffe]) {
      const answer = await askUdp('127.0.0.2', id, 'web');
      assert.equal(answer.id, id);
      assert.deepEqual(addressesOf(answer), ['10.1.0.5']);
    }
    const overTcp = await askTcp('127.0.0.2', 77, 'web');
    assert.equal(overTcp.id, 77);
    assert.deepEqual(addressesOf(overTcp), ['10.1.0.5']);
  });

  it('answers from the records as they are now: a moved address, a second holder, a removed name', async () => {
    assert.deepEqual(addressesOf(await askUdp('127.0.0.2', 10, 'app')), ['10.1.0.5']);
    records.upsert(dnsEndpoint('web', '10.1.0.6', { aliases: ['app'] }));
    assert.deepEqual(addressesOf(await askUdp('127.0.0.2', 11, 'app')), ['10.1.0.6'], 'the new address, not the kept one');
    records.upsert(dnsEndpoint('web2', '10.1.0.7', { aliases: ['app'] }));
    assert.deepEqual(addressesOf(await askUdp('127.0.0.2', 12, 'app')).sort(), ['10.1.0.6', '10.1.0.7']);
    records.remove('ep-web');
    records.remove('ep-web2');
    const gone = await askUdp('127.0.0.2', 13, 'app');
    assert.equal(rcodeOf(gone), SERVFAIL, 'an unknown name is forwarded, and with no upstream fails');
    assert.deepEqual(addressesOf(gone), []);
  });

  it('gives answers with several addresses an order of their own, over every address', async () => {
    records.upsert(dnsEndpoint('a1', '10.1.0.21', { aliases: ['pool'] }));
    records.upsert(dnsEndpoint('a2', '10.1.0.22', { aliases: ['pool'] }));
    records.upsert(dnsEndpoint('a3', '10.1.0.23', { aliases: ['pool'] }));
    const firsts = new Set<string>();
    // Each answer is shuffled anew (Docker's shuffleAddr): over 60 answers every address comes first
    // (a miss has a chance of 3 × (2/3)^60, about 10^-10).
    for (let id = 100; id < 160; id++) {
      const addresses = addressesOf(await askUdp('127.0.0.2', id, 'pool'));
      assert.deepEqual([...addresses].sort(), ['10.1.0.21', '10.1.0.22', '10.1.0.23']);
      firsts.add(addresses[0]!);
    }
    assert.equal(firsts.size, 3, 'every address comes first in some answer');
  });

  it('answers another asker for itself: a container on another network, a stranger', async () => {
    assert.deepEqual(addressesOf(await askUdp('127.0.0.2', 20, 'client')), ['127.0.0.2']);
    const elsewhere = await askUdp('127.0.0.3', 21, 'client');
    assert.equal(rcodeOf(elsewhere), SERVFAIL, 'not on its network: forwarded');
    const stranger = await askUdp('127.0.0.9', 22, 'client');
    assert.equal(rcodeOf(stranger), SERVFAIL);
    assert.deepEqual(addressesOf(await askUdp('127.0.0.2', 23, 'client')), ['127.0.0.2']);
  });
});
