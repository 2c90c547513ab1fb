/**
 * Forwarding a query to upstream servers, as Docker's resolver does: at most
 * three, one after the other, a timeout each; UDP queries over UDP (a
 * truncated answer is asked again over TCP), TCP queries over TCP. The query's
 * bytes go out unchanged (but the id, when another query under way to the
 * same upstream holds it) and the chosen answer's bytes come back unchanged,
 * so the client's id and question are kept without re-encoding.
 *
 * Queries leave from the namespace of the UpstreamSockets they go through: a
 * container's own (so its --dns 127.0.0.1 is its own loopback, as with
 * Docker) or the daemon's. UDP queries to one upstream share one connected
 * socket, kept for the next ones: no socket (and, in a container's
 * namespace, no thread) per query. Those sockets are served by the relay's
 * thread (relay.ts), which sends and receives for the event loop and, where
 * the query allows it (ForwardOptions.direct), sends the final answer
 * straight to the asker.
 */
import { createRequire } from 'node:module';
import dgram from 'node:dgram';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { openSocketsInNetns } from '../kernel/netns-sockets.js';
import { RCODE } from './answer.js';
import { FrameReader, frame } from './framing.js';
import { RELAYED, udpRelay, type DirectReply, type RelayOutcome } from './relay.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

/** Docker's maxExtDNS. */
export const MAX_UPSTREAMS = 3;
const DNS_PORT = 53;
const HEADER_SIZE = 12;
const QR = 0x8000;
const TC = 0x0200;
const AA = 0x0400;
/**
 * How long an upstream that answered with an ICMP error (refused, no route)
 * is not asked again: the kernel sends such errors at most about once a
 * second per destination (icmp_ratelimit), so the queries right after one
 * would each wait out a timeout instead of failing at once.
 */
const UNREACHABLE_MS = 1_000;

export interface Upstream {
  address: string;
  port: number;
  family: 4 | 6;
}

/** "10.0.0.1", "10.0.0.1:5353", "fd00::1" or "[fd00::1]:5353"; undefined when not an address. */
export function parseUpstream(spec: string): Upstream | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const withPort = /^([^:]+):(\d+)$/.exec(spec);
  const [address, port] = bracketed ? [bracketed[1]!, bracketed[2]] : withPort ? [withPort[1]!, withPort[2]] : [spec, undefined];
  if (!ipaddr.isValid(address)) return undefined;
  const portNumber = port === undefined ? DNS_PORT : Number(port);
  if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65_535) return undefined;
  return { address, port: portNumber, family: ipaddr.parse(address).kind() === 'ipv4' ? 4 : 6 };
}

export interface ForwardOptions {
  tcp: boolean;
  timeoutMs: number;
  /** A UDP query's asker, where the relay may send the final answer itself (done then gets RELAYED). */
  direct?: DirectReply;
}

type Done = (answer: RelayOutcome) => void;

/**
 * Calls done once with the first good answer (NOERROR, or an authoritative
 * NXDOMAIN: RFC 8020) from the upstreams in order; failing that, the last
 * answer any of them gave (SERVFAIL, REFUSED, …); undefined when none
 * answered at all; RELAYED when that answer went to options.direct already.
 */
export function forwardQuery(query: Buffer, upstreams: readonly Upstream[], options: ForwardOptions, sockets: UpstreamSockets, done: Done): void {
  new Forwarding(query, upstreams, options, sockets, done).next();
}

class Forwarding {
  private index = 0;
  private fallback: Buffer | undefined;

  constructor(
    private readonly query: Buffer,
    private readonly upstreams: readonly Upstream[],
    private readonly options: ForwardOptions,
    private readonly sockets: UpstreamSockets,
    private readonly done: Done,
  ) {}

  next(): void {
    if (this.index >= Math.min(this.upstreams.length, MAX_UPSTREAMS)) {
      this.done(this.fallback);
      return;
    }
    const upstream = this.upstreams[this.index++]!;
    if (this.options.tcp) this.sockets.exchangeTcp(this.query, upstream, this.options.timeoutMs, (answer) => this.answered(answer));
    else
      this.sockets.exchangeUdp(
        this.query,
        upstream,
        this.options.timeoutMs,
        (answer) => {
          if (answer === undefined || answer === RELAYED || !isTruncated(answer)) this.answered(answer);
          else this.sockets.exchangeTcp(this.query, upstream, this.options.timeoutMs, (again) => this.answered(again ?? answer));
        },
        this.options.direct,
        isLastAttempt(this.index, this.upstreams.length),
      );
  }

  private answered(answer: RelayOutcome): void {
    if (answer === undefined) {
      this.next();
      return;
    }
    if (answer === RELAYED || isFinal(answer)) {
      this.done(answer);
      return;
    }
    this.fallback = answer;
    this.next();
  }
}

/**
 * Whether the attempt numbered `attempt` (from 1) is the last one: then any
 * answer it gets is the one given (a final one at once, another as the
 * fallback of the last), so the relay may send on whatever comes (but a
 * truncated answer, asked again over TCP).
 */
export function isLastAttempt(attempt: number, upstreamCount: number): boolean {
  return attempt >= Math.min(upstreamCount, MAX_UPSTREAMS);
}

function isTruncated(answer: Buffer): boolean {
  return (answer.readUInt16BE(2) & TC) !== 0;
}

function isFinal(answer: Buffer): boolean {
  const flags = answer.readUInt16BE(2);
  const rcode = flags & 0x000f;
  return rcode === RCODE.NOERROR || (rcode === RCODE.NXDOMAIN && (flags & AA) !== 0);
}

/** An answer to `query`: a response with the same id. Anything else on the wire is not ours. */
function answers(query: Buffer, candidate: Buffer): boolean {
  return candidate.length >= HEADER_SIZE && candidate.readUInt16BE(0) === query.readUInt16BE(0) && (candidate.readUInt16BE(2) & QR) !== 0;
}

/**
 * The sockets one namespace forwards through: netnsPath undefined is the
 * daemon's own. A UDP channel per upstream lives until close(), or until it
 * fails (a refused port, no route, a query timed out with none other under
 * way), when the next query opens a new one.
 */
export class UpstreamSockets {
  private readonly channels = new Map<string, UdpChannel>();
  /** Upstreams that sent back an ICMP error, until when they are skipped. */
  private readonly unreachableUntil = new Map<string, number>();
  private closed = false;

  constructor(private readonly netnsPath: string | undefined) {}

  /** direct and anyAnswer: see ForwardOptions.direct and isLastAttempt. */
  exchangeUdp(query: Buffer, upstream: Upstream, timeoutMs: number, done: Done, direct?: DirectReply, anyAnswer = false): void {
    const key = `${upstream.address} ${upstream.port}`;
    if (this.closed || this.skipped(key)) {
      done(undefined);
      return;
    }
    let channel = this.channels.get(key);
    if (channel === undefined) {
      try {
        channel = new UdpChannel(
          this.udpFd(upstream.family),
          upstream,
          (onRoute) => this.checkRoute(upstream, onRoute),
          (unreachable) => {
            if (this.channels.get(key) === channel) this.channels.delete(key);
            if (unreachable && !this.closed) this.unreachableUntil.set(key, Date.now() + UNREACHABLE_MS);
          },
        );
      } catch {
        done(undefined); // no socket in the namespace (it is being torn down): the query fails, nothing else does
        return;
      }
      this.channels.set(key, channel);
    }
    channel.exchange(query, timeoutMs, done, direct, anyAnswer);
  }

  /** One TCP connection per query, as Docker's resolver makes (TCP queries and truncated answers are rare). */
  exchangeTcp(query: Buffer, upstream: Upstream, timeoutMs: number, done: Done): void {
    if (this.closed || this.skipped(`${upstream.address} ${upstream.port}`)) {
      done(undefined);
      return;
    }
    this.checkRoute(upstream, (routable) => {
      if (!routable || this.closed) {
        done(undefined);
        return;
      }
      // Made only now, and connected at once: an unconnected TCP socket that meets the event loop reads as hung up.
      let socket: net.Socket;
      try {
        socket = this.netnsPath === undefined ? new net.Socket() : new net.Socket({ fd: this.openFd('tcp', upstream.family) });
      } catch {
        done(undefined);
        return;
      }
      exchangeTcp(socket, query, upstream, timeoutMs, done);
    });
  }

  /** Drops the channels of upstreams no longer asked (after the daemon's upstreams change), waiting for none. */
  closeIdle(): void {
    for (const channel of this.channels.values()) if (channel.idle) channel.close();
  }

  /** Closes every channel; queries under way get no answer (undefined) at once. */
  close(): void {
    this.closed = true;
    for (const channel of [...this.channels.values()]) channel.close();
  }

  private skipped(key: string): boolean {
    const until = this.unreachableUntil.get(key);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.unreachableUntil.delete(key);
    return false;
  }

  private udpFd(family: 4 | 6): number {
    return openSocketsInNetns(this.netnsPath, [{ type: 'udp', family }])[0]!.fd;
  }

  private openFd(type: 'udp' | 'tcp', family: 4 | 6): number {
    return openSocketsInNetns(this.netnsPath, [{ type, family }])[0]!.fd;
  }

  /**
   * Calls back whether a query to upstream can get anywhere. From a
   * container's namespace the way out is the host (embedded DNS serves
   * bridge and overlay networks only): where the host has no route, the
   * host's net-unreachable would only be ignored by the UDP socket (the
   * kernel reports port-unreachable alone), and each query would wait out its
   * timeout. The container's own loopback is its own business.
   */
  private checkRoute(upstream: Upstream, callback: (routable: boolean) => void): void {
    if (this.netnsPath === undefined || isLoopback(upstream.address)) callback(true);
    else hostRoutes.check(upstream, callback);
  }
}

/**
 * The queries under way to one upstream over one connected UDP socket,
 * served by the relay's thread: it gives each query an id no other one under
 * way holds, matches answers by id and question, and gives the asker's id
 * back. A port-unreachable from a dead upstream, or an upstream with no
 * route, ends every query under way unanswered and the channel with them.
 */
class UdpChannel {
  private underWay = 0;
  /** Queries asked before the channel is connected (its route is being checked). */
  private queued: (() => void)[] | undefined = [];
  private id: number | undefined;
  private closed = false;

  constructor(
    /** A UDP socket of the right namespace and family, the channel's to close until the relay has it. */
    private readonly fd: number,
    upstream: Upstream,
    checkRoute: (callback: (routable: boolean) => void) => void,
    /** unreachable: closed on an ICMP error or a failed connect, not for a timeout or by its owner. */
    private readonly onClose: (unreachable: boolean) => void,
  ) {
    checkRoute((routable) => {
      if (this.closed) return;
      if (!routable) {
        this.close(true);
        return;
      }
      try {
        this.id = udpRelay().addChannel(fd, upstream, (unreachable) => this.closedByRelay(unreachable));
      } catch {
        this.id = -1; // the relay closed fd
        this.close(true);
        return;
      }
      const queued = this.queued ?? [];
      this.queued = undefined;
      for (const send of queued) send();
    });
  }

  get idle(): boolean {
    return this.underWay === 0;
  }

  exchange(query: Buffer, timeoutMs: number, done: Done, direct: DirectReply | undefined, anyAnswer: boolean): void {
    if (this.closed || query.length < HEADER_SIZE) {
      done(undefined);
      return;
    }
    if (this.queued !== undefined) {
      this.queued.push(() => this.exchange(query, timeoutMs, done, direct, anyAnswer));
      return;
    }
    this.underWay += 1;
    udpRelay().forward(this.id!, query, timeoutMs, anyAnswer, direct, (outcome) => {
      this.underWay -= 1;
      done(outcome);
    });
  }

  close(unreachable = false): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(unreachable);
    if (this.id === undefined) closeSync(this.fd);
    else if (this.id >= 0) udpRelay().closeChannel(this.id); // its queries under way end unanswered
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const send of queued) send();
  }

  /** The relay closed the channel (its queries under way have ended): the id goes back. */
  private closedByRelay(unreachable: boolean): void {
    const id = this.id!;
    this.id = -1;
    this.close(unreachable);
    udpRelay().closeChannel(id);
  }
}

function isLoopback(address: string): boolean {
  return ipaddr.parse(address).range() === 'loopback';
}

/** Whether the daemon's (the host's) namespace has a route to an upstream, asked by connecting a UDP socket (no packet is sent), kept a second. */
class HostRoutes {
  private readonly known = new Map<string, { routable: boolean; until: number }>();

  check(upstream: Upstream, callback: (routable: boolean) => void): void {
    const key = `${upstream.address} ${upstream.port}`;
    const known = this.known.get(key);
    if (known !== undefined && Date.now() < known.until) {
      callback(known.routable);
      return;
    }
    const probe = dgram.createSocket(upstream.family === 4 ? 'udp4' : 'udp6');
    probe.on('error', () => undefined); // the connect's own callback reports what matters
    probe.connect(upstream.port, upstream.address, (error?: NodeJS.ErrnoException | null) => {
      probe.close();
      const code = error?.code;
      const routable = code !== 'ENETUNREACH' && code !== 'EHOSTUNREACH';
      if (this.known.size >= MAX_KNOWN_ROUTES) this.known.clear();
      this.known.set(key, { routable, until: Date.now() + ROUTE_KNOWN_MS });
      callback(routable);
    });
  }
}

const ROUTE_KNOWN_MS = 1_000;
const MAX_KNOWN_ROUTES = 256;
const hostRoutes = new HostRoutes();

/**
 * One question over one TCP connection. It settles exactly once: after that
 * nothing touches the socket again, so no late callback (a connect that
 * failed, a timer that fired first) can write on a closed socket or throw out
 * of an event handler.
 */
function exchangeTcp(socket: net.Socket, query: Buffer, upstream: Upstream, timeoutMs: number, done: Done): void {
  let settled = false;
  const settle = (answer: Buffer | undefined): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    done(answer);
  };
  const step = (action: () => void): void => {
    if (settled) return;
    try {
      action();
    } catch {
      settle(undefined); // a step refused synchronously (a socket Node already closed): unanswered
    }
  };
  const timer = setTimeout(() => settle(undefined), timeoutMs);
  const frames = new FrameReader();
  socket.on('error', () => settle(undefined));
  socket.on('close', () => settle(undefined));
  socket.on('connect', () => step(() => socket.write(frame(query))));
  socket.on('data', (chunk: Buffer) =>
    step(() => {
      for (const message of frames.push(chunk)) {
        if (answers(query, message)) {
          settle(message);
          return;
        }
      }
    }),
  );
  step(() => socket.connect({ host: upstream.address, port: upstream.port, family: upstream.family }));
}
