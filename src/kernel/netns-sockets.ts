/**
 * Sockets made inside another network namespace by skiff's N-API addon
 * (native/netns-sockets.c, built into dist/skiff-netns.node): a thread of its
 * own enters the namespace, makes the sockets and exits, so no Node thread
 * ever changes namespace. The descriptors are then Node's to serve
 * (dgram bind({ fd }), net listen({ fd }), new net.Socket({ fd })); each stays
 * in the namespace it was made in for its whole life.
 */
import { SkiffError } from '../errors.js';
import { loadAddon } from './addon.js';

export interface SocketSpec {
  type: 'udp' | 'tcp';
  family: 4 | 6;
  /** Bound here (IP_FREEBIND: lo may still be down); unbound when absent. */
  address?: string;
  /** 0 (the default) lets the kernel choose. */
  port?: number;
  /** A TCP socket listens. */
  listen?: boolean;
}

export interface OpenedSocket {
  fd: number;
  /** The bound port (0 when not bound). */
  port: number;
}

/** Makes the sockets in the namespace bound at netnsPath, in one thread; nothing is left open when it throws. */
export function openSocketsInNetns(netnsPath: string, specs: readonly SocketSpec[]): OpenedSocket[] {
  const native = loadAddon();
  try {
    return native.openSockets(netnsPath, specs);
  } catch (error) {
    throw new SkiffError('unavailable', (error as Error).message, { cause: error });
  }
}
