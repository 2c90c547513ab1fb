/**
 * The embedded DNS server, all on the daemon's event loop. Two kinds of
 * listener share one answer path:
 *  - a resolver per container network namespace (Docker's design): UDP and
 *    TCP sockets made inside the container's namespace on 127.0.0.11, which
 *    know their asker, and forward from that namespace;
 *  - a listener on an address of the daemon's namespace, which finds the
 *    asker by the query's source address and forwards from the daemon's.
 * A query is decided for its asker and either answered from the records or
 * forwarded upstream, through the relay's thread (relay.ts), which sends a
 * forwarded query's final answer from a container resolver's socket to the
 * asker itself. A container resolver's UDP socket is served by the addon's
 * fast path (kernel/dns-fastpath.ts), which answers a query asked before
 * with the reply kept for it here, and hands over the rest. No packet can
 * stop it: each is handled inside its own catch.
 */
import dgram from 'node:dgram';
import { closeSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import { createRequire } from 'node:module';
import type { Packet } from 'dns-packet';
import { SkiffError } from '../errors.js';
import { openSocketsInNetns } from '../kernel/netns-sockets.js';
import { fastPathBinding, forEachQuery } from '../kernel/dns-fastpath.js';
import { DnsRecords, type Asker } from './records.js';
import { MAX_TCP_SIZE, RCODE, answerQuery, encodeResponse, encodeWithin, errorReply, maxUdpSize, parseQuery, questionEnd } from './answer.js';
import { AnswerCache } from './answer-cache.js';
import { forwardQuery, parseUpstream, UpstreamSockets, type Upstream } from './forward.js';
import { RELAYED, udpRelay, type DirectReply } from './relay.js';
import { FrameReader, frame } from './framing.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const require = createRequire(import.meta.url);
const ipaddr = require('ipaddr.js') as typeof import('ipaddr.js');
const dnsPacket = require('dns-packet') as typeof import('dns-packet');

/** Where a container's resolver listens inside its namespace: Docker's address (lo's 127.0.0.0/8 holds it). */
export const RESOLVER_ADDRESS = '127.0.0.11';

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
  /** 53 unless a test says otherwise (address listeners). */
  port?: number;
  /** Where failures that concern no single query go (a listener's socket error). */
  onError?: (error: Error) => void;
}

/** The ports the kernel gave a container's resolver on 127.0.0.11; 127.0.0.11:53 in the namespace is redirected to them. */
export interface ResolverPorts {
  udp: number;
  tcp: number;
}

const DEFAULT_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_IN_FLIGHT = 1_024;
const DEFAULT_TCP_IDLE_MS = 10_000;
const DNS_PORT = 53;
const HEADER_SIZE = 12;
const ANSWER_COUNT_AT = 6;

type Transport = 'udp' | 'tcp';
/** keep: the reply is a local answer, the same for this query's bytes after its id until the records change. */
type Reply = (reply: Buffer | undefined, keep?: boolean) => void;

/** A pair of sockets answering queries, and whom for. */
abstract class Listener {
  readonly connections = new Set<net.Socket>();

  constructor(
    readonly tcp: net.Server,
    readonly forwardFrom: UpstreamSockets,
  ) {}

  /** Who asks, from the query's source address. */
  abstract askerOf(sourceIp: string): Asker | undefined;
  /** The answer cache's name for that asker. */
  abstract cacheName(sourceIp: string): string;
  /** The relay's id for a duplicate of the UDP socket, when it has one: forwarded answers may go from there straight to the asker. */
  abstract get relayListener(): number | undefined;

  protected abstract closeUdp(): Promise<void>;

  close(): Promise<void> {
    for (const connection of this.connections) connection.destroy();
    this.forwardFrom.close();
    return Promise.all([this.closeUdp(), new Promise<void>((resolve) => this.tcp.close(() => resolve()))]).then(() => undefined);
  }
}

/** On an address of the daemon's namespace: the asker is whoever owns the source address. */
class AddressListener extends Listener {
  constructor(
    readonly address: string,
    readonly udp: dgram.Socket,
    tcp: net.Server,
    private readonly records: DnsRecords,
  ) {
    super(tcp, new UpstreamSockets(undefined));
  }

  askerOf(sourceIp: string): Asker | undefined {
    return this.records.askerOf(sourceIp);
  }

  cacheName(sourceIp: string): string {
    return sourceIp;
  }

  get relayListener(): undefined {
    return undefined;
  }

  protected closeUdp(): Promise<void> {
    return new Promise<void>((resolve) => this.udp.close(() => resolve()));
  }
}

/**
 * Inside a container's namespace: everything that reaches it comes from that
 * container. Its UDP socket is the fast path's, on the event loop's thread:
 * what it cannot answer from the replies kept for it comes to
 * onQueries, and the answers decided here go back through it. The relay
 * holds a duplicate of that socket to send forwarded answers from, straight
 * to the asker. (Receiving on the relay's thread instead cost names 10% of
 * their rate on two cores: one more thread to wake per batch.)
 */
class ContainerResolver extends Listener {
  readonly relayListener: number;
  private readonly udpListener: number;

  constructor(
    readonly ports: ResolverPorts,
    udpFd: number,
    onQueries: (resolver: ContainerResolver, batch: Buffer) => void,
    tcp: net.Server,
    netnsPath: string,
    private readonly containerId: string,
    private readonly name: string,
    private readonly records: DnsRecords,
  ) {
    super(tcp, new UpstreamSockets(netnsPath));
    this.relayListener = udpRelay().addListener(udpFd);
    try {
      this.udpListener = fastPathBinding().fastpathOpen(udpFd, (batch) => onQueries(this, batch));
    } catch (error) {
      udpRelay().closeListener(this.relayListener);
      throw error;
    }
  }

  /**
   * Sends reply to asker (the relay's form of an address); a kept one
   * answers message's bytes after the id from now on, without JavaScript,
   * until the records change: only replies with at most one record, since
   * several addresses are put in a new order for every answer (answer.ts).
   */
  sendUdp(asker: Buffer, reply: Buffer, message: Buffer, keep: boolean): number {
    const kept = keep && reply.length >= HEADER_SIZE && reply.readUInt16BE(ANSWER_COUNT_AT) < 2;
    return fastPathBinding().fastpathSend(this.udpListener, asker, reply, kept ? message : null);
  }

  askerOf(): Asker | undefined {
    return this.records.askerOfContainer(this.containerId);
  }

  cacheName(): string {
    return this.name;
  }

  protected closeUdp(): Promise<void> {
    udpRelay().closeListener(this.relayListener);
    fastPathBinding().fastpathClose(this.udpListener);
    return Promise.resolve();
  }
}

export class DnsServer {
  private readonly records: DnsRecords;
  private upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly tcpIdleMs: number;
  private readonly port: number;
  private readonly onError: (error: Error) => void;
  private readonly listeners = new Map<string, AddressListener>();
  private readonly resolvers = new Map<string, ContainerResolver>();
  private resolversOpened = 0;
  private inFlight = 0;
  private readonly answers = new AnswerCache();
  private readonly stopWatchingRecords: () => void;

  constructor(options: DnsServerOptions) {
    this.records = options.records;
    // The fast path's kept replies were decided from the records as they were.
    this.stopWatchingRecords = this.records.onChange(() => {
      if (this.resolvers.size > 0) fastPathBinding().fastpathClear();
    });
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
    const udp = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', lookup: literalAddress });
    const tcp = net.createServer();
    try {
      await bindUdp(udp, { address, port: this.port, exclusive: true });
      await listenTcp(tcp, { host: address, port: this.port, exclusive: true });
    } catch (error) {
      udp.close();
      tcp.close();
      throw new SkiffError('unavailable', `error in opening name server socket ${address}:${this.port} for network ${networkId}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const listener = new AddressListener(address, udp, tcp, this.records);
    this.serve(listener);
    this.listeners.set(networkId, listener);
  }

  /** Stops listening for networkId and drops its TCP clients; an unknown network is no error. */
  async removeListener(networkId: string): Promise<void> {
    const listener = this.listeners.get(networkId);
    if (listener === undefined) return;
    this.listeners.delete(networkId);
    await listener.close();
  }

  /**
   * Opens the resolver of the container containerId inside the namespace at
   * netnsPath: UDP and TCP on 127.0.0.11, ports chosen by the kernel unless
   * `wanted` names free ones (a restarted daemon takes its ports back, so
   * the redirect and the kernel's connection tracking stay right).
   * Synchronous: the sockets are bound and the TCP one listens when this
   * returns, so a lookup made from then on waits in the kernel for the event
   * loop. An open resolver is kept as it is.
   */
  openResolver(netnsPath: string, containerId: string, wanted?: ResolverPorts): ResolverPorts {
    const existing = this.resolvers.get(netnsPath);
    if (existing !== undefined) return existing.ports;
    const spec = (type: 'udp' | 'tcp', port: number) => ({ type, family: 4 as const, address: RESOLVER_ADDRESS, port, listen: type === 'tcp' });
    let opened;
    try {
      opened = openSocketsInNetns(netnsPath, [spec('udp', wanted?.udp ?? 0), spec('tcp', wanted?.tcp ?? 0)]);
    } catch (error) {
      if (wanted === undefined) throw error;
      opened = openSocketsInNetns(netnsPath, [spec('udp', 0), spec('tcp', 0)]); // taken since: any ports will do
    }
    const [udpSocket, tcpSocket] = opened as [{ fd: number; port: number }, { fd: number; port: number }];
    this.resolversOpened += 1;
    let resolver: ContainerResolver;
    try {
      resolver = new ContainerResolver(
        { udp: udpSocket.port, tcp: tcpSocket.port },
        udpSocket.fd,
        (listener, batch) => this.serveBatch(listener, batch),
        net.createServer(),
        netnsPath,
        containerId,
        `#${this.resolversOpened}`,
        this.records,
      );
    } catch (error) {
      closeSync(udpSocket.fd);
      closeSync(tcpSocket.fd);
      throw new SkiffError('unavailable', `error in opening the resolver in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
    }
    resolver.tcp.listen({ fd: tcpSocket.fd });
    this.serveTcp(resolver);
    this.resolvers.set(netnsPath, resolver);
    return resolver.ports;
  }

  /** Closes the resolver of the namespace at netnsPath (its sockets and its upstream sockets); none open is no error. */
  async closeResolver(netnsPath: string): Promise<void> {
    const resolver = this.resolvers.get(netnsPath);
    if (resolver === undefined) return;
    this.resolvers.delete(netnsPath);
    await resolver.close();
  }

  /** The ports of the resolver open in the namespace at netnsPath. */
  resolverPorts(netnsPath: string): ResolverPorts | undefined {
    return this.resolvers.get(netnsPath)?.ports;
  }

  /** The daemon's upstreams after a configuration reload; questions already forwarded finish with the old ones. */
  setUpstreams(upstreams: readonly string[]): void {
    this.upstreams = parseUpstreams(upstreams);
    for (const listener of [...this.listeners.values(), ...this.resolvers.values()]) listener.forwardFrom.closeIdle();
  }

  async close(): Promise<void> {
    this.stopWatchingRecords();
    const listeners = [...this.listeners.values(), ...this.resolvers.values()];
    this.listeners.clear();
    this.resolvers.clear();
    await Promise.all(listeners.map((listener) => listener.close()));
  }

  private serve(listener: AddressListener): void {
    listener.udp.on('error', (error) => this.onError(error));
    listener.udp.on('message', (message, remote) => this.serveDatagram(listener, message, remote));
    this.serveTcp(listener);
  }

  private serveTcp(listener: Listener): void {
    listener.tcp.on('error', (error) => this.onError(error));
    listener.tcp.on('connection', (socket) => this.serveConnection(listener, socket));
  }

  private serveDatagram(listener: AddressListener, message: Buffer, remote: dgram.RemoteInfo): void {
    try {
      this.handle(listener, message, remote.address, 'udp', (reply) => sendDatagram(listener.udp, reply, remote));
    } catch (error) {
      this.onError(error as Error);
    }
  }

  /** What a resolver's fast path could not answer itself, one readiness's worth. */
  private serveBatch(resolver: ContainerResolver, batch: Buffer): void {
    forEachQuery(batch, (asker, message) => {
      const reply: Reply = (bytes, keep = false) => {
        if (bytes === undefined) return;
        const failed = resolver.sendUdp(asker, bytes, message, keep);
        // EAGAIN: a full socket buffer loses the datagram, as any; EBADF: the resolver closed while the answer was upstream, nobody to answer.
        if (failed !== 0 && failed !== constants.errno.EAGAIN && failed !== constants.errno.EBADF)
          this.onError(new Error(`failed to send a DNS answer from the resolver on port ${resolver.ports.udp}: errno ${failed}`));
      };
      try {
        this.handle(resolver, message, '', 'udp', reply, asker);
      } catch (error) {
        this.onError(error as Error);
      }
    });
  }

  private serveConnection(listener: Listener, socket: net.Socket): void {
    listener.connections.add(socket);
    const frames = new FrameReader();
    const sourceIp = socket.remoteAddress ?? '';
    const send = (reply: Buffer | undefined): void => {
      if (reply !== undefined && socket.writable) socket.write(frame(reply));
    };
    socket.setTimeout(this.tcpIdleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => listener.connections.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      for (const message of frames.push(chunk)) {
        try {
          this.handle(listener, message, sourceIp, 'tcp', send);
        } catch (error) {
          this.onError(error as Error);
        }
      }
    });
  }

  /**
   * Replies to one message, at once when decided here, later when
   * forwarded (undefined: no reply). A question this asker asked before
   * (same bytes but the id) while the records stayed the same gets the bytes
   * answered then, with its own id and address order. udpAsker: where a UDP
   * query came from, in the relay's form, when the relay may answer it.
   */
  private handle(listener: Listener, message: Buffer, sourceIp: string, transport: Transport, reply: Reply, udpAsker?: Buffer): void {
    const key = AnswerCache.keyOf(message, listener.cacheName(sourceIp), transport);
    const version = this.records.version;
    if (key !== undefined) {
      const cached = this.answers.reply(key, version, message.readUInt16BE(0));
      if (cached !== undefined) return reply(cached, true);
      const forwardedSize = this.answers.forwardedSize(key, version);
      if (forwardedSize !== undefined) return this.forward(listener, message, () => decodedQuery(message), sourceIp, transport, forwardedSize, reply, udpAsker);
    }
    const parsed = parseQuery(message);
    if ('ignore' in parsed) return;
    if ('reply' in parsed) return reply(parsed.reply);
    const { query } = parsed;
    const asker = listener.askerOf(sourceIp);
    const decision = answerQuery(query, asker, this.records);
    const maxSize = transport === 'udp' ? maxUdpSize(query) : MAX_TCP_SIZE;
    if (!decision.forward) {
      const encoded = encodeResponse(message, decision.response, maxSize, transport === 'udp');
      if (key !== undefined) this.answers.store(key, version, encoded, questionEnd(message));
      return reply(encoded, true);
    }
    if (key !== undefined) this.answers.storeForwarded(key, version, maxSize);
    this.forward(listener, message, () => query, sourceIp, transport, maxSize, reply, udpAsker);
  }

  /** Sends message upstream for its asker; query is its decoding, made only when an error reply or a trimmed answer needs it. */
  private forward(
    listener: Listener,
    message: Buffer,
    query: () => Packet,
    sourceIp: string,
    transport: Transport,
    maxSize: number,
    reply: Reply,
    udpAsker: Buffer | undefined,
  ): void {
    const asker = listener.askerOf(sourceIp);
    const upstreams = asker?.upstreams === undefined ? this.upstreams : parseUpstreams(asker.upstreams);
    if (upstreams.length === 0) return reply(errorReply(query(), RCODE.SERVFAIL));
    if (this.inFlight >= this.maxInFlight) return reply(errorReply(query(), RCODE.REFUSED));
    const relayListener = listener.relayListener;
    const direct: DirectReply | undefined =
      udpAsker !== undefined && relayListener !== undefined ? { listener: relayListener, asker: udpAsker, maxSize } : undefined;
    this.inFlight += 1;
    forwardQuery(message, upstreams, { tcp: transport === 'tcp', timeoutMs: this.timeoutMs, direct }, listener.forwardFrom, (answer) => {
      this.inFlight -= 1;
      if (answer === RELAYED) return;
      try {
        if (answer === undefined) reply(errorReply(query(), RCODE.SERVFAIL));
        else reply(answer.length <= maxSize ? answer : truncated(answer, query(), maxSize));
      } catch (error) {
        this.onError(error as Error);
      }
    });
  }
}

/**
 * The lookup of a reply's destination, which is always the address a query
 * came from: a literal, handed back at once. Node's default (dns.lookup)
 * would defer every reply to the next tick to say the same.
 */
function literalAddress(address: string, _family: unknown, callback: (error: Error | null, address: string, family: number) => void): void {
  callback(null, address, address.includes(':') ? 6 : 4);
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

/** A query decoded before (its decision is cached), decoded again for an error reply. */
function decodedQuery(message: Buffer): Packet {
  const parsed = parseQuery(message);
  if ('query' in parsed) return parsed.query;
  throw new Error('a forwarded query no longer decodes');
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

function bindUdp(socket: dgram.Socket, options: dgram.BindOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(options, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function listenTcp(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
