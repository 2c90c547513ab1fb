/**
 * The relay's pure parts: reading a batch of its events (dns-relay.c's
 * layout) and which forwarding attempt may take any answer as the last
 * word.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { forEachRelayEvent, RelayEventKind } from '../../src/dns/relay.js';
import { isLastAttempt, MAX_UPSTREAMS } from '../../src/dns/forward.js';

function event(token: number, kind: number, flag: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(token, 0);
  header[4] = kind;
  header[5] = flag;
  header.writeUInt16LE(payload.length, 6);
  return Buffer.concat([header, payload]);
}

it('reads every event of a batch, with its token, kind, flag and bytes', () => {
  const answer = Buffer.from('an answer');
  const batch = Buffer.concat([
    event(0xfffffffe, RelayEventKind.relayed, 0),
    event(7, RelayEventKind.answer, 0, answer),
    event(65_539, RelayEventKind.channelClosed, 1),
  ]);
  const seen: [number, number, number, string | undefined][] = [];
  forEachRelayEvent(batch, (token, kind, flag, bytes) => seen.push([token, kind, flag, bytes?.toString()]));
  assert.deepEqual(seen, [
    [0xfffffffe, RelayEventKind.relayed, 0, undefined],
    [7, RelayEventKind.answer, 0, 'an answer'],
    [65_539, RelayEventKind.channelClosed, 1, undefined],
  ]);
});

it('stops at an event cut short instead of reading past the batch', () => {
  const whole = event(1, RelayEventKind.answer, 0, Buffer.from('0123456789'));
  const seen: number[] = [];
  forEachRelayEvent(Buffer.concat([event(9, RelayEventKind.unanswered, 0), whole.subarray(0, whole.length - 3)]), (token) => seen.push(token));
  assert.deepEqual(seen, [9]);
  forEachRelayEvent(Buffer.alloc(5), (token) => seen.push(token));
  assert.deepEqual(seen, [9]);
});

it('lets only the last attempt (of at most three upstreams) take any answer', () => {
  assert.equal(isLastAttempt(1, 1), true);
  assert.equal(isLastAttempt(1, 2), false);
  assert.equal(isLastAttempt(2, 2), true);
  assert.equal(isLastAttempt(2, 5), false);
  assert.equal(isLastAttempt(MAX_UPSTREAMS, 5), true);
});
