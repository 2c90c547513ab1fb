/**
 * Forwarding over one kept UDP socket per upstream: queries that carry the
 * same id at once each get their own answer with their own id; an answer
 * whose question is not the query's is not taken for it; the socket stays for
 * the next query and goes with close(). The upstream is a tiny server on this
 * process's loopback.
 */
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import { forwardQuery, UpstreamSockets, type Upstream } from '../../src/dns/forward.js';

let upstream: dgram.Socket;
let address: Upstream;
/** Names the upstream first answers with a wrong question (the same id), then rightly. */
const misleading = new Set(['decoy.test']);
let finished = false;

before(async () => {
  upstream = dgram.createSocket('udp4');
  upstream.on('message', (message, peer) => {
    const query = dnsPacket.decode(message);
    const name = query.questions![0]!.name;
    const answer = (questionName: string) =>
      dnsPacket.encode({
        type: 'response',
        id: query.id,
        flags: dnsPacket.RECURSION_AVAILABLE,
        questions: [{ type: 'A', name: questionName }],
        answers: [{ type: 'A', name: questionName, ttl: 60, data: `10.0.0.${name.length}` }],
      });
    if (misleading.has(name)) upstream.send(answer('other.test'), peer.port, peer.address);
    // A little later, so that queries overlap (and not at all once the test is over).
    setTimeout(() => {
      if (!finished) upstream.send(answer(name), peer.port, peer.address);
    }, 20);
  });
  await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', () => resolve()));
  address = { address: '127.0.0.1', port: upstream.address().port, family: 4 };
});

after(() => {
  finished = true;
  upstream.close();
});

function ask(sockets: UpstreamSockets, id: number, name: string): Promise<dnsPacket.Packet | undefined> {
  const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
  return new Promise((resolve) =>
    forwardQuery(query, [address], { tcp: false, timeoutMs: 1_000 }, sockets, (answer) =>
      resolve(answer === undefined || answer === 'relayed' ? undefined : dnsPacket.decode(answer)),
    ),
  );
}

it('gives queries that carry the same id at once each their own answer, with their own id', async () => {
  const sockets = new UpstreamSockets(undefined);
  try {
    const names = ['a.test', 'bb.test', 'ccc.test', 'dddd.test'];
    const answers = await Promise.all(names.map((name) => ask(sockets, 7, name)));
    for (const [index, answer] of answers.entries()) {
      assert.equal(answer?.id, 7);
      assert.equal(answer?.questions?.[0]?.name, names[index]);
      assert.deepEqual(
        answer?.answers?.map((record) => (record as { data?: unknown }).data),
        [`10.0.0.${names[index]!.length}`],
      );
    }
  } finally {
    sockets.close();
  }
});

it("does not take an answer to another question for the query's, and keeps its socket for the next query", async () => {
  const sockets = new UpstreamSockets(undefined);
  try {
    // The relay's thread holds the upstream socket: counted as this process's open descriptors.
    const udpSockets = () => readdirSync('/proc/self/fd').length;
    const answer = await ask(sockets, 9, 'decoy.test');
    assert.equal(answer?.questions?.[0]?.name, 'decoy.test');
    const kept = udpSockets();
    assert.equal((await ask(sockets, 10, 'again.test'))?.questions?.[0]?.name, 'again.test');
    assert.equal(udpSockets(), kept, 'the same socket again, no new one');
  } finally {
    sockets.close();
  }
});

it('answers nothing once closed, and closing ends the queries under way unanswered', async () => {
  const sockets = new UpstreamSockets(undefined);
  const underway = ask(sockets, 11, 'slow.test');
  await new Promise((resolve) => setTimeout(resolve, 5));
  sockets.close();
  assert.equal(await underway, undefined);
  assert.equal(await ask(sockets, 12, 'late.test'), undefined);
});
