/**
 * The relay behind IPv6 host bindings, inside the daemon (docker-proxy's job,
 * without a process per port): it listens on the binding's host address and
 * passes each TCP connection or UDP flow on to the container's address.
 *
 * A failure stays with its own connection: an error on either side destroys
 * that pair and nothing else. A half-close is passed on (the client's FIN
 * becomes the upstream's FIN), and once either side is gone the other is
 * destroyed. close() ends the listener and every connection and flow it has.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { familyOf } from '../model/address.js';

export interface RelayTarget {
  address: string;
  port: number;
}

/** Docker's UDP flow timeout (docker-proxy's UDPConnTrackTimeout). */
export const UDP_FLOW_IDLE_MS = 90_000;

export interface Relay {
  close(): void;
}

/** Pipes one accepted connection to the target; the pair lives and dies together. */
function relayConnection(client: Socket, target: RelayTarget, open: Set<Socket>): void {
  const upstream = connect({ host: target.address, port: target.port, allowHalfOpen: true });
  open.add(client);
  open.add(upstream);
  const teardown = () => {
    client.destroy();
    upstream.destroy();
    open.delete(client);
    open.delete(upstream);
  };
  client.on('error', teardown).on('close', teardown);
  upstream.on('error', teardown).on('close', teardown);
  client.pipe(upstream);
  upstream.pipe(client);
}

/** Listens on host:port (IPv6 only: 0.0.0.0 is another binding) and relays TCP to the target. */
export function listenTcpRelay(host: string, port: number, target: RelayTarget): Promise<Relay> {
  const open = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (client) => relayConnection(client, target, open));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: familyOf(host) === 6, exclusive: true }, () => {
      server.off('error', reject);
      // A listening socket's later errors (EMFILE on accept) must not take the daemon down; the next accept tries again.
      server.on('error', () => undefined);
      resolve({
        close() {
          server.close();
          for (const socket of open) socket.destroy();
          open.clear();
        },
      });
    });
  });
}

interface UdpFlow {
  upstream: UdpSocket;
  idle: NodeJS.Timeout;
}

/** Binds host:port and relays each client's datagrams through a socket of its own, so the answers find their way back. */
export function listenUdpRelay(host: string, port: number, target: RelayTarget, idleMs: number = UDP_FLOW_IDLE_MS): Promise<Relay> {
  const listener = createSocket({ type: familyOf(host) === 6 ? 'udp6' : 'udp4', ipv6Only: familyOf(host) === 6 });
  const flows = new Map<string, UdpFlow>();
  const endFlow = (key: string) => {
    const flow = flows.get(key);
    if (flow === undefined) return;
    flows.delete(key);
    clearTimeout(flow.idle);
    flow.upstream.close();
  };
  const flowOf = (client: RemoteInfo): UdpFlow => {
    const key = `[${client.address}]:${client.port}`;
    const known = flows.get(key);
    if (known !== undefined) {
      known.idle.refresh();
      return known;
    }
    const upstream = createSocket(familyOf(target.address) === 6 ? 'udp6' : 'udp4');
    const flow: UdpFlow = { upstream, idle: setTimeout(() => endFlow(key), idleMs) };
    flow.idle.unref();
    upstream.on('message', (answer, from) => {
      if (from.address !== target.address || from.port !== target.port) return;
      flow.idle.refresh();
      listener.send(answer, client.port, client.address);
    });
    upstream.on('error', () => endFlow(key));
    flows.set(key, flow);
    return flow;
  };
  listener.on('message', (datagram, client) => {
    const flow = flowOf(client);
    // A send that fails loses that datagram, as UDP may, and ends the flow.
    flow.upstream.send(datagram, target.port, target.address, (error) => {
      if (error !== null && error !== undefined) endFlow(`[${client.address}]:${client.port}`);
    });
  });
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.bind({ address: host, port, exclusive: true }, () => {
      listener.off('error', reject);
      listener.on('error', () => undefined);
      resolve({
        close() {
          for (const key of [...flows.keys()]) endFlow(key);
          listener.close();
        },
      });
    });
  });
}
