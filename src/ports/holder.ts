/**
 * Holds published host ports with real sockets (as docker-proxy does), so no
 * other process can take a port while it is published. The kernel's DNAT
 * sends the traffic to the container before it reaches these sockets; an
 * IPv6 binding's socket is a relay (proxy.ts) that serves what DNAT leaves
 * to it (::1, and a container without an IPv6 address).
 */
import { createServer, type Server } from 'node:net';
import { createSocket, Socket } from 'node:dgram';
import { SkiffError } from '../errors.js';
import { familyOf } from '../model/address.js';
import type { HostPort } from './allocator.js';
import { listenTcpRelay, listenUdpRelay, type Relay, type RelayTarget } from './proxy.js';

type Holder = Server | Socket | Relay;

function key(port: HostPort): string {
  return `${port.protocol}/${port.hostIp}/${port.hostPort}`;
}

/** Docker's text: "listen tcp6 [::1]:8080" for IPv6. */
function listenText(port: HostPort): string {
  return familyOf(port.hostIp) === 6 ? `${port.protocol}6 [${port.hostIp}]:${port.hostPort}` : `${port.protocol} ${port.hostIp}:${port.hostPort}`;
}

function bindError(port: HostPort, error: NodeJS.ErrnoException): SkiffError {
  const reason = error.code === 'EADDRINUSE' ? 'address already in use' : error.message;
  return new SkiffError('internal', `Error starting userland proxy: listen ${listenText(port)}: bind: ${reason}`, { cause: error });
}

function holdOnly(port: HostPort): Promise<Holder> {
  const ipv6Only = familyOf(port.hostIp) === 6;
  const holder: Server | Socket =
    port.protocol === 'tcp' ? createServer((socket) => socket.destroy()) : createSocket({ type: ipv6Only ? 'udp6' : 'udp4', ipv6Only });
  return new Promise((resolve, reject) => {
    holder.once('error', reject);
    const held = () => {
      holder.off('error', reject);
      holder.on('error', () => undefined); // a listening socket that only holds the port: nothing it accepts or fails matters
      resolve(holder);
    };
    if (holder instanceof Socket) holder.bind(port.hostPort, port.hostIp, held);
    else holder.listen({ port: port.hostPort, host: port.hostIp, exclusive: true, ipv6Only }, held);
  });
}

export class PortHolder {
  private readonly held = new Map<string, Holder>();

  /** Binds the port; with relayTo, the socket passes what reaches it on to that address. */
  async hold(port: HostPort, relayTo?: RelayTarget): Promise<void> {
    if (this.held.has(key(port)) || port.protocol === 'sctp') return;
    try {
      const holder =
        relayTo === undefined
          ? await holdOnly(port)
          : await (port.protocol === 'tcp' ? listenTcpRelay(port.hostIp, port.hostPort, relayTo) : listenUdpRelay(port.hostIp, port.hostPort, relayTo));
      this.held.set(key(port), holder);
    } catch (error) {
      throw bindError(port, error as NodeJS.ErrnoException);
    }
  }

  /** Whether a socket holds (or relays) the port: skiff network diagnose. */
  holds(port: HostPort): boolean {
    return this.held.has(key(port));
  }

  release(port: HostPort): void {
    const holder = this.held.get(key(port));
    this.held.delete(key(port));
    holder?.close();
  }

  close(): void {
    for (const holder of this.held.values()) holder.close();
    this.held.clear();
  }
}
