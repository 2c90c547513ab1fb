/**
 * The daemon's side of the DNS relay thread (kernel/native/dns-relay.c):
 * upstream channels and duplicates of container resolvers' UDP sockets
 * handed to it, queries sent through it, and its events turned back into
 * calls. The thread receives and sends in batches; what to do with a query,
 * an answer, a timeout or an ICMP error is still decided here, in server.ts
 * and forward.ts, except in the one common case TypeScript allowed
 * beforehand: an answer that would be the last word goes straight to the
 * asker, and the query only hears "relayed".
 */
import { relayBinding, type RelayBinding } from '../kernel/netns-sockets.js';
import type { Upstream } from './forward.js';

/** What became of one query sent through the relay: the answer, none (timed out, unreachable, closed), or sent to the asker already. */
export type RelayOutcome = Buffer | undefined | typeof RELAYED;
export const RELAYED = 'relayed';

/** Where an answer may go without a trip through the event loop: a listener the relay holds, and the asker (family 4 or 6, 0, port big-endian, 16 address bytes) as the fast path gave it. */
export interface DirectReply {
  listener: number;
  asker: Buffer;
  /** The asker's UDP size: a bigger answer is trimmed by the server, not relayed. */
  maxSize: number;
}

/** The event kinds of dns-relay.c. */
export const RelayEventKind = { relayed: 0, answer: 1, unanswered: 2, channelClosed: 3 } as const;

const EVENT_HEADER_SIZE = 8;
/**
 * Calls visit for each event of a batch (dns-relay.c's layout: u32 token,
 * u8 kind, u8 flag, u16 length, then that many bytes: an answer); the bytes
 * are a view into events, not a copy. A
 * batch cut short ends the walk.
 */
export function forEachRelayEvent(events: Buffer, visit: (token: number, kind: number, flag: number, answer: Buffer | undefined) => void): void {
  let offset = 0;
  while (offset + EVENT_HEADER_SIZE <= events.length) {
    const token = events.readUInt32LE(offset);
    const kind = events[offset + 4]!;
    const flag = events[offset + 5]!;
    const length = events.readUInt16LE(offset + 6);
    const start = offset + EVENT_HEADER_SIZE;
    if (start + length > events.length) return;
    visit(token, kind, flag, length === 0 ? undefined : events.subarray(start, start + length));
    offset = start + length;
  }
}

class Relay {
  private readonly waiting = new Map<number, (outcome: RelayOutcome) => void>();
  private readonly channels = new Map<number, (unreachable: boolean) => void>();
  private nextToken = 1;
  private referenced = false;

  constructor(private readonly binding: RelayBinding) {
    binding.relayStart((events) => this.dispatch(events));
  }

  /**
   * Connects fd (a UDP socket, the relay's from now on) to upstream; onClosed
   * is called when the relay closes the channel itself (unreachable: an ICMP
   * error or a failed send; otherwise a timeout with nothing else under way).
   * Throws when the connect fails (fd is closed then too).
   */
  addChannel(fd: number, upstream: Upstream, onClosed: (unreachable: boolean) => void): number {
    const id = this.binding.relayAddChannel(fd, upstream.address, upstream.port);
    this.channels.set(id, onClosed);
    return id;
  }

  /** Its queries under way end unanswered (as events, soon after). */
  closeChannel(id: number): void {
    this.channels.delete(id);
    this.binding.relayClose(0, id);
  }

  /** The relay holds a duplicate of fd, a UDP socket, to send forwarded answers from straight to their askers. */
  addListener(fd: number): number {
    return this.binding.relayAddListener(fd);
  }

  /** Answers on their way to it are dropped. */
  closeListener(id: number): void {
    this.binding.relayClose(1, id);
  }

  /** Sends query on channel; done is called once, from a later turn of the event loop (or at once when the relay has no room). */
  forward(channel: number, query: Buffer, timeoutMs: number, anyAnswer: boolean, direct: DirectReply | undefined, done: (outcome: RelayOutcome) => void): void {
    const token = this.nextToken;
    this.nextToken = this.nextToken >= 0xffffffff ? 1 : this.nextToken + 1;
    const sent = this.binding.relayForward(channel, query, token, timeoutMs, anyAnswer, direct?.listener ?? -1, direct?.asker ?? null, direct?.maxSize ?? 0);
    if (!sent) {
      done(undefined);
      return;
    }
    this.waiting.set(token, done);
    if (!this.referenced) {
      this.referenced = true;
      this.binding.relayRef(true);
    }
  }

  private dispatch(events: Buffer): void {
    forEachRelayEvent(events, this.deliver);
    if (this.referenced && this.waiting.size === 0) {
      this.referenced = false;
      this.binding.relayRef(false);
    }
  }

  /** One event to whom it concerns; its handling fails alone, and the rest of the batch is still delivered. */
  private readonly deliver = (token: number, kind: number, flag: number, payload: Buffer | undefined): void => {
    try {
      if (kind === RelayEventKind.channelClosed) {
        const onClosed = this.channels.get(token);
        if (onClosed === undefined) return; // closed by its owner meanwhile
        this.channels.delete(token);
        onClosed(flag !== 0);
      } else {
        const done = this.waiting.get(token);
        if (done === undefined) return;
        this.waiting.delete(token);
        done(kind === RelayEventKind.relayed ? RELAYED : kind === RelayEventKind.answer ? payload : undefined);
      }
    } catch (error) {
      console.error(`[resolver] ${(error as Error).message}`);
    }
  };
}

let relay: Relay | undefined;

/** The process's one relay, started on first use. */
export function udpRelay(): Relay {
  relay ??= new Relay(relayBinding());
  return relay;
}
