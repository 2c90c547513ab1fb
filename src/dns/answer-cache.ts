/**
 * Local answers kept as the bytes that were sent, so a question asked again
 * by the same container is answered without decoding, deciding or encoding:
 * the profile of a name lookup under dnsperf shows that work as most of
 * what the daemon itself (not the kernel) spends per packet.
 *
 * A reply depends only on the query's bytes after its id (flags, question,
 * EDNS size), on who asks (the source address), on the transport (UDP
 * truncates at the client's size) and on the records; so the key is the
 * first three and any change to the records empties the cache. The reply is
 * the stored bytes with the query's id written in, and, when the answer has
 * several addresses, its records put in the order the server chose for this
 * one answer (each answer still gets its own order).
 *
 * A question that was forwarded is kept too, with the asker's UDP size: asked
 * again, it goes upstream without being decoded or decided afresh (the same
 * key, the same records, the same decision).
 */
import { shuffle } from './answer.js';

/** A source address asking for many names must not grow this without end; past it the cache starts over. */
const MAX_ENTRIES = 1_024;

interface CachedAnswer {
  /** The reply as first encoded; its id is overwritten per answer. */
  bytes: Buffer;
  /** Where the answer records begin, and each one's size: set only when there are several, all of one size. */
  recordsAt: number;
  recordSize: number;
  count: number;
}

const HEADER_SIZE = 12;
const ANSWER_COUNT_AT = 6;
/** A compressed A record: name pointer, type, class, ttl, length, 4 bytes; AAAA: 16 bytes of address. */
const A_RECORD_SIZE = 16;
const AAAA_RECORD_SIZE = 28;
const QUESTION_POINTER = 0xc000 | HEADER_SIZE;

export class AnswerCache {
  private readonly entries = new Map<string, CachedAnswer>();
  /** Forwarded questions: the asker's largest UDP answer. */
  private readonly forwarded = new Map<string, number>();
  private version = -1;

  /** The key of a query (its bytes after the id, who asks, the transport); undefined for what is never kept. */
  static keyOf(message: Buffer, sourceIp: string, transport: 'udp' | 'tcp'): string | undefined {
    if (message.length <= HEADER_SIZE) return undefined;
    return `${transport} ${sourceIp} ${message.toString('latin1', 2)}`;
  }

  /**
   * The reply to a query whose key was seen at this records version, with
   * id written in and several addresses in an order drawn anew (as answerQuery
   * shuffles them); undefined when it must be decided afresh.
   */
  reply(key: string, recordsVersion: number, id: number, random: () => number = Math.random): Buffer | undefined {
    if (!this.sameVersion(recordsVersion)) return undefined;
    const cached = this.entries.get(key);
    if (cached === undefined) return undefined;
    const reply = Buffer.allocUnsafe(cached.bytes.length);
    if (cached.count < 2) {
      cached.bytes.copy(reply);
    } else {
      cached.bytes.copy(reply, 0, 0, cached.recordsAt);
      const order = shuffle(
        Array.from({ length: cached.count }, (_, index) => index),
        random,
      );
      for (let index = 0; index < cached.count; index++) {
        const from = cached.recordsAt + order[index]! * cached.recordSize;
        cached.bytes.copy(reply, cached.recordsAt + index * cached.recordSize, from, from + cached.recordSize);
      }
    }
    reply.writeUInt16BE(id, 0);
    return reply;
  }

  /**
   * Keeps a local answer decided at recordsVersion. One with several
   * addresses is kept only when its records are where the fast encoder puts
   * them (all of one size, straight after the question), so they can be
   * reordered per answer; otherwise it is decided afresh each time.
   */
  store(key: string, recordsVersion: number, reply: Buffer, questionEnd: number): void {
    this.sameVersion(recordsVersion);
    const count = reply.length >= HEADER_SIZE ? reply.readUInt16BE(ANSWER_COUNT_AT) : 0;
    let recordSize = 0;
    if (count >= 2) {
      // The fast encoder names each record by a pointer to the question; dns-packet never compresses.
      recordSize = (reply.length - questionEnd) / count;
      if (questionEnd < HEADER_SIZE || reply.length < questionEnd + 2 || reply.readUInt16BE(questionEnd) !== QUESTION_POINTER) return;
      if (recordSize !== A_RECORD_SIZE && recordSize !== AAAA_RECORD_SIZE) return;
    }
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { bytes: reply, recordsAt: questionEnd, recordSize, count });
  }

  /** The asker's UDP size when this question was forwarded at this records version; undefined when it must be decided afresh. */
  forwardedSize(key: string, recordsVersion: number): number | undefined {
    return this.sameVersion(recordsVersion) ? this.forwarded.get(key) : undefined;
  }

  /** Keeps a question decided at recordsVersion to be forwarded, with the asker's UDP size. */
  storeForwarded(key: string, recordsVersion: number, maxSize: number): void {
    this.sameVersion(recordsVersion);
    if (this.forwarded.size >= MAX_ENTRIES) this.forwarded.clear();
    this.forwarded.set(key, maxSize);
  }

  /** Whether what is kept was decided at recordsVersion; when not, it is all dropped and the version taken. */
  private sameVersion(recordsVersion: number): boolean {
    if (recordsVersion === this.version) return true;
    this.entries.clear();
    this.forwarded.clear();
    this.version = recordsVersion;
    return false;
  }
}
