/**
 * A tiny upstream DNS server for tests, run inside a namespace the test made:
 *   node upstream-dns.js ADDRESS
 * Answers upstream.test with 10.10.10.10, NXDOMAIN for everything else, over UDP.
 */
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const address = process.argv[2] ?? '127.0.0.1';
const socket = createSocket('udp4');
socket.on('message', (message, peer) => {
  let query: dnsPacket.Packet;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return;
  }
  const question = query.questions?.[0];
  if (question === undefined) return;
  const known = question.name.toLowerCase() === 'upstream.test' && question.type === 'A';
  const reply = dnsPacket.encode({
    id: query.id,
    type: 'response',
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (known ? 0 : 3),
    questions: [question],
    answers: known ? [{ type: 'A', name: question.name, ttl: 60, data: '10.10.10.10' }] : [],
  });
  socket.send(reply, peer.port, peer.address);
});
socket.bind(53, address, () => process.stdout.write('ready\n'));
