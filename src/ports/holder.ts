/**
 * Holds published host ports with real sockets (as docker-proxy does), so no
 * other process can take a port while it is published. The kernel's DNAT
 * sends the traffic to the container before it reaches these sockets.
 */
import { createServer, type Server } from 'node:net';
import { createSocket, Socket } from 'node:dgram';
import { SkiffError } from '../errors.js';
import type { HostPort } from './allocator.js';

type Holder = Server | Socket;

function key(port: HostPort): string {
  return `${port.protocol}/${port.hostIp}/${port.hostPort}`;
}

export class PortHolder {
  private readonly held = new Map<string, Holder>();

  async hold(port: HostPort): Promise<void> {
    if (this.held.has(key(port)) || port.protocol === 'sctp') return;
    const holder: Holder = port.protocol === 'tcp' ? createServer((socket) => socket.destroy()) : createSocket(port.hostIp.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      holder.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          new SkiffError(
            'internal',
            `Error starting userland proxy: listen ${port.protocol} ${port.hostIp}:${port.hostPort}: bind: ${error.code === 'EADDRINUSE' ? 'address already in use' : error.message}`,
            { cause: error },
          ),
        );
      });
      if (holder instanceof Socket) holder.bind(port.hostPort, port.hostIp, () => resolve());
      else holder.listen({ port: port.hostPort, host: port.hostIp, exclusive: true }, () => resolve());
    });
    holder.on('error', () => undefined); // a listening socket that only holds the port: nothing it accepts or fails matters
    this.held.set(key(port), holder);
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
