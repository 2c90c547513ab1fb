/**
 * What the embedded DNS server says to one query from one container: pure
 * decisions over the records (Docker's libnetwork resolver.go and
 * sandbox.ResolveName are the reference). A query is answered here when the
 * name belongs to a network the asking container is on; everything else is
 * forwarded.
 */
import { createRequire } from 'node:module';
import type { Packet, Question, Answer } from 'dns-packet';
import type { Asker, DnsEndpoint, DnsRecords } from './records.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const require = createRequire(import.meta.url);
const ipaddr = require('ipaddr.js') as typeof import('ipaddr.js');
const dnsPacket = require('dns-packet') as typeof import('dns-packet');

/** Docker's respTTL. */
export const RESPONSE_TTL = 600;
/** A UDP answer larger than this is truncated unless the query's EDNS allows more (Docker's defaultRespSize). */
export const DEFAULT_UDP_SIZE = 512;
export const MAX_TCP_SIZE = 65_535;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const QR = 1 << 15;
const OPCODE_MASK = 0x7800;
const TRUNCATED = dnsPacket.TRUNCATED_RESPONSE;
const RECURSION = dnsPacket.RECURSION_DESIRED;
const REPLY_FLAGS = dnsPacket.RECURSION_AVAILABLE;

export type Decision = { forward: false; response: Packet } | { forward: true };

/** A parsed incoming packet: a query to decide on, a reply to send at once, or nothing to say. */
export type Parsed = { query: Packet } | { reply: Buffer } | { ignore: true };

/**
 * Decodes one incoming packet. Responses are ignored (never answer an answer:
 * no reflection loops); undecodable queries get FORMERR when their header is
 * readable, other opcodes NOTIMP.
 */
export function parseQuery(message: Buffer): Parsed {
  if (message.length < 12) return { ignore: true };
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  if ((flags & QR) !== 0) return { ignore: true };
  if ((flags & OPCODE_MASK) !== 0) return { reply: headerOnlyReply(id, flags, RCODE.NOTIMP) };
  let query: Packet;
  try {
    query = dnsPacket.decode(message);
  } catch {
    return { reply: headerOnlyReply(id, flags, RCODE.FORMERR) };
  }
  if (query.questions === undefined || query.questions.length === 0) return { reply: headerOnlyReply(id, flags, RCODE.FORMERR) };
  return { query };
}

function headerOnlyReply(id: number, queryFlags: number, rcode: number): Buffer {
  const reply = Buffer.alloc(12);
  reply.writeUInt16BE(id, 0);
  reply.writeUInt16BE(QR | (queryFlags & (OPCODE_MASK | RECURSION)) | REPLY_FLAGS | rcode, 2);
  return reply;
}

/** Docker's shuffleAddr: a fresh random order for each answer (Fisher–Yates). */
export function shuffle<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const shuffled = [...items];
  for (let index = shuffled.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other]!, shuffled[index]!];
  }
  return shuffled;
}

/**
 * The answer to `query` for the container `asker` (undefined: a stranger,
 * whose queries are all forwarded, as Docker's resolver forwards whatever
 * reaches it). Several addresses under one name come in an order drawn anew
 * for each answer, as Docker's do: a counter shared by all questions would
 * advance in step with a client's A and AAAA pair and always give it the same
 * first address. `order` lets tests fix the order.
 */
export function answerQuery(query: Packet, asker: Asker | undefined, records: DnsRecords, order: <T>(items: readonly T[]) => T[] = shuffle): Decision {
  const question = query.questions?.[0];
  if (asker === undefined || question === undefined || (question.class ?? 'IN') !== 'IN') return { forward: true };
  switch (question.type) {
    case 'A':
    case 'AAAA': {
      const found = resolveName(lowerName(question.name), asker, records, question.type === 'A' ? 'ipv4' : 'ipv6');
      if (found === undefined) return { forward: true };
      const type = question.type;
      const addresses = found.length < 2 ? found : order(found);
      return {
        forward: false,
        response: reply(
          query,
          question,
          addresses.map((data) => ({ type, name: question.name, ttl: RESPONSE_TTL, data })),
        ),
      };
    }
    case 'MX': {
      // A known name has no mail exchanger: empty NOERROR, so a mailer falls back to A/AAAA (RFC 5321 5.1).
      const name = lowerName(question.name);
      if (resolveName(name, asker, records, 'ipv4') === undefined && resolveName(name, asker, records, 'ipv6') === undefined) return { forward: true };
      return { forward: false, response: reply(query, question, []) };
    }
    case 'PTR': {
      const host = resolvePointer(lowerName(question.name), asker, records);
      if (host === undefined) return { forward: true };
      return { forward: false, response: reply(query, question, [{ type: 'PTR', name: question.name, ttl: RESPONSE_TTL, data: host }]) };
    }
    default:
      return { forward: true };
  }
}

/** A reply carrying only an rcode (SERVFAIL when no upstream answered, REFUSED past the in-flight cap). */
export function errorReply(query: Packet, rcode: number): Buffer {
  return dnsPacket.encode({ type: 'response', id: query.id ?? 0, flags: replyFlags(query) | rcode, questions: query.questions ?? [] });
}

/** The largest UDP answer the client takes: its EDNS payload size, never below 512. */
export function maxUdpSize(query: Packet): number {
  for (const record of query.additionals ?? []) {
    if (record.type === 'OPT') return Math.min(MAX_TCP_SIZE, Math.max(DEFAULT_UDP_SIZE, record.udpPayloadSize ?? 0));
  }
  return DEFAULT_UDP_SIZE;
}

/**
 * Encodes a response to fit maxSize: records are dropped from the end (extra,
 * then authority, then answers, as Docker's truncateResp trims) and, over UDP,
 * the TC bit tells the client to ask again over TCP.
 */
export function encodeWithin(response: Packet, maxSize: number, udp: boolean): Buffer {
  const encoded = dnsPacket.encode(response);
  if (encoded.length <= maxSize) return encoded;
  const trimmed: Packet = {
    ...response,
    flags: (response.flags ?? 0) | (udp ? TRUNCATED : 0),
    answers: [...(response.answers ?? [])],
    authorities: [...(response.authorities ?? [])],
    additionals: [...(response.additionals ?? [])],
  };
  const sections = [trimmed.additionals!, trimmed.authorities!, trimmed.answers!];
  while (dnsPacket.encodingLength(trimmed) > maxSize) {
    const section = sections.find((records) => records.length > 0);
    if (section === undefined) break;
    section.pop();
  }
  return dnsPacket.encode(trimmed);
}

/**
 * Encodes a local answer for the query `message` it replies to. The hot case,
 * A/AAAA records, is written straight after a copy of the query's own header
 * and question, each record naming the question by a compression pointer: the
 * bytes dns-packet would produce (minus repeated names), without its per-call
 * cost. Everything else goes through dns-packet.
 */
export function encodeResponse(message: Buffer, response: Packet, maxSize: number, udp: boolean): Buffer {
  const answers = response.answers ?? [];
  const end = questionEnd(message);
  if (end < 0 || message.readUInt16BE(4) !== 1) return encodeWithin(response, maxSize, udp);
  let size = end;
  for (const answer of answers) {
    if (answer.type === 'A') size += 16;
    else if (answer.type === 'AAAA') size += 28;
    else return encodeWithin(response, maxSize, udp);
  }
  if (size > maxSize) return encodeWithin(response, maxSize, udp);
  const encoded = Buffer.allocUnsafe(size);
  message.copy(encoded, 0, 0, end);
  encoded.writeUInt16BE(QR | ((response.flags ?? 0) & 0x7fff), 2);
  encoded.writeUInt16BE(answers.length, 6);
  encoded.writeUInt32BE(0, 8);
  let offset = end;
  for (const answer of answers) {
    const data = (answer as { data: string }).data;
    const address = answer.type === 'A' ? ipv4Bytes(data) : ipaddr.parse(data).toByteArray();
    encoded.writeUInt16BE(QUESTION_NAME_POINTER, offset);
    encoded.writeUInt16BE(answer.type === 'A' ? TYPE_A : TYPE_AAAA, offset + 2);
    encoded.writeUInt16BE(CLASS_IN, offset + 4);
    encoded.writeUInt32BE((answer as { ttl?: number }).ttl ?? RESPONSE_TTL, offset + 6);
    encoded.writeUInt16BE(address.length, offset + 10);
    for (let i = 0; i < address.length; i++) encoded[offset + 12 + i] = address[i]!;
    offset += 12 + address.length;
  }
  return encoded;
}

const QUESTION_NAME_POINTER = 0xc000 | 12;
const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;

/** A dotted quad's four bytes, without ipaddr.js's general (and, per query, costly) parser. */
function ipv4Bytes(address: string): number[] {
  const bytes = [0, 0, 0, 0];
  let index = 0;
  for (let i = 0; i < address.length; i++) {
    const code = address.charCodeAt(i);
    if (code === 46) index += 1;
    else bytes[index] = bytes[index]! * 10 + (code - 48);
  }
  return bytes;
}

/** Where the first question of a raw query ends; -1 when its name is not plain labels (left to dns-packet). */
export function questionEnd(message: Buffer): number {
  let offset = 12;
  while (offset < message.length) {
    const length = message[offset]!;
    if (length === 0) return offset + 5 <= message.length ? offset + 5 : -1;
    if (length > 63) return -1;
    offset += length + 1;
  }
  return -1;
}

function reply(query: Packet, question: Question, answers: Answer[]): Packet {
  return { type: 'response', id: query.id ?? 0, flags: replyFlags(query), questions: [question], answers };
}

function replyFlags(query: Packet): number {
  return ((query.flags ?? 0) & (OPCODE_MASK | RECURSION)) | REPLY_FLAGS;
}

function lowerName(name: string): string {
  const lowered = name.toLowerCase();
  return lowered.endsWith('.') ? lowered.slice(0, -1) : lowered;
}

type Family = 'ipv4' | 'ipv6';

/**
 * Docker's sandbox.ResolveName: for "a.b.c" try "a.b.c" on every network of
 * the asker, then "a.b" on network "c", then "a" on network "b.c"; for each,
 * aliases before names; the first network with an address of the family wins.
 * Returns [] when the name exists but has no address of that family (an empty
 * NOERROR, never a forward), undefined when the name is unknown.
 */
function resolveName(name: string, asker: Asker, records: DnsRecords, family: Family): string[] | undefined {
  let found = lookupOnNetworks(name, undefined, asker, records, family);
  if (found !== undefined) return found;
  for (let dot = name.lastIndexOf('.'); dot > 0; dot = name.lastIndexOf('.', dot - 1)) {
    found = lookupOnNetworks(name.slice(0, dot), name.slice(dot + 1), asker, records, family);
    if (found !== undefined) return found;
  }
  return undefined;
}

function lookupOnNetworks(name: string, networkName: string | undefined, asker: Asker, records: DnsRecords, family: Family): string[] | undefined {
  return (
    lookupPass(networkName, asker, family, (networkId) => records.byAlias(networkId, name)) ??
    // A link's alias stands for the linked container's name, on the network of the asker's endpoint that holds the link.
    lookupPass(networkName, asker, family, (networkId, own) => records.byName(networkId, linkedName(own, name)))
  );
}

function linkedName(own: DnsEndpoint, name: string): string {
  const linked = own.links === undefined ? undefined : Object.entries(own.links).find(([alias]) => alias.toLowerCase() === name)?.[1];
  return linked === undefined ? name : linked.toLowerCase();
}

function lookupPass(
  networkName: string | undefined,
  asker: Asker,
  family: Family,
  find: (networkId: string, own: DnsEndpoint) => readonly DnsEndpoint[] | undefined,
): string[] | undefined {
  let known = false;
  for (const own of asker.endpoints) {
    if (networkName !== undefined && own.networkName.toLowerCase() !== networkName) continue;
    const holders = find(own.networkId, own);
    if (holders === undefined) continue;
    known = true;
    const addresses: string[] = [];
    for (const holder of holders) {
      const address = holder[family];
      if (address !== undefined && address !== '') addresses.push(address);
    }
    if (addresses.length > 0) return addresses;
  }
  return known ? [] : undefined;
}

/** Docker's sandbox.ResolveIP: "name.network" of the address on the asker's networks, first network first. */
function resolvePointer(name: string, asker: Asker, records: DnsRecords): string | undefined {
  if (!name.endsWith('.in-addr.arpa') && !name.endsWith('.ip6.arpa')) return undefined;
  for (const own of asker.endpoints) {
    const holder = records.byPointer(own.networkId, name);
    if (holder !== undefined) return `${holder.containerName}.${holder.networkName}`;
  }
  return undefined;
}
