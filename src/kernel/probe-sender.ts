/**
 * The probe's sending end, run as its own program inside the source's
 * network namespace (`nsenter --net=… node probe-sender.js`), so no Node
 * thread of the daemon ever changes namespace. It sends one TCP SYN (a
 * connect) or one UDP datagram from a fixed source port, which is what the
 * trace's nftables rule recognises, and prints what came back as one JSON line.
 *
 *   node probe-sender.js tcp|udp ADDRESS PORT SOURCE_PORT TIMEOUT_MS
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

type Outcome = { outcome: 'answered' | 'refused' | 'timeout' | 'unreachable'; detail: string };

function tcpProbe(address: string, port: number, localPort: number, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, localPort, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ outcome: 'answered', detail: 'connection established' });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ outcome: 'timeout', detail: `no answer within ${timeoutMs} ms` });
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(error.code === 'ECONNREFUSED' ? { outcome: 'refused', detail: 'connection refused (reset)' } : { outcome: 'unreachable', detail: error.message });
    });
  });
}

function udpProbe(address: string, port: number, localPort: number, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.close();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => done({ outcome: 'timeout', detail: `no datagram back within ${timeoutMs} ms (UDP services often answer nothing)` }),
      timeoutMs,
    );
    socket.once('message', () => done({ outcome: 'answered', detail: 'a datagram came back' }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done(error.code === 'ECONNREFUSED' ? { outcome: 'refused', detail: 'port unreachable' } : { outcome: 'unreachable', detail: error.message }),
    );
    socket.bind(localPort, () =>
      socket.connect(port, address, (error?: Error) => {
        if (error !== undefined && error !== null) done({ outcome: 'unreachable', detail: error.message });
        else socket.send('skiff trace probe');
      }),
    );
  });
}

const [protocol, address, port, localPort, timeoutMs] = process.argv.slice(2);
const send = protocol === 'udp' ? udpProbe : tcpProbe;
const result = await send(address ?? '', Number(port), Number(localPort), Number(timeoutMs));
process.stdout.write(`${JSON.stringify(result)}\n`);
