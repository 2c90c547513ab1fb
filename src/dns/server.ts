/**
 * The embedded DNS server: one UDP and one TCP listener per user-defined
 * network, on the network's gateway address, all in this process. A query is
 * decided for the container that sent it (found by source address) and either
 * answered from the records or forwarded upstream. No packet can stop it: each
 * is handled inside its own catch.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { createRequire } from 'node:module';
import type { Packet } from 'dns-packet';
import { SkiffError } from '../errors.js';
import { DnsRecords } from './records.js';
import { MAX_TCP_SIZE, RCODE, answerQuery, encodeResponse, encodeWithin, errorReply, maxUdpSize, parseQuery, questionEnd } from './answer.js';
import { AnswerCache } from './answer-cache.js';
import { forwardQuery, parseUpstream, type Upstream } from './forward.js';
import { FrameReader, frame } from './framing.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const require = createRequire(import.meta.url);
const ipaddr = require('ipaddr.js') as typeof import('ipaddr.js');
const dnsPacket = require('dns-packet') as typeof import('dns-packet');

/**
 * A container's own loopback upstream (--dns 127.0.0.1) is on the container's
 * loopback, not the daemon's: it is asked at the container's address, whose
 * namespace sends it on to its loopback (see firewall/resolver-redirect.ts), so it is
 * reached as the container would reach it.
 */
export function reachedThroughContainer(upstreams: Upstream[], containerIp: string): Upstream[] {
  return upstreams.map((upstream) =>
    isLoopback(upstream.address) && upstream.family === 4 && ipaddr.isValid(containerIp) ? { ...upstream, address: containerIp } : upstream,
  );
}

function isLoopback(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.parse(address).range() === 'loopback';
}

export interface DnsServerOptions {
  records: DnsRecords;
  /** The daemon's upstream servers, already filtered (no container-unreachable loopback ones). */
  upstreams: string[];
  /** Per upstream attempt. */
  timeoutMs?: number;
  /** Forwarded queries under way at once; past it, REFUSED (Docker's maxConcurrent). */
  maxInFlight?: number;
  /** Idle TCP client connections are closed after this. */
  tcpIdleMs?: number;
  /** 53 unless a test says otherwise. */
  port?: number;
  /** Where failures that concern no single query go (a listener's socket error). */
  onError?: (error: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_IN_FLIGHT = 1_024;
const DEFAULT_TCP_IDLE_MS = 10_000;
const DNS_PORT = 53;

interface Listener {
  address: string;
  udp: dgram.Socket;
  tcp: net.Server;
  connections: Set<net.Socket>;
}

type Transport = 'udp' | 'tcp';

export class DnsServer {
  private readonly records: DnsRecords;
  private upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly tcpIdleMs: number;
  private readonly port: number;
  private readonly onError: (error: Error) => void;
  private readonly listeners = new Map<string, Listener>();
  private inFlight = 0;
  private readonly answers = new AnswerCache();

  constructor(options: DnsServerOptions) {
    this.records = options.records;
    this.upstreams = parseUpstreams(options.upstreams);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.tcpIdleMs = options.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS;
    this.port = options.port ?? DNS_PORT;
    this.onError = options.onError ?? ((error) => console.error(`[resolver] ${error.message}`));
  }

  /** Listens on address:53 (UDP and TCP) for networkId; again with the same address does nothing, with another moves it. */
  async addListener(networkId: string, address: string): Promise<void> {
    const existing = this.listeners.get(networkId);
    if (existing !== undefined) {
      if (existing.address === address) return;
      await this.removeListener(networkId);
    }
    if (!ipaddr.isValid(address)) throw new SkiffError('invalid', `invalid DNS listen address "${address}" for network ${networkId}`);
    const family = ipaddr.parse(address).kind() === 'ipv4' ? 4 : 6;
    const udp = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    const connections = new Set<net.Socket>();
    const tcp = net.createServer((socket) => this.serveConnection(socket, connections));
    try {
      await bindUdp(udp, address, this.port);
      await listenTcp(tcp, address, this.port);
    } catch (error) {
      udp.close();
      tcp.close();
      throw new SkiffError('unavailable', `error in opening name server socket ${address}:${this.port} for network ${networkId}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    udp.on('error', (error) => this.onError(error));
    tcp.on('error', (error) => this.onError(error));
    udp.on('message', (message, remote) => this.serveDatagram(udp, message, remote));
    this.listeners.set(networkId, { address, udp, tcp, connections });
  }

  /** Stops listening for networkId and drops its TCP clients; an unknown network is no error. */
  async removeListener(networkId: string): Promise<void> {
    const listener = this.listeners.get(networkId);
    if (listener === undefined) return;
    this.listeners.delete(networkId);
    for (const connection of listener.connections) connection.destroy();
    await Promise.all([
      new Promise<void>((resolve) => listener.udp.close(() => resolve())),
      new Promise<void>((resolve) => listener.tcp.close(() => resolve())),
    ]);
  }

  /** The daemon's upstreams after a configuration reload; questions already forwarded finish with the old ones. */
  setUpstreams(upstreams: readonly string[]): void {
    this.upstreams = parseUpstreams(upstreams);
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((networkId) => this.removeListener(networkId)));
  }

  private serveDatagram(udp: dgram.Socket, message: Buffer, remote: dgram.RemoteInfo): void {
    try {
      const reply = this.handle(message, remote.address, 'udp');
      if (reply instanceof Promise)
        reply.then(
          (later) => sendDatagram(udp, later, remote),
          (error: Error) => this.onError(error),
        );
      else sendDatagram(udp, reply, remote);
    } catch (error) {
      this.onError(error as Error);
    }
  }

  private serveConnection(socket: net.Socket, connections: Set<net.Socket>): void {
    connections.add(socket);
    const frames = new FrameReader();
    const sourceIp = socket.remoteAddress ?? '';
    const send = (reply: Buffer | undefined): void => {
      if (reply !== undefined && socket.writable) socket.write(frame(reply));
    };
    socket.setTimeout(this.tcpIdleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      for (const message of frames.push(chunk)) {
        try {
          const reply = this.handle(message, sourceIp, 'tcp');
          if (reply instanceof Promise) reply.then(send, (error: Error) => this.onError(error));
          else send(reply);
        } catch (error) {
          this.onError(error as Error);
        }
      }
    });
  }

  /**
   * The reply to one message: at once when decided here, later when
   * forwarded, undefined for no reply. A question this asker asked before
   * (same bytes but the id) while the records stayed the same gets the bytes
   * answered then, with its own id and address order.
   */
  private handle(message: Buffer, sourceIp: string, transport: Transport): Buffer | Promise<Buffer> | undefined {
    const key = AnswerCache.keyOf(message, sourceIp, transport);
    const version = this.records.version;
    if (key !== undefined) {
      const cached = this.answers.reply(key, version, message.readUInt16BE(0));
      if (cached !== undefined) return cached;
    }
    const parsed = parseQuery(message);
    if ('ignore' in parsed) return undefined;
    if ('reply' in parsed) return parsed.reply;
    const { query } = parsed;
    const asker = this.records.askerOf(sourceIp);
    const decision = answerQuery(query, asker, this.records);
    const maxSize = transport === 'udp' ? maxUdpSize(query) : MAX_TCP_SIZE;
    if (!decision.forward) {
      const reply = encodeResponse(message, decision.response, maxSize, transport === 'udp');
      if (key !== undefined) this.answers.store(key, version, reply, questionEnd(message));
      return reply;
    }
    const upstreams = asker?.upstreams === undefined ? this.upstreams : reachedThroughContainer(parseUpstreams(asker.upstreams), sourceIp);
    return this.forward(message, query, upstreams, transport, maxSize);
  }

  private async forward(message: Buffer, query: Packet, upstreams: Upstream[], transport: Transport, maxSize: number): Promise<Buffer> {
    if (upstreams.length === 0) return errorReply(query, RCODE.SERVFAIL);
    if (this.inFlight >= this.maxInFlight) return errorReply(query, RCODE.REFUSED);
    this.inFlight += 1;
    try {
      const answer = await forwardQuery(message, upstreams, { tcp: transport === 'tcp', timeoutMs: this.timeoutMs });
      if (answer === undefined) return errorReply(query, RCODE.SERVFAIL);
      if (answer.length <= maxSize) return answer;
      return truncated(answer, query, maxSize);
    } finally {
      this.inFlight -= 1;
    }
  }
}

function sendDatagram(udp: dgram.Socket, reply: Buffer | undefined, remote: dgram.RemoteInfo): void {
  if (reply === undefined) return;
  try {
    // No callback: a send failure is an 'error' event, reported by onError.
    udp.send(reply, remote.port, remote.address);
  } catch {
    // The listener closed while the answer was on its way upstream: nobody to answer on.
  }
}

function parseUpstreams(specs: readonly string[]): Upstream[] {
  return specs.map(parseUpstream).filter((upstream): upstream is Upstream => upstream !== undefined);
}

/** An upstream's answer too big for the client's UDP size (it came over TCP): trimmed, with TC set. */
function truncated(answer: Buffer, query: Packet, maxSize: number): Buffer {
  try {
    return encodeWithin(dnsPacket.decode(answer), maxSize, true);
  } catch {
    return errorReply(query, RCODE.SERVFAIL); // an upstream answer too malformed to trim: the client gets a failure, not garbage
  }
}

function bindUdp(socket: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function listenTcp(server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
