/**
 * Sockets made inside another network namespace by skiff's N-API addon
 * (native/netns-sockets.c, built into dist/skiff-netns.node): a thread of its
 * own enters the namespace, makes the sockets and exits, so no Node thread
 * ever changes namespace. The descriptors are then Node's to serve
 * (dgram bind({ fd }), net listen({ fd }), new net.Socket({ fd })) or the DNS
 * relay's (native/dns-relay.c, below); each stays in the namespace it was
 * made in for its whole life.
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

/**
 * The addon's UDP forwarding thread (native/dns-relay.c), as src/dns/relay.ts
 * drives it. Channel and listener ids are the relay's; a token is the
 * caller's name for one forwarded query, given back in its event.
 */
export interface RelayBinding {
  /** Starts the thread; onEvents gets the events in batches (the layout is in dns-relay.c). Once per process. */
  relayStart(onEvents: (events: Buffer) => void): void;
  /** Connects fd to the upstream and hands it to the relay (which closes it, also when this throws). */
  relayAddChannel(fd: number, address: string, port: number): number;
  /** A listener's UDP socket (duplicated: the caller keeps its own and receives on it), from which forwarded answers may go straight to askers. */
  relayAddListener(fd: number): number;
  /** false when the relay cannot take the query (no room, too short): it was not sent. listener -1: no answer goes straight to the asker. */
  relayForward(
    channel: number,
    query: Buffer,
    token: number,
    timeoutMs: number,
    anyAnswer: boolean,
    listener: number,
    asker: Buffer | null,
    maxSize: number,
  ): boolean;
  /** One datagram from fd to an asker (as a query event gave it), on the caller's thread: 0, or the errno of a send the kernel refused. */
  /** kind 0: a channel (its queries under way end unanswered); 1: a listener. */
  relayClose(kind: 0 | 1, id: number): void;
  /** Whether the relay's pending events keep Node's event loop alive. */
  relayRef(keep: boolean): void;
}

/** Makes the sockets in the namespace bound at netnsPath (undefined: the daemon's own), in one thread; nothing is left open when it throws. */
export function openSocketsInNetns(netnsPath: string | undefined, specs: readonly SocketSpec[]): OpenedSocket[] {
  const native = loadAddon() as unknown as { openSockets(netnsPath: string | null, specs: readonly SocketSpec[]): OpenedSocket[] };
  try {
    return native.openSockets(netnsPath ?? null, specs);
  } catch (error) {
    throw new SkiffError('unavailable', (error as Error).message, { cause: error });
  }
}

/** The relay's functions, from the addon (loaded on first use). */
export function relayBinding(): RelayBinding {
  return loadAddon() as unknown as RelayBinding;
}
