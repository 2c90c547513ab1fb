/**
 * The parser of nf_tables rule dumps against nft: each entry of
 * test/fixtures/nftables/nft-rules.json (what the kernel answered `nft list
 * table ip skiff_dns` for the DNS redirect, and what nft printed from it,
 * recorded by capture-rules.sh beside it) parsed by rules.ts yields the
 * expressions skiff wrote, and the redirect's ports as diagnose reads them
 * are those the listing shows (parseResolverRedirect, the restart's reader).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseResolverRedirect } from '../../src/firewall/resolver-redirect.js';
import { attributesOf, messagesOf, stringOf } from '../../src/kernel/netlink/reader.js';
import { parseRuleMessages, ruleDump } from '../../src/kernel/nftables/rules.js';
import { redirectedPorts } from '../../src/engine/resolver-redirect-read.js';

interface Capture {
  udp: number;
  tcp: number | null;
  listing: string;
  replies: string;
}

const captures = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/nftables/nft-rules.json', import.meta.url)), 'utf8')) as Capture[];

test('the rules read as skiff wrote them: table, chain, and each expression in order', () => {
  const capture = captures[0]!;
  const rules = parseRuleMessages(Buffer.from(capture.replies, 'hex'));
  assert.equal(rules.length, 4);
  assert.ok(rules.every((rule) => rule.table === 'skiff_dns' && rule.chain === 'resolver'));
  assert.deepEqual(rules[0]!.expressions, [
    { kind: 'payload', base: 'network', offset: 16, length: 4, write: false },
    { kind: 'cmp', op: 'eq', data: Buffer.from([127, 0, 0, 11]) },
    { kind: 'meta', key: 'l4proto' },
    { kind: 'cmp', op: 'eq', data: Buffer.from([17]) },
    { kind: 'payload', base: 'transport', offset: 2, length: 2, write: false },
    { kind: 'cmp', op: 'eq', data: Buffer.from([0, 53]) },
    { kind: 'other', name: 'notrack' },
    { kind: 'immediate', data: Buffer.from([0x9c, 0x41]) },
    { kind: 'payload', base: 'transport', offset: 2, length: 2, write: true },
  ]);
});

for (const capture of captures) {
  test(`redirect udp ${capture.udp}, tcp ${capture.tcp ?? 'none'}: the ports diagnose reads are those nft lists`, () => {
    const ports = redirectedPorts(parseRuleMessages(Buffer.from(capture.replies, 'hex')));
    assert.deepEqual(ports, parseResolverRedirect(capture.listing));
    assert.deepEqual(ports, capture.tcp === null ? undefined : { udp: capture.udp, tcp: capture.tcp });
  });
}

test('a truncated answer yields the whole rules before the cut, never an exception', () => {
  const replies = Buffer.from(captures[0]!.replies, 'hex');
  for (const cut of [0, 5, 100, 600, replies.length - 1]) assert.ok(parseRuleMessages(replies.subarray(0, cut)).length <= 4);
  assert.equal(redirectedPorts(parseRuleMessages(replies.subarray(0, 600))), undefined);
});

test('the request: a dump of the rules of one table of a family', () => {
  const [message] = messagesOf(ruleDump('ip', 'skiff_dns'));
  assert.equal(message!.type, (10 << 8) | 7);
  assert.equal(message!.flags, 0x301);
  assert.equal(message!.payload.readUInt8(0), 2, 'NFPROTO_IPV4');
  assert.equal(stringOf(attributesOf(message!.payload, 4).get(1)!), 'skiff_dns');
});
