/**
 * nf_tables netlink messages as bytes: what nft sends for the few commands
 * skiff gives it on a hot path (a table made or flushed, a base chain, rules
 * of payload/meta/cmp/notrack/immediate expressions), built by pure
 * functions and compared byte for byte with what nft 1.0.6 sends
 * (test/fixtures/nftables/). send.ts hands a transaction to the kernel.
 *
 * nf_tables takes changes as a batch: NFNL_MSG_BATCH_BEGIN, the messages,
 * NFNL_MSG_BATCH_END, applied whole or not at all. Unlike nft, every message
 * asks for an acknowledgement (nft asks for none and takes silence for
 * success), so the sender knows each one was taken; the sender numbers them.
 * Values inside nf_tables attributes are in network byte order.
 */
import { NetlinkWriter } from '../netlink/writer.js';
import {
  NFNL_SUBSYS_NFTABLES,
  NFT_MSG_NEWRULE,
  NFTA_RULE_TABLE,
  NFTA_RULE_CHAIN,
  NFTA_RULE_EXPRESSIONS,
  NFTA_LIST_ELEM,
  NFTA_EXPR_NAME,
  NFTA_EXPR_DATA,
  NFTA_DATA_VALUE,
  NFTA_PAYLOAD_DREG,
  NFTA_PAYLOAD_BASE,
  NFTA_PAYLOAD_OFFSET,
  NFTA_PAYLOAD_LEN,
  NFTA_PAYLOAD_SREG,
  NFTA_META_KEY,
  NFTA_CMP_OP,
  NFTA_CMP_DATA,
  NFTA_IMMEDIATE_DATA,
  NFGENMSG_LEN,
} from './attributes.js';

/** One netlink message, sequence number 0 (the sender's to set). */
export type NftablesMessage = Uint8Array;

// linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h, linux/netfilter.h
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_APPEND = 0x800;
const NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFT_MSG_NEWTABLE = 0;
const NFT_MSG_DELTABLE = 2;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_DELRULE = 8;
const NFTA_TABLE_NAME = 1;
const NFTA_TABLE_FLAGS = 2;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_CHAIN_HOOK = 4;
const NFTA_CHAIN_POLICY = 5;
const NFTA_CHAIN_TYPE = 7;
const NFTA_HOOK_HOOKNUM = 1;
const NFTA_HOOK_PRIORITY = 2;
const NFTA_PAYLOAD_CSUM_TYPE = 6;
const NFTA_PAYLOAD_CSUM_OFFSET = 7;
const NFTA_CMP_SREG = 1;
const NFTA_META_DREG = 1;
const NFTA_IMMEDIATE_DREG = 1;
const NFT_CMP_EQ = 0;
const NFT_PAYLOAD_CSUM_INET = 1;
const NF_ACCEPT = 1;
const NF_DROP = 0;
const NFPROTO_UNSPEC = 0;

const FAMILIES = { ip: 2, ip6: 10, inet: 1 } as const;
export type Family = keyof typeof FAMILIES;
const HOOKS = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 } as const;
const PAYLOAD_BASES = { link: 0, network: 1, transport: 2 } as const;
const META_KEYS = { l4proto: 16 } as const;
/** nft's one register for every expression here: NFT_REG_1, 16 bytes. */
const REGISTER_1 = 1;

/** Writes one nfnetlink message: header, nfgenmsg, attributes (numbers in network order, nested ones flagged NLA_F_NESTED as nft sends them). */
export class NfnetlinkWriter extends NetlinkWriter {
  constructor(type: number, flags: number, family: number, resourceId = 0) {
    super(type, NLM_F_REQUEST | flags);
    const at = this.reserve(NFGENMSG_LEN);
    this.buffer.writeUInt8(family, at);
    this.buffer.writeUInt16BE(resourceId, at + 2);
  }

  /** A 32-bit number in network byte order, as nf_tables takes every number (a negative priority too). */
  u32(type: number, value: number): this {
    const payload = Buffer.alloc(4);
    payload.writeInt32BE(value | 0);
    return this.attribute(type, payload);
  }

  override nested(type: number, inner: (writer: this) => void): this {
    return super.nested(NLA_F_NESTED | type, inner);
  }

  finish(): NftablesMessage {
    return this.bytes();
  }
}

const nftables = (message: number, flags: number, family: Family) =>
  new NfnetlinkWriter((NFNL_SUBSYS_NFTABLES << 8) | message, NLM_F_ACK | flags, FAMILIES[family]);

/** The messages as one transaction: NFNL_MSG_BATCH_BEGIN, them, NFNL_MSG_BATCH_END. */
export function transaction(messages: readonly NftablesMessage[]): NftablesMessage[] {
  const marker = (type: number) => new NfnetlinkWriter(type, 0, NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES).finish();
  return [marker(NFNL_MSG_BATCH_BEGIN), ...messages, marker(NFNL_MSG_BATCH_END)];
}

/** `add table FAMILY NAME` */
export function addTable(family: Family, name: string): NftablesMessage {
  return nftables(NFT_MSG_NEWTABLE, 0, family).string(NFTA_TABLE_NAME, name).u32(NFTA_TABLE_FLAGS, 0).finish();
}

/** `delete table FAMILY NAME` */
export function deleteTable(family: Family, name: string): NftablesMessage {
  return nftables(NFT_MSG_DELTABLE, 0, family).string(NFTA_TABLE_NAME, name).finish();
}

/** `flush table FAMILY NAME`: every rule of every chain in it goes. */
export function flushTable(family: Family, name: string): NftablesMessage {
  return nftables(NFT_MSG_DELRULE, 0, family).string(NFTA_RULE_TABLE, name).finish();
}

export interface BaseChain {
  type: 'filter' | 'nat' | 'route';
  hook: keyof typeof HOOKS;
  priority: number;
  policy: 'accept' | 'drop';
}

/** `add chain FAMILY TABLE NAME { type T hook H priority P; policy X; }` */
export function addBaseChain(family: Family, table: string, name: string, chain: BaseChain): NftablesMessage {
  return nftables(NFT_MSG_NEWCHAIN, NLM_F_CREATE, family)
    .string(NFTA_CHAIN_TABLE, table)
    .string(NFTA_CHAIN_NAME, name)
    .string(NFTA_CHAIN_TYPE, chain.type)
    .u32(NFTA_CHAIN_POLICY, chain.policy === 'accept' ? NF_ACCEPT : NF_DROP)
    .nested(NFTA_CHAIN_HOOK, (hook) => hook.u32(NFTA_HOOK_HOOKNUM, HOOKS[chain.hook]).u32(NFTA_HOOK_PRIORITY, chain.priority))
    .finish();
}

/** One expression of a rule: its name and the attributes of its data (none for notrack). */
export interface Expression {
  name: string;
  data?: (writer: NfnetlinkWriter) => void;
}

/** NFTA_DATA_VALUE inside attribute type. */
const value = (writer: NfnetlinkWriter, type: number, bytes: Uint8Array) => writer.nested(type, (data) => data.attribute(NFTA_DATA_VALUE, bytes));

/** Loads length bytes at offset of the packet's header at base into register. */
export function payload(base: keyof typeof PAYLOAD_BASES, offset: number, length: number, register = REGISTER_1): Expression {
  return {
    name: 'payload',
    data: (data) =>
      data.u32(NFTA_PAYLOAD_DREG, register).u32(NFTA_PAYLOAD_BASE, PAYLOAD_BASES[base]).u32(NFTA_PAYLOAD_OFFSET, offset).u32(NFTA_PAYLOAD_LEN, length),
  };
}

/** Writes register's length bytes at offset of the header at base, fixing the internet checksum at checksumOffset (of the same header). */
export function payloadSet(base: keyof typeof PAYLOAD_BASES, offset: number, length: number, checksumOffset: number, register = REGISTER_1): Expression {
  return {
    name: 'payload',
    data: (data) =>
      data
        .u32(NFTA_PAYLOAD_SREG, register)
        .u32(NFTA_PAYLOAD_BASE, PAYLOAD_BASES[base])
        .u32(NFTA_PAYLOAD_OFFSET, offset)
        .u32(NFTA_PAYLOAD_LEN, length)
        .u32(NFTA_PAYLOAD_CSUM_TYPE, NFT_PAYLOAD_CSUM_INET)
        .u32(NFTA_PAYLOAD_CSUM_OFFSET, checksumOffset),
  };
}

/** Loads the meta key into register. */
export function meta(key: keyof typeof META_KEYS, register = REGISTER_1): Expression {
  return { name: 'meta', data: (data) => data.u32(NFTA_META_KEY, META_KEYS[key]).u32(NFTA_META_DREG, register) };
}

/** The rule goes on only if register holds bytes. */
export function equals(bytes: Uint8Array, register = REGISTER_1): Expression {
  return { name: 'cmp', data: (data) => value(data.u32(NFTA_CMP_SREG, register).u32(NFTA_CMP_OP, NFT_CMP_EQ), NFTA_CMP_DATA, bytes) };
}

/** Puts bytes in register. */
export function immediate(bytes: Uint8Array, register = REGISTER_1): Expression {
  return { name: 'immediate', data: (data) => value(data.u32(NFTA_IMMEDIATE_DREG, register), NFTA_IMMEDIATE_DATA, bytes) };
}

/** The packet is not tracked by conntrack. */
export function notrack(): Expression {
  return { name: 'notrack' };
}

/** `add rule FAMILY TABLE CHAIN ...`: the expressions appended at the chain's end. */
export function addRule(family: Family, table: string, chain: string, expressions: readonly Expression[]): NftablesMessage {
  return nftables(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, family)
    .string(NFTA_RULE_TABLE, table)
    .string(NFTA_RULE_CHAIN, chain)
    .nested(NFTA_RULE_EXPRESSIONS, (list) => {
      for (const expression of expressions) {
        list.nested(NFTA_LIST_ELEM, (element) => {
          element.string(NFTA_EXPR_NAME, expression.name);
          if (expression.data !== undefined) element.nested(NFTA_EXPR_DATA, expression.data);
        });
      }
    })
    .finish();
}

/** A port (or any u16) as the packet carries it. */
export function u16Bytes(number: number): Uint8Array {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(number);
  return Uint8Array.from(bytes);
}
