/**
 * Forwarding a query to upstream servers, as Docker's resolver does: at most
 * three, one after the other, a timeout each; UDP queries over UDP (a
 * truncated answer is asked again over TCP), TCP queries over TCP. The query's
 * bytes go out unchanged and the chosen answer's bytes come back unchanged, so
 * the client's id and question are kept without re-encoding.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { RCODE } from './answer.js';
import { FrameReader, frame } from './framing.js';

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
 * One UDP exchange on a connected socket of its own: a port-unreachable from a
 * dead upstream surfaces as ECONNREFUSED at once instead of a timeout.
 */
function exchangeUdp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(upstream.family === 4 ? 'udp4' : 'udp6');
    let settled = false;
    const finish = (answer: Buffer | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('error', () => finish(undefined));
    socket.on('message', (message) => {
      if (answers(query, message)) finish(message);
    });
    socket.connect(upstream.port, upstream.address, () => {
      socket.send(query, (error) => {
        if (error) finish(undefined);
      });
    });
  });
}

function exchangeTcp(query: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: upstream.address, port: upstream.port, family: upstream.family });
    const frames = new FrameReader();
    let settled = false;
    const finish = (answer: Buffer | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('connect', () => socket.write(frame(query)));
    socket.on('data', (chunk: Buffer) => {
      for (const message of frames.push(chunk)) {
        if (answers(query, message)) {
          finish(message);
          return;
        }
      }
    });
  });
}
