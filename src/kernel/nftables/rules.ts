/**
 * nf_tables rules read by netlink, in place of `nsenter --net=PATH nft list
 * table`: the dump request for one table's rules and a pure parser of the
 * kernel's answer into each rule's expressions, decoded for the kinds skiff
 * writes itself (payload, meta, cmp, immediate, notrack; messages.ts) and
 * named for any other; listRules reads them. Unit-tested on bytes the kernel sent nft
 * (test/fixtures/nftables/nft-rules.json).
 */
import { constants } from 'node:os';
import { attributeList, attributesOf, messagesOf, stringOf } from '../netlink/reader.js';
import { NfnetlinkWriter, type Family } from './messages.js';
import { dumpNetlink, NETLINK_NETFILTER } from '../netlink/dump.js';
import { SkiffError } from '../../errors.js';
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

const { ENOENT } = constants.errno;

// linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h
const NLM_F_DUMP = 0x300;
const NFT_MSG_GETRULE = 7;

const FAMILIES: Record<Family, number> = { ip: 2, ip6: 10, inet: 1 };
const PAYLOAD_BASES = ['link', 'network', 'transport'] as const;
const META_KEYS: Record<number, string> = { 16: 'l4proto' };
const CMP_OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte'] as const;

export type RuleExpression =
  /** Loads (into a register) or writes (from one) length bytes at offset of the header at base. */
  | { kind: 'payload'; base: (typeof PAYLOAD_BASES)[number] | number; offset: number; length: number; write: boolean }
  | { kind: 'meta'; key: string | number }
  | { kind: 'cmp'; op: (typeof CMP_OPS)[number] | number; data: Buffer }
  /** Puts data in a register (a verdict's immediate carries none here). */
  | { kind: 'immediate'; data?: Buffer }
  | { kind: 'other'; name: string };

export interface Rule {
  table: string;
  chain: string;
  expressions: RuleExpression[];
}

/** `list table FAMILY TABLE`'s rules: a dump of every rule of the table (none, and no error, when there is no such table). */
export function ruleDump(family: Family, table: string): Uint8Array {
  return new NfnetlinkWriter((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE, NLM_F_DUMP, FAMILIES[family]).string(NFTA_RULE_TABLE, table).finish();
}

const u32Of = (attributes: Map<number, Buffer>, type: number) => attributes.get(type)?.readUInt32BE(0);
const valueOf = (data: Buffer | undefined) => (data === undefined ? undefined : attributesOf(data).get(NFTA_DATA_VALUE));

function expressionOf(element: Buffer): RuleExpression {
  const parts = attributesOf(element);
  const name = stringOf(parts.get(NFTA_EXPR_NAME) ?? Buffer.alloc(0));
  const data = attributesOf(parts.get(NFTA_EXPR_DATA) ?? Buffer.alloc(0));
  switch (name) {
    case 'payload': {
      const base = u32Of(data, NFTA_PAYLOAD_BASE) ?? -1;
      return {
        kind: 'payload',
        base: PAYLOAD_BASES[base] ?? base,
        offset: u32Of(data, NFTA_PAYLOAD_OFFSET) ?? 0,
        length: u32Of(data, NFTA_PAYLOAD_LEN) ?? 0,
        write: data.has(NFTA_PAYLOAD_SREG) && !data.has(NFTA_PAYLOAD_DREG),
      };
    }
    case 'meta': {
      const key = u32Of(data, NFTA_META_KEY) ?? -1;
      return { kind: 'meta', key: META_KEYS[key] ?? key };
    }
    case 'cmp': {
      const op = u32Of(data, NFTA_CMP_OP) ?? -1;
      return { kind: 'cmp', op: CMP_OPS[op] ?? op, data: valueOf(data.get(NFTA_CMP_DATA)) ?? Buffer.alloc(0) };
    }
    case 'immediate': {
      const value = valueOf(data.get(NFTA_IMMEDIATE_DATA));
      return value === undefined ? { kind: 'immediate' } : { kind: 'immediate', data: value };
    }
    default:
      return { kind: 'other', name };
  }
}

/** The rules in the NFT_MSG_NEWRULE messages of bytes, in the kernel's order (other messages are passed over). */
export function parseRuleMessages(bytes: Uint8Array): Rule[] {
  return messagesOf(bytes).flatMap(({ type, payload }) => {
    if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE) || payload.length < NFGENMSG_LEN) return [];
    const attributes = attributesOf(payload, NFGENMSG_LEN);
    const list = attributes.get(NFTA_RULE_EXPRESSIONS) ?? Buffer.alloc(0);
    return [
      {
        table: stringOf(attributes.get(NFTA_RULE_TABLE) ?? Buffer.alloc(0)),
        chain: stringOf(attributes.get(NFTA_RULE_CHAIN) ?? Buffer.alloc(0)),
        expressions: attributeList(list)
          .filter((element) => element.type === NFTA_LIST_ELEM)
          .map((element) => expressionOf(element.payload)),
      },
    ];
  });
}

/** The rules of table in the namespace bound at netnsPath (the daemon's own when undefined); none when there is no such table. */
export async function listRules(family: Family, table: string, netnsPath?: string): Promise<Rule[]> {
  const [answer] = await dumpNetlink([{ protocol: NETLINK_NETFILTER, bytes: ruleDump(family, table) }], netnsPath);
  if ('bytes' in answer!) return parseRuleMessages(answer.bytes);
  if (answer!.errno === ENOENT) return [];
  const where = netnsPath === undefined ? '' : ` in netns "${netnsPath}"`;
  throw new SkiffError('unavailable', `failed to list table ${family} ${table}${where}: ${answer!.reason}`);
}
