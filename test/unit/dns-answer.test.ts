import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { Packet, RecordType } from 'dns-packet';
import { DnsRecords, type DnsEndpoint } from '../../src/dns/records.js';
import { answerQuery, encodeResponse, encodeWithin, maxUdpSize, parseQuery, RESPONSE_TTL, shuffle, type Decision } from '../../src/dns/answer.js';

const id = (prefix: string): string => prefix.padEnd(64, '0');

function endpoint(overrides: Partial<DnsEndpoint> & Pick<DnsEndpoint, 'endpointId' | 'containerId' | 'containerName'>): DnsEndpoint {
  return { networkId: 'net-front', networkName: 'front', aliases: [], ...overrides };
}

/** front: web (alias app), db (alias store); back: db2 (alias app), api (on front and back); other: lonely. */
function world(): DnsRecords {
  const records = new DnsRecords();
  records.upsert(
    endpoint({ endpointId: 'e-web', containerId: id('aaaaaaaaaaaa1'), containerName: 'web', hostname: 'webhost', aliases: ['app'], ipv4: '172.20.0.2' }),
  );
  records.upsert(
    endpoint({ endpointId: 'e-db', containerId: id('bbbbbbbbbbbb2'), containerName: 'db', aliases: ['store', 'app'], ipv4: '172.20.0.3', ipv6: 'fd00::3' }),
  );
  records.upsert(endpoint({ endpointId: 'e-api-front', containerId: id('cccccccccccc3'), containerName: 'api', ipv4: '172.20.0.4' }));
  records.upsert(
    endpoint({
      endpointId: 'e-api-back',
      networkId: 'net-back',
      networkName: 'back',
      containerId: id('cccccccccccc3'),
      containerName: 'api',
      ipv4: '172.21.0.4',
    }),
  );
  records.upsert(
    endpoint({
      endpointId: 'e-db2',
      networkId: 'net-back',
      networkName: 'back',
      containerId: id('dddddddddddd4'),
      containerName: 'db2',
      aliases: ['cache'],
      ipv4: '172.21.0.5',
    }),
  );
  records.upsert(
    endpoint({ endpointId: 'e-v6', networkId: 'net-back', networkName: 'back', containerId: id('eeeeeeeeeeee5'), containerName: 'six', ipv6: 'fd01::6' }),
  );
  records.upsert(
    endpoint({
      endpointId: 'e-lonely',
      networkId: 'net-other',
      networkName: 'other',
      containerId: id('ffffffffffff6'),
      containerName: 'lonely',
      ipv4: '172.22.0.2',
    }),
  );
  return records;
}

let nextId = 1;
function query(name: string, type: RecordType = 'A'): Packet {
  return { type: 'query', id: nextId++, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, class: 'IN', name }] };
}

/** Keeps the records' order, so that answers compare as they are. */
const asFound = <T>(items: readonly T[]): T[] => [...items];

function ask(records: DnsRecords, from: string, name: string, type: RecordType = 'A', order: <T>(items: readonly T[]) => T[] = asFound): Decision {
  return answerQuery(query(name, type), records.askerOf(from), records, order);
}

function data(decision: Decision): string[] {
  assert.equal(decision.forward, false, 'expected a local answer, got a forward');
  if (decision.forward) return [];
  return (decision.response.answers ?? []).map((answer) => String((answer as { data: unknown }).data));
}

describe('dns answers', () => {
  const records = world();
  const fromApi = '172.20.0.4';
  const fromWeb = '172.20.0.2';
  const fromDb2 = '172.21.0.5';

  it('answers container names with TTL 600 and the question as asked', () => {
    const decision = ask(records, fromWeb, 'db');
    assert.deepEqual(data(decision), ['172.20.0.3']);
    assert.ok(!decision.forward);
    const answer = decision.response.answers![0]! as { ttl?: number; name: string };
    assert.equal(answer.ttl, RESPONSE_TTL);
    assert.equal(answer.name, 'db');
    assert.equal(decision.response.type, 'response');
    assert.equal(decision.response.flags! & dnsPacket.RECURSION_AVAILABLE, dnsPacket.RECURSION_AVAILABLE);
  });

  it('answers --network-alias names, the short id and the hostname', () => {
    assert.deepEqual(data(ask(records, fromWeb, 'store')), ['172.20.0.3']);
    assert.deepEqual(data(ask(records, fromWeb, 'bbbbbbbbbbbb')), ['172.20.0.3']);
    assert.equal(ask(records, fromDb2, 'webhost').forward, true, 'web is not on back');
    assert.deepEqual(data(ask(records, fromApi, 'webhost')), ['172.20.0.2']);
  });

  it('is case-insensitive and takes a trailing dot', () => {
    assert.deepEqual(data(ask(records, fromWeb, 'DB')), ['172.20.0.3']);
    assert.deepEqual(data(ask(records, fromWeb, 'Db.')), ['172.20.0.3']);
    assert.deepEqual(data(ask(records, fromWeb, 'BBBBBBBBBBBB')), ['172.20.0.3']);
    const decision = ask(records, fromWeb, 'DB');
    assert.ok(!decision.forward);
    assert.equal(decision.response.answers![0]!.name, 'DB', 'owner name as asked');
  });

  it('answers name.network for a network the asker is on', () => {
    assert.deepEqual(data(ask(records, fromApi, 'db2.back')), ['172.21.0.5']);
    assert.deepEqual(data(ask(records, fromApi, 'API.FRONT')), ['172.20.0.4']);
    assert.deepEqual(data(ask(records, fromApi, 'api.back')), ['172.21.0.4']);
    assert.equal(ask(records, fromWeb, 'db2.back').forward, true, 'web is not on back');
    assert.equal(ask(records, fromApi, 'db.back').forward, true, 'db is not on back');
  });

  it('draws from every network of the asker and from no other', () => {
    assert.deepEqual(data(ask(records, fromApi, 'db')), ['172.20.0.3']);
    assert.deepEqual(data(ask(records, fromApi, 'db2')), ['172.21.0.5']);
    assert.deepEqual(data(ask(records, fromApi, 'cache')), ['172.21.0.5']);
    assert.equal(ask(records, fromWeb, 'db2').forward, true);
    assert.equal(ask(records, fromWeb, 'cache').forward, true);
    assert.equal(ask(records, fromWeb, 'lonely').forward, true);
    assert.equal(ask(records, fromDb2, 'web').forward, true);
  });

  it('answers the first network of the asker that knows the name (api from itself: front first)', () => {
    assert.deepEqual(data(ask(records, fromApi, 'api')), ['172.20.0.4']);
    assert.deepEqual(data(ask(records, '172.21.0.4', 'api')), ['172.20.0.4'], 'the same container asking from its other address');
  });

  it('looks aliases up before names', () => {
    const shadow = world();
    shadow.upsert(endpoint({ endpointId: 'e-named-app', containerId: id('999999999999'), containerName: 'app', ipv4: '172.20.0.9' }));
    assert.deepEqual(data(ask(shadow, fromWeb, 'app')).sort(), ['172.20.0.2', '172.20.0.3']);
    assert.deepEqual(data(ask(shadow, fromWeb, 'app.front')).sort(), ['172.20.0.2', '172.20.0.3']);
  });

  it("answers several containers under one name with all their addresses, shuffled for each answer (Docker's shuffleAddr)", () => {
    const orders = Array.from({ length: 64 }, () => data(ask(records, fromWeb, 'app', 'A', shuffle)).join(' '));
    for (const order of orders) assert.deepEqual(order.split(' ').sort(), ['172.20.0.2', '172.20.0.3']);
    // Each order drawn alone: both come first, in no fixed turn (2^-63 odds of failing by chance).
    assert.equal(new Set(orders).size, 2);
    // Fisher–Yates over a fixed draw: each place swapped with the first, or none moved.
    assert.deepEqual(
      shuffle(['a', 'b', 'c'], () => 0),
      ['b', 'c', 'a'],
    );
    assert.deepEqual(
      shuffle(['a', 'b', 'c'], () => 0.999),
      ['a', 'b', 'c'],
    );
  });

  it("resolves a link's alias for the linking container alone, on the network that holds the link", () => {
    const linked = world();
    linked.upsert(
      endpoint({ endpointId: 'e-web', containerId: id('aaaaaaaaaaaa1'), containerName: 'web', aliases: ['app'], ipv4: '172.20.0.2', links: { dbalias: 'db' } }),
    );
    assert.deepEqual(data(ask(linked, fromWeb, 'dbalias')), ['172.20.0.3']);
    assert.deepEqual(data(ask(linked, fromWeb, 'DBalias.front')), ['172.20.0.3']);
    assert.equal(ask(linked, '172.20.0.4', 'dbalias').forward, true, 'another container on the network does not see it');
  });

  it('answers AAAA and gives an empty NOERROR for a known name without an address of the family', () => {
    assert.deepEqual(data(ask(records, fromWeb, 'db', 'AAAA')), ['fd00::3']);
    const empty = ask(records, fromDb2, 'db2', 'AAAA');
    assert.deepEqual(data(empty), []);
    assert.ok(!empty.forward);
    assert.equal(empty.response.flags! & 0x0f, 0, 'NOERROR');
    assert.deepEqual(data(ask(records, fromDb2, 'six', 'A')), [], 'an IPv6-only name asked for A');
    assert.deepEqual(data(ask(records, fromDb2, 'six', 'AAAA')), ['fd01::6']);
  });

  it("answers PTR for addresses on the asker's networks with the query name as owner", () => {
    const decision = ask(records, fromWeb, '3.0.20.172.in-addr.arpa', 'PTR');
    assert.deepEqual(data(decision), ['db.front']);
    assert.ok(!decision.forward);
    assert.equal(decision.response.answers![0]!.name, '3.0.20.172.in-addr.arpa');
    assert.equal((decision.response.answers![0]! as { ttl?: number }).ttl, RESPONSE_TTL);
    assert.deepEqual(data(ask(records, fromWeb, '3.0.20.172.IN-ADDR.ARPA.', 'PTR')), ['db.front']);
    const v6 = `${'3'}.${'0.'.repeat(27)}0.0.d.f.ip6.arpa`;
    assert.deepEqual(data(ask(records, fromWeb, v6, 'PTR')), ['db.front']);
    assert.equal(ask(records, fromWeb, '5.0.21.172.in-addr.arpa', 'PTR').forward, true, 'db2 is not on front');
    assert.equal(ask(records, fromWeb, '1.1.1.10.in-addr.arpa', 'PTR').forward, true);
  });

  it('gives an empty NOERROR for MX of a known name', () => {
    assert.deepEqual(data(ask(records, fromWeb, 'db', 'MX')), []);
    assert.equal(ask(records, fromWeb, 'example.com', 'MX').forward, true);
  });

  it('forwards unknown names, other types, other classes and strangers', () => {
    assert.equal(ask(records, fromWeb, 'example.com').forward, true);
    assert.equal(ask(records, fromWeb, 'db', 'TXT').forward, true);
    assert.equal(answerQuery({ ...query('db'), questions: [{ type: 'A', class: 'CH', name: 'db' }] }, records.askerOf(fromWeb), records).forward, true);
    assert.equal(ask(records, '10.9.9.9', 'db').forward, true, 'an unknown source address is forwarded, as Docker does');
  });

  it('forgets removed endpoints and follows updates', () => {
    const changing = world();
    changing.remove('e-db');
    assert.equal(ask(changing, fromWeb, 'db').forward, true);
    assert.deepEqual(data(ask(changing, fromWeb, 'app')), ['172.20.0.2']);
    assert.equal(ask(changing, '172.20.0.3', 'web').forward, true, 'db no longer counts as an asker');
    changing.upsert(endpoint({ endpointId: 'e-web', containerId: id('aaaaaaaaaaaa1'), containerName: 'web', aliases: ['www'], ipv4: '172.20.0.12' }));
    assert.deepEqual(data(ask(changing, fromApi, 'www')), ['172.20.0.12']);
    assert.equal(ask(changing, fromApi, 'app').forward, true);
    assert.equal(ask(changing, fromApi, 'webhost').forward, true);
    assert.equal(changing.askerOf(fromWeb), undefined, 'the old address no longer asks');
    assert.deepEqual(data(ask(changing, '172.20.0.12', 'api')), ['172.20.0.4']);
  });

  it("carries the asker's own upstreams", () => {
    const own = world();
    own.upsert(endpoint({ endpointId: 'e-web', containerId: id('aaaaaaaaaaaa1'), containerName: 'web', ipv4: '172.20.0.2', upstreams: ['10.1.1.1'] }));
    assert.deepEqual(own.askerOf(fromWeb)?.upstreams, ['10.1.1.1']);
    assert.equal(own.askerOf(fromApi)?.upstreams, undefined);
  });
});

describe('dns wire handling', () => {
  it('parses a query, ignores responses and short packets, FORMERR for garbage with a header', () => {
    const packet = dnsPacket.encode(query('web'));
    assert.ok('query' in parseQuery(packet));
    assert.ok('ignore' in parseQuery(Buffer.from([1, 2, 3])));
    assert.ok('ignore' in parseQuery(dnsPacket.encode({ type: 'response', id: 7, questions: [{ type: 'A', name: 'x' }] })));
    const garbage = Buffer.concat([packet.subarray(0, 12), Buffer.from([0xff, 0xff, 0xff])]);
    const parsed = parseQuery(garbage);
    assert.ok('reply' in parsed);
    assert.equal(parsed.reply.readUInt16BE(0), packet.readUInt16BE(0));
    assert.equal(parsed.reply.readUInt16BE(2) & 0x800f, 0x8001);
  });

  it("writes A/AAAA answers after the query's own header and question, as dns-packet reads them back", () => {
    const records = world();
    for (const [name, type] of [
      ['App', 'A'],
      ['db', 'AAAA'],
      ['db2', 'AAAA'],
      ['3.0.20.172.in-addr.arpa', 'PTR'],
      ['db', 'MX'],
    ] as const) {
      const asked = { ...query(name, type), additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never] };
      const message = dnsPacket.encode(asked);
      const parsed = parseQuery(message);
      assert.ok('query' in parsed);
      const decision = answerQuery(parsed.query, records.askerOf('172.20.0.4'), records);
      assert.ok(!decision.forward, name);
      const fast = dnsPacket.decode(encodeResponse(message, decision.response, 512, true));
      const reference = dnsPacket.decode(dnsPacket.encode(decision.response));
      for (const field of ['id', 'type', 'flags', 'questions', 'answers', 'authorities'] as const)
        assert.deepEqual(fast[field], reference[field], `${name} ${type} ${field}`);
      assert.deepEqual(fast.additionals, []);
    }
  });

  it('NOTIMP for other opcodes', () => {
    const packet = Buffer.from(dnsPacket.encode(query('web')));
    packet.writeUInt16BE(packet.readUInt16BE(2) | (2 << 11), 2);
    const parsed = parseQuery(packet);
    assert.ok('reply' in parsed);
    assert.equal(parsed.reply.readUInt16BE(2) & 0x0f, 4);
  });

  it('truncates UDP answers past 512 bytes (or the EDNS size) and sets TC', () => {
    const response: Packet = {
      type: 'response',
      id: 9,
      flags: 0,
      questions: [{ type: 'A', name: 'many' }],
      answers: Array.from({ length: 60 }, (_, i) => ({ type: 'A' as const, name: 'many', ttl: 600, data: `10.0.0.${i + 1}` })),
    };
    const small = encodeWithin(response, 512, true);
    assert.ok(small.length <= 512);
    const decoded = dnsPacket.decode(small);
    assert.equal(decoded.flags! & dnsPacket.TRUNCATED_RESPONSE, dnsPacket.TRUNCATED_RESPONSE);
    assert.ok(decoded.answers!.length > 0 && decoded.answers!.length < 60);
    assert.equal(dnsPacket.decode(encodeWithin(response, 65_535, false)).answers!.length, 60);
    const withEdns: Packet = { ...query('many'), additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as never] };
    assert.equal(maxUdpSize(withEdns), 1232);
    assert.equal(maxUdpSize(query('many')), 512);
  });
});
