/**
 * The answer cache's forwarded questions: kept per key (question bytes after
 * the id, asker, transport) with the asker's UDP size, and forgotten as soon
 * as the records change, with the local answers.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { AnswerCache } from '../../src/dns/answer-cache.js';

const query = (id: number, name: string) => dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });

it('knows a forwarded question again under another id, for the same asker and transport only', () => {
  const cache = new AnswerCache();
  const key = AnswerCache.keyOf(query(1, 'example.org'), '#1', 'udp')!;
  assert.equal(cache.forwardedSize(key, 0), undefined);
  cache.storeForwarded(key, 0, 1232);
  assert.equal(cache.forwardedSize(AnswerCache.keyOf(query(2, 'example.org'), '#1', 'udp')!, 0), 1232);
  assert.equal(cache.forwardedSize(AnswerCache.keyOf(query(2, 'example.org'), '#2', 'udp')!, 0), undefined);
  assert.equal(cache.forwardedSize(AnswerCache.keyOf(query(2, 'example.org'), '#1', 'tcp')!, 0), undefined);
  assert.equal(cache.forwardedSize(AnswerCache.keyOf(query(2, 'example.net'), '#1', 'udp')!, 0), undefined);
});

it('forgets forwarded questions and local answers once the records change', () => {
  const cache = new AnswerCache();
  const forwarded = AnswerCache.keyOf(query(1, 'example.org'), '#1', 'udp')!;
  const local = AnswerCache.keyOf(query(1, 'web'), '#1', 'udp')!;
  cache.storeForwarded(forwarded, 3, 512);
  cache.store(local, 3, Buffer.from(query(1, 'web')), 12);
  assert.ok(cache.reply(local, 3, 9) !== undefined);
  assert.equal(cache.forwardedSize(forwarded, 4), undefined);
  assert.equal(cache.reply(local, 4, 9), undefined);
  assert.equal(cache.forwardedSize(forwarded, 3), undefined, 'version 3 is gone for good');
});
