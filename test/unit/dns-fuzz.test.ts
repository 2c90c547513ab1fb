/**
 * Random and mutated packets through the server's parse/answer path: whatever
 * arrives, it decides without throwing. Bounded and seeded, so a failure
 * replays.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { RecordType } from 'dns-packet';
import { DnsRecords } from '../../src/dns/records.js';
import { answerQuery, encodeResponse, maxUdpSize, parseQuery } from '../../src/dns/answer.js';
import { seededRandom as random } from '../helpers/random.js';

const records = new DnsRecords();
records.upsert({
  endpointId: 'e1',
  networkId: 'n1',
  networkName: 'front',
  containerId: 'a'.repeat(64),
  containerName: 'web',
  aliases: ['app'],
  ipv4: '10.0.0.2',
  ipv6: 'fd00::2',
});
records.upsert({
  endpointId: 'e2',
  networkId: 'n1',
  networkName: 'front',
  containerId: 'b'.repeat(64),
  containerName: 'db',
  aliases: ['app'],
  ipv4: '10.0.0.3',
});

const names = ['web', 'app', 'WEB.front', 'aaaaaaaaaaaa', '2.0.0.10.in-addr.arpa', 'example.com', 'x'.repeat(63), 'a.b.c.d.e.f'];
const types: RecordType[] = ['A', 'AAAA', 'PTR', 'MX', 'TXT', 'SRV', 'CNAME'];

/** What the server does with one message, minus the sockets. */
function decide(message: Buffer, rotation: number): void {
  const parsed = parseQuery(message);
  if (!('query' in parsed)) return;
  const decision = answerQuery(parsed.query, records.askerOf(rotation % 2 === 0 ? '10.0.0.2' : '10.9.9.9'), records);
  if (!decision.forward) encodeResponse(message, decision.response, maxUdpSize(parsed.query), true);
}

it('never throws on random bytes or mutated queries', () => {
  const next = random(0x5eed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const valid = names.flatMap((name) =>
    types.map((type) =>
      dnsPacket.encode({
        type: 'query',
        id: 1,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name }],
        additionals: next() < 0.5 ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as never],
      }),
    ),
  );
  const started = Date.now();
  let decided = 0;
  for (let round = 0; round < 5_000 && Date.now() - started < 20_000; round++) {
    let message: Buffer;
    const kind = round % 3;
    if (kind === 0) {
      message = Buffer.from(Array.from({ length: Math.floor(next() * 80) }, () => Math.floor(next() * 256)));
    } else {
      message = Buffer.from(pick(valid));
      const flips = 1 + Math.floor(next() * 6);
      for (let flip = 0; flip < flips; flip++) message[Math.floor(next() * message.length)] = Math.floor(next() * 256);
      if (kind === 2) message = message.subarray(0, Math.floor(next() * message.length));
    }
    assert.doesNotThrow(() => decide(message, round), `packet ${message.toString('hex')}`);
    decided += 1;
  }
  assert.ok(decided > 1_000);
});
