/** Reading a set's elements from `nft -j list set` (diagnose's view of the kernel). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizedElement, parseSetListing } from '../../src/firewall/elements.js';

const meta = { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } };

test('prefixes, ranges, single addresses, interface names and concatenations read as skiff renders them', () => {
  const subnets = JSON.stringify({
    nftables: [
      meta,
      {
        set: {
          family: 'inet',
          name: 's',
          table: 't',
          type: 'ipv4_addr',
          flags: ['interval'],
          elem: ['10.0.0.5', { range: ['10.1.0.1', '10.1.0.9'] }, { prefix: { addr: '172.17.0.0', len: 16 } }, { prefix: { addr: '172.18.0.0', len: 16 } }],
        },
      },
    ],
  });
  assert.deepEqual(parseSetListing(subnets), ['10.0.0.5', '10.1.0.1-10.1.0.9', '172.17.0.0/16', '172.18.0.0/16']);
  const pairs = JSON.stringify({ nftables: [meta, { set: { name: 'c', type: ['ifname', 'ifname'], elem: [{ concat: ['skiff0', 'skiff0'] }] } }] });
  assert.deepEqual(parseSetListing(pairs), ['skiff0 . skiff0']);
  const ports = JSON.stringify({ nftables: [meta, { map: { name: 'ports4_any', elem: [[{ concat: [6, 8080] }, { concat: ['172.18.0.2', 80] }]] } }] });
  assert.deepEqual(parseSetListing(ports), ['6 . 8080']);
});

test('an empty set has no elements', () => {
  assert.deepEqual(parseSetListing(JSON.stringify({ nftables: [meta, { set: { name: 'e', type: 'ipv4_addr', flags: ['interval'] } }] })), []);
});

test("element text is compared in the listing's form", () => {
  assert.equal(normalizedElement('"br-0123456789ab"'), 'br-0123456789ab');
  assert.equal(normalizedElement('"skiff0" . "skiff0"'), 'skiff0 . skiff0');
  assert.equal(normalizedElement('10.0.0.5/32'), '10.0.0.5');
  assert.equal(normalizedElement('fd00::1/128'), 'fd00::1');
  assert.equal(normalizedElement('172.18.0.0/16'), '172.18.0.0/16');
});
