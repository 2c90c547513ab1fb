/**
 * One netlink message written field by field, for the requests skiff sends
 * itself (rtnetlink/messages.ts, nftables/messages.ts): the header, the
 * protocol's fixed part, attributes 4-byte aligned, nested ones given their
 * length when closed. Numbers are the protocol's to write (rtnetlink's in
 * host order, nf_tables' in network order).
 */
const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;

const align4 = (length: number) => (length + 3) & ~3;

export class NetlinkWriter {
  protected buffer = Buffer.alloc(512);
  protected length = NLMSG_HDRLEN;

  constructor(type: number, flags: number) {
    this.buffer.writeUInt16LE(type, 4);
    this.buffer.writeUInt16LE(flags, 6);
  }

  /** Room for bytes more (aligned), zeroed; returns where it starts. */
  protected reserve(bytes: number): number {
    const at = this.length;
    const needed = align4(at + bytes);
    if (needed > this.buffer.length) this.buffer = Buffer.concat([this.buffer, Buffer.alloc(Math.max(needed, this.buffer.length))]);
    this.length = needed;
    return at;
  }

  attribute(type: number, payload: Uint8Array): this {
    const at = this.reserve(NLA_HDRLEN + payload.length);
    this.buffer.writeUInt16LE(NLA_HDRLEN + payload.length, at);
    this.buffer.writeUInt16LE(type, at + 2);
    this.buffer.set(payload, at + NLA_HDRLEN);
    return this;
  }

  /** A NUL-terminated string. */
  string(type: number, value: string): this {
    return this.attribute(type, Buffer.from(`${value}\0`));
  }

  /** Attributes written by inner go inside one of this type (flags such as NLA_F_NESTED are the caller's, in type). */
  nested(type: number, inner: (writer: this) => void): this {
    const at = this.reserve(NLA_HDRLEN);
    inner(this);
    this.buffer.writeUInt16LE(this.length - at, at);
    this.buffer.writeUInt16LE(type, at + 2);
    return this;
  }

  /** The message, its length written in the header. */
  protected bytes(): Uint8Array {
    this.buffer.writeUInt32LE(this.length, 0);
    return Uint8Array.from(this.buffer.subarray(0, this.length));
  }
}
