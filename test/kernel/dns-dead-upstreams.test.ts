/**
 * The embedded DNS server when its upstream cannot answer: no route to it
 * (IPv4 and IPv6), a closed port (refused), and one whose packets are dropped
 * (silent). 1,000 questions over UDP and TCP, many at once: every one gets
 * SERVFAIL with its own id before the client gives up, the process (the
 * daemon's stand-in) stays up, and no socket or timer is left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { assertInWorld, leftovers, makeLinkedHost, scratchDir, sh, tryRun, type NetnsHandle } from '../helpers/world.js';
import { DnsRecords } from '../../src/dns/records.js';
import { DnsServer } from '../../src/dns/server.js';
import { FrameReader, frame } from '../../src/dns/framing.js';

assertInWorld();

const LISTEN = '127.0.0.1';
const TIMEOUT_MS = 300;
/** The client's own patience: an answer must come well before it, whatever the upstream does. */
const CLIENT_DEADLINE_MS = 5_000;
const QUESTIONS = 1_000;
const AT_ONCE = 50;

/** One server per dead upstream, each on its own port of this world's loopback. */
const deadUpstreams = [
  { kind: 'no route (IPv4)', upstream: '192.0.2.53', port: 5401 },
  { kind: 'no route (IPv6)', upstream: '2001:db8::53', port: 5402 },
  { kind: 'refusing (IPv4)', upstream: '10.98.0.2', port: 5403 },
  { kind: 'refusing (IPv6)', upstream: '[fd98::2]:53', port: 5404 },
  { kind: 'silent (IPv4)', upstream: '10.98.0.3', port: 5405 },
  { kind: 'silent (IPv6)', upstream: '[fd98::3]:53', port: 5406 },
] as const;

type Transport = 'udp' | 'tcp';

function query(id: number, name: string): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
}

/** One question over UDP or TCP; resolves with the reply, rejects past the client's deadline. */
function ask(transport: Transport, port: number, id: number, name: string): Promise<dnsPacket.Packet> {
  return new Promise((resolve, reject) => {
    let close = () => undefined as void;
    const timer = setTimeout(() => {
      close();
      reject(new Error(`no answer for ${name} over ${transport} on port ${port}`));
    }, CLIENT_DEADLINE_MS);
    const done = (message: Buffer) => {
      clearTimeout(timer);
      close();
      resolve(dnsPacket.decode(message));
    };
    if (transport === 'udp') {
      const socket = dgram.createSocket('udp4');
      close = () => socket.close();
      socket.on('message', done);
      socket.send(query(id, name), port, LISTEN);
      return;
    }
    const socket = net.connect(port, LISTEN);
    const frames = new FrameReader();
    close = () => {
      socket.destroy();
    };
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => socket.write(frame(query(id, name))));
    socket.on('data', (chunk: Buffer) => {
      const [message] = frames.push(chunk);
      if (message !== undefined) done(message);
    });
  });
}

/** Sockets, servers and timers this process holds, by kind. */
function openHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, TIMEOUT_MS + 200));
}

describe('embedded DNS with dead upstreams', () => {
  const scratch = scratchDir('skiff-dead-dns-');
  const servers = deadUpstreams.map(({ upstream, port }) => new DnsServer({ records: new DnsRecords(), upstreams: [upstream], timeoutMs: TIMEOUT_MS, port }));
  let upstreamHost: NetnsHandle;

  before(async () => {
    // The upstreams' host: 10.98.0.2 / fd98::2 with nothing listening (refused), .3 / ::3 dropping everything (silent).
    upstreamHost = await makeLinkedHost(scratch.path, 'upstream', '10.98.0.1', '10.98.0.2');
    await sh('ip', ['addr', 'add', 'fd98::1/64', 'dev', 'to-upstream', 'nodad']);
    await upstreamHost.exec('ip', ['addr', 'add', 'fd98::2/64', 'dev', 'eth0', 'nodad']);
    await upstreamHost.exec('ip', ['addr', 'add', '10.98.0.3/24', 'dev', 'eth0']);
    await upstreamHost.exec('ip', ['addr', 'add', 'fd98::3/64', 'dev', 'eth0', 'nodad']);
    await sh(
      'nsenter',
      [`--net=${upstreamHost.path}`, '--', 'nft', '-f', '-'],
      'table inet blackhole {\n  chain input {\n    type filter hook input priority 0;\n    ip daddr 10.98.0.3 drop\n    ip6 daddr fd98::3 drop\n  }\n}\n',
    );
    for (const server of servers) await server.addListener(`net-${servers.indexOf(server)}`, LISTEN);
  });

  after(async () => {
    for (const server of servers) await server.close();
    await upstreamHost?.remove();
    assert.deepEqual(await leftovers(scratch.path), []);
    scratch.remove();
  });

  it('the upstreams are dead as intended: no route, refused, silent', async () => {
    assert.match((await tryRun('ip', ['route', 'get', '192.0.2.53'])).stderr, /unreachable/);
    assert.match((await tryRun('ip', ['-6', 'route', 'get', '2001:db8::53'])).stderr, /unreachable/);
    // Positive control: the refusing and silent upstreams' host is reachable at all.
    assert.equal((await tryRun('ping', ['-c', '1', '-W', '1', '10.98.0.2'])).code, 0);
    assert.equal((await tryRun('ping', ['-c', '1', '-W', '1', 'fd98::2'])).code, 0);
    assert.notEqual((await tryRun('ping', ['-c', '1', '-W', '1', '10.98.0.3'])).code, 0);
  });

  for (const { kind, port } of deadUpstreams) {
    for (const transport of ['udp', 'tcp'] as const) {
      it(`answers SERVFAIL with the asker's id: ${kind} over ${transport}`, async () => {
        const reply = await ask(transport, port, 4321, `outside-${port}.example`);
        assert.equal(reply.id, 4321);
        assert.equal((reply as { rcode?: string }).rcode, 'SERVFAIL');
      });
    }
  }

  it(`${QUESTIONS} questions, ${AT_ONCE} at a time, spread over every dead upstream and transport: all SERVFAIL, nothing leaks`, async () => {
    await settle();
    const before = openHandles();
    const combinations = deadUpstreams.flatMap(({ port }) => (['udp', 'tcp'] as const).map((transport) => ({ port, transport })));
    const rcodes = new Map<string, number>();
    for (let start = 0; start < QUESTIONS; start += AT_ONCE) {
      const batch = Array.from({ length: Math.min(AT_ONCE, QUESTIONS - start) }, (_, offset) => {
        const index = start + offset;
        const { port, transport } = combinations[index % combinations.length]!;
        return ask(transport, port, index, `q${index}.outside.example`).then((reply) => {
          assert.equal(reply.id, index, "each reply carries its own question's id");
          const rcode = (reply as { rcode?: string }).rcode ?? 'NOERROR';
          rcodes.set(rcode, (rcodes.get(rcode) ?? 0) + 1);
        });
      });
      await Promise.all(batch);
    }
    assert.deepEqual(Object.fromEntries(rcodes), { SERVFAIL: QUESTIONS });
    await settle();
    assert.deepEqual(openHandles(), before, 'the same sockets and timers as before the questions');
  });
});
