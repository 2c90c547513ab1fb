import { createRequire } from 'node:module';
/**
 * Forwarding a query to upstream servers, as Docker's resolver does: at most
 * three, one after the other, a timeout each; UDP queries over UDP (a
 * truncated answer is asked again over TCP), TCP queries over TCP. The query's
 * bytes go out unchanged and the chosen answer's bytes come back unchanged, so
 * the client's id and question are kept without re-encoding.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { RCODE } from './answer.js';
import { FrameReader, frame } from './framing.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

/** Docker's maxExtDNS. */
export const MAX_UPSTREAMS = 3;
const DNS_PORT = 53;

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
}

/**
 * The first good answer (NOERROR, or an authoritative NXDOMAIN: RFC 8020) from
 * the upstreams in order; failing that, the last answer any of them gave
 * (SERVFAIL, REFUSED, …); undefined when none answered at all.
 */
export async function forwardQuery(query: Buffer, upstreams: readonly Upstream[], options: ForwardOptions): Promise<Buffer | undefined> {
  let fallback: Buffer | undefined;
  for (const upstream of upstreams.slice(0, MAX_UPSTREAMS)) {
    let answer = options.tcp ? await exchangeTcp(query, upstream, options.timeoutMs) : await exchangeUdp(query, upstream, options.timeoutMs);
    if (answer !== undefined && !options.tcp && isTruncated(answer)) {
      answer = (await exchangeTcp(query, upstream, options.timeoutMs)) ?? answer;
    }
    if (answer === undefined) continue;
    if (isFinal(answer)) return answer;
    fallback = answer;
  }
  return fallback;
}

function isTruncated(answer: Buffer): boolean {
  return (answer.readUInt16BE(2) & 0x0200) !== 0;
}

function isFinal(answer: Buffer): boolean {
  const flags = answer.readUInt16BE(2);
  const rcode = flags & 0x000f;
  const authoritative = (flags & 0x0400) !== 0;
  return rcode === RCODE.NOERROR || (rcode === RCODE.NXDOMAIN && authoritative);
}

/** An answer to `query`: a response with the same id. Anything else on the wire is not ours. */
function answers(query: Buffer, candidate: Buffer): boolean {
  return candidate.length >= 12 && candidate.readUInt16BE(0) === query.readUInt16BE(0) && (candidate.readUInt16BE(2) & 0x8000) !== 0;
}

/**
 * One question to one upstream. The exchange owns its socket, its timer and
 * its outcome, and settles exactly once: after that nothing touches the
 * socket again, so no late callback (a connect that failed, a timer that
 * fired first) can send on a closed socket or throw out of an event handler.
 */
class Exchange {
  private settled = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    timeoutMs: number,
    private readonly release: () => void,
    private readonly resolve: (answer: Buffer | undefined) => void,
  ) {
    this.timer = setTimeout(() => this.settle(undefined), timeoutMs);
  }

  settle(answer: Buffer | undefined): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    try {
      this.release();
    } catch {
      // Closing a socket Node already closed (an error on it did) is no failure of the exchange.
    }
    this.resolve(answer);
  }

  /** Runs a step on the socket while the exchange is open; a step that throws ends it unanswered. */
  step(action: () => void): void {
    if (this.settled) return;
    try {
      action();
    } catch {
      // A step refused synchronously (a socket Node already closed): the exchange ends unanswered.
      this.settle(undefined);
    }
  }
}

/**
 * One UDP exchange on a connected socket of its own: a port-unreachable from a
 * dead upstream surfaces as ECONNREFUSED at once instead of a timeout, and an
 * upstream with no route fails the connect at once.
 */
function exchangeUdp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(upstream.family === 4 ? 'udp4' : 'udp6');
    const exchange = new Exchange(timeoutMs, () => socket.close(), resolve);
    socket.on('error', () => exchange.settle(undefined));
    socket.on('message', (message) => {
      if (answers(query, message)) exchange.settle(message);
    });
    exchange.step(() =>
      socket.connect(upstream.port, upstream.address, (error?: Error) => {
        // Node calls this with the error when the connect failed (ENETUNREACH): the socket is not connected then.
        if (error !== undefined && error !== null) {
          exchange.settle(undefined);
          return;
        }
        exchange.step(() =>
          socket.send(query, (sendError) => {
            if (sendError) exchange.settle(undefined);
          }),
        );
      }),
    );
  });
}

function exchangeTcp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = new net.Socket();
    const exchange = new Exchange(timeoutMs, () => socket.destroy(), resolve);
    const frames = new FrameReader();
    socket.on('error', () => exchange.settle(undefined));
    socket.on('close', () => exchange.settle(undefined));
    socket.on('connect', () => exchange.step(() => socket.write(frame(query))));
    socket.on('data', (chunk: Buffer) =>
      exchange.step(() => {
        for (const message of frames.push(chunk)) {
          if (answers(query, message)) {
            exchange.settle(message);
            return;
          }
        }
      }),
    );
    exchange.step(() => socket.connect({ host: upstream.address, port: upstream.port, family: upstream.family }));
  });
}
