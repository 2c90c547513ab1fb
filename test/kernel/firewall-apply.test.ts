/**
 * The rendered nftables text against the real kernel: every golden
 * combination loads, sets and maps hold their elements, re-applying is
 * idempotent and keeps the admin's rules in chain `user`, and the element
 * scripts add and remove (removing twice is fine).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, leftovers } from '../helpers/world.js';
import {
  applyNft,
  deleteTable,
  hasElement,
  listTable,
  renderTable,
  renderNetworkAdded,
  renderNetworkRemoved,
  renderPortsAdded,
  renderPortsRemoved,
  type FirewallNetwork,
  type FirewallPort,
} from '../../src/firewall/index.js';
import { SkiffError } from '../../src/errors.js';

assertInWorld();

const TABLE = 'skifftest';

after(async () => {
  await deleteTable(TABLE);
});

function network(bridgeName: string, octet: number, options: Partial<FirewallNetwork> = {}): FirewallNetwork {
  return {
    id: bridgeName,
    bridgeName,
    subnets4: [`172.${octet}.0.0/16`],
    subnets6: [`fd00:${octet}::/64`],
    icc: true,
    internal: false,
    masquerade: true,
    ...options,
  };
}

function port(hostIp: string, hostPort: number, containerIp: string): FirewallPort {
  return { protocol: 'tcp', hostIp, hostPort, containerIp, containerPort: 80, bridgeName: 'br-aaaaaaaaaaaa' };
}

/** The `elements = { ... }` text of one set or map in an `nft list table` listing ('' when empty). */
function elementsOf(listing: string, name: string): string {
  const block = new RegExp(`(?:set|map) ${name} \\{([\\s\\S]*?)\\n\\t\\}`).exec(listing)?.[1] ?? '';
  return /elements = \{([\s\S]*?)\}/.exec(block)?.[1]?.replace(/\s+/g, ' ').trim() ?? '';
}

test('every combination of network options loads and fills its sets', async () => {
  for (const icc of [true, false]) {
    for (const internal of [true, false]) {
      for (const masquerade of [true, false]) {
        for (const hostBindingIpv4 of ['0.0.0.0', '127.0.0.1']) {
          const n = network('br-aaaaaaaaaaaa', 18, { icc, internal, masquerade });
          await applyNft(renderTable({ networks: [n], ports: [port(hostBindingIpv4, 8080, '172.18.0.2')] }, TABLE));
          const listing = await listTable(TABLE);
          const label = JSON.stringify({ icc, internal, masquerade, hostBindingIpv4 });
          assert.equal(elementsOf(listing, 'bridges'), '"br-aaaaaaaaaaaa"', label);
          assert.equal(elementsOf(listing, 'icc_bridges'), icc ? '"br-aaaaaaaaaaaa" . "br-aaaaaaaaaaaa"' : '', label);
          assert.equal(elementsOf(listing, 'internal_bridges'), internal ? '"br-aaaaaaaaaaaa"' : '', label);
          assert.equal(elementsOf(listing, 'masq_subnets4'), masquerade && !internal ? '172.18.0.0/16' : '', label);
          assert.equal(elementsOf(listing, 'masq_subnets6'), masquerade && !internal ? 'fd00:18::/64' : '', label);
          const published = 'tcp . 8080 : 172.18.0.2 . 80';
          if (hostBindingIpv4 === '0.0.0.0') assert.equal(elementsOf(listing, 'ports4_any'), published, label);
          else assert.equal(elementsOf(listing, 'ports4'), 'tcp . 127.0.0.1 . 8080 : 172.18.0.2 . 80', label);
        }
      }
    }
  }
});

test('applying twice is idempotent and keeps the rules an admin put in chain user', async () => {
  const state = { networks: [network('br-aaaaaaaaaaaa', 18), network('br-bbbbbbbbbbbb', 19, { icc: false })], ports: [port('0.0.0.0', 8080, '172.18.0.2')] };
  await applyNft(renderTable(state, TABLE));
  await applyNft(`add rule inet ${TABLE} user ip saddr 203.0.113.7 drop\n`);
  const first = await listTable(TABLE);
  await applyNft(renderTable(state, TABLE));
  const second = await listTable(TABLE);
  assert.equal(second, first);
  assert.match(second, /chain user \{\n\t\tip saddr 203\.0\.113\.7 drop\n\t\}/);
});

test('element scripts add and remove networks and ports, and removal is idempotent', async () => {
  const a = network('br-aaaaaaaaaaaa', 18);
  const b = network('br-bbbbbbbbbbbb', 19, { internal: true });
  const ports = [port('0.0.0.0', 8080, '172.18.0.2'), port('127.0.0.1', 8081, '172.18.0.3'), { ...port('::', 8082, 'fd00:18::2'), protocol: 'udp' as const }];
  await applyNft(renderTable({ networks: [a], ports: [] }, TABLE));

  await applyNft(renderNetworkAdded(b, TABLE));
  await applyNft(renderPortsAdded(ports, TABLE));
  let listing = await listTable(TABLE);
  assert.equal(elementsOf(listing, 'bridges'), '"br-aaaaaaaaaaaa", "br-bbbbbbbbbbbb"');
  assert.equal(elementsOf(listing, 'internal_bridges'), '"br-bbbbbbbbbbbb"');
  assert.equal(elementsOf(listing, 'subnets4'), '172.18.0.0/16, 172.19.0.0/16');
  assert.equal(elementsOf(listing, 'masq_subnets4'), '172.18.0.0/16');
  assert.equal(elementsOf(listing, 'ports4_any'), 'tcp . 8080 : 172.18.0.2 . 80');
  assert.equal(elementsOf(listing, 'ports4'), 'tcp . 127.0.0.1 . 8081 : 172.18.0.3 . 80');
  assert.equal(elementsOf(listing, 'ports6_any'), 'udp . 8082 : fd00:18::2 . 80');

  for (let round = 0; round < 2; round++) {
    await applyNft(renderPortsRemoved(ports, TABLE));
    await applyNft(renderNetworkRemoved(b, TABLE));
  }
  listing = await listTable(TABLE);
  assert.equal(elementsOf(listing, 'bridges'), '"br-aaaaaaaaaaaa"');
  assert.equal(elementsOf(listing, 'internal_bridges'), '');
  assert.equal(elementsOf(listing, 'subnets4'), '172.18.0.0/16');
  for (const map of ['ports4', 'ports4_any', 'ports6', 'ports6_any']) assert.equal(elementsOf(listing, map), '', map);
});

test("a refused script fails as a whole with nft's message, leaving the table as it was", async () => {
  await applyNft(renderTable({ networks: [network('br-aaaaaaaaaaaa', 18)], ports: [] }, TABLE));
  const before = await listTable(TABLE);
  const broken = `${renderNetworkAdded(network('br-cccccccccccc', 20), TABLE)}add element inet ${TABLE} nosuchset { 1.2.3.4 }\n`;
  await assert.rejects(applyNft(broken), (error: unknown) => error instanceof SkiffError && /failed to apply nftables rules: .*nosuchset/s.test(error.message));
  assert.equal(await listTable(TABLE), before);
});

test('deleteTable removes the table and succeeds when it is already gone', async () => {
  await applyNft(renderTable({ networks: [], ports: [] }, TABLE));
  await deleteTable(TABLE);
  await deleteTable(TABLE);
  await assert.rejects(listTable(TABLE));
  assert.deepEqual(await leftovers(), []);
});

test('an element between two touching subnets is found (nft 1.0.6 get element misses it; diagnose reads the listing)', async () => {
  const adjacent = [17, 18, 19, 20].map((octet) => network(`br-${String(octet).repeat(6)}`, octet));
  await applyNft(renderTable({ networks: adjacent, ports: [] }, TABLE));
  for (const octet of [17, 18, 19, 20]) {
    assert.ok(await hasElement(TABLE, 'masq_subnets4', `172.${octet}.0.0/16`), `172.${octet}.0.0/16 in masq_subnets4`);
    assert.ok(await hasElement(TABLE, 'bridges', `"br-${String(octet).repeat(6)}"`));
    assert.ok(await hasElement(TABLE, 'icc_bridges', `"br-${String(octet).repeat(6)}" . "br-${String(octet).repeat(6)}"`));
  }
  assert.equal(await hasElement(TABLE, 'masq_subnets4', '172.21.0.0/16'), false);
  assert.equal(await hasElement(TABLE, 'no_such_set', '172.18.0.0/16'), false);
});
