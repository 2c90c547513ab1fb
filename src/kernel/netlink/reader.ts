/**
 * netlink answers read back (the other half of writer.ts): a buffer of
 * messages split into each message's type, flags and payload, and a
 * payload's attributes. Pure: the dumps' parsers (rtnetlink/dumps.ts,
 * nftables/rules.ts) are unit-tested on bytes the kernel sent.
 */
const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
/** The attribute type without NLA_F_NESTED and NLA_F_NET_BYTEORDER. */
const NLA_TYPE_MASK = 0x3fff;

const align4 = (length: number) => (length + 3) & ~3;

export interface NetlinkMessage {
  type: number;
  flags: number;
  /** What follows the header: the protocol's fixed part, then attributes. */
  payload: Buffer;
}

export interface NetlinkAttribute {
  type: number;
  payload: Buffer;
}

/** Every whole message in bytes, in order; a truncated tail is left out. */
export function messagesOf(bytes: Uint8Array): NetlinkMessage[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const messages: NetlinkMessage[] = [];
  for (let at = 0; at + NLMSG_HDRLEN <= buffer.length;) {
    const length = buffer.readUInt32LE(at);
    if (length < NLMSG_HDRLEN || at + length > buffer.length) break;
    messages.push({ type: buffer.readUInt16LE(at + 4), flags: buffer.readUInt16LE(at + 6), payload: buffer.subarray(at + NLMSG_HDRLEN, at + length) });
    at += align4(length);
  }
  return messages;
}

/** The attributes in bytes from offset on, in order (a type may repeat: a list's elements). */
export function attributeList(bytes: Buffer, offset = 0): NetlinkAttribute[] {
  const attributes: NetlinkAttribute[] = [];
  for (let at = offset; at + NLA_HDRLEN <= bytes.length;) {
    const length = bytes.readUInt16LE(at);
    if (length < NLA_HDRLEN || at + length > bytes.length) break;
    attributes.push({ type: bytes.readUInt16LE(at + 2) & NLA_TYPE_MASK, payload: bytes.subarray(at + NLA_HDRLEN, at + length) });
    at += align4(length);
  }
  return attributes;
}

/** The attributes by type (the first of each). */
export function attributesOf(bytes: Buffer, offset = 0): Map<number, Buffer> {
  const byType = new Map<number, Buffer>();
  for (const { type, payload } of attributeList(bytes, offset)) if (!byType.has(type)) byType.set(type, payload);
  return byType;
}

/** A NUL-terminated string attribute's text (one sent without its NUL reads the same). */
export function stringOf(payload: Buffer): string {
  const end = payload.indexOf(0);
  return payload.toString('utf8', 0, end < 0 ? payload.length : end);
}
