/**
 * The parsers of rtnetlink's link and address dumps against iproute2: each
 * namespace of test/fixtures/rtnetlink/ip-addr-show.json (what the kernel
 * answered `ip -json -details addr show`, and what `ip` printed from it,
 * recorded by capture-dumps.sh beside it) parsed by dumps.ts comes out as
 * the InterfaceState skiff used to build from ip's JSON: state, flags,
 * master, MAC, bridge-port isolation and addresses in ip's order. Then the
 * requests' own fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stateFromIpJson, type IpJsonAddr } from '../helpers/ip-json.js';
import { messagesOf, attributesOf, stringOf } from '../../src/kernel/netlink/reader.js';
import {
  addressDump,
  interfaceStates,
  linkDump,
  linkGetByIndex,
  linkGetByName,
  parseAddressMessages,
  parseLinkMessages,
} from '../../src/kernel/rtnetlink/dumps.js';

interface Capture {
  netns: 'host' | 'sandbox';
  ip: IpJsonAddr[];
  replies: string;
}

const captures = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/rtnetlink/ip-addr-show.json', import.meta.url)), 'utf8')) as Capture[];

for (const capture of captures) {
  test(`the ${capture.netns} namespace's dumps read as ip -json -details addr show printed them`, () => {
    const replies = Buffer.from(capture.replies, 'hex');
    const states = interfaceStates(parseLinkMessages(replies), parseAddressMessages(replies));
    assert.deepEqual(
      states.map((state) => state.ifname),
      capture.ip.map((link) => link.ifname),
    );
    for (const link of capture.ip)
      assert.deepEqual(
        states.find((state) => state.ifname === link.ifname),
        stateFromIpJson(link),
        link.ifname,
      );
  });
}

test('the fixture holds what the parsers must tell apart', () => {
  const replies = Buffer.from(captures.find((capture) => capture.netns === 'host')!.replies, 'hex');
  const byName = new Map(interfaceStates(parseLinkMessages(replies), parseAddressMessages(replies)).map((state) => [state.ifname, state]));
  assert.equal(byName.get('vethaaaaaaa')?.isolated, true);
  assert.equal(byName.get('vethbbbbbbb')?.isolated, false);
  assert.equal(byName.get('vethbbbbbbb')?.master, 'br0');
  assert.equal(byName.get('br0')?.isolated, undefined, 'a bridge is no port');
  assert.equal(byName.get('vethbbbbbbb')?.up, false);
  assert.deepEqual(byName.get('ptp0')?.addresses, [{ family: 4, address: '10.9.0.1', prefix: 32 }], 'the local address, not the peer');
});

test('a single link read beside its master names the master', () => {
  const replies = Buffer.from(captures.find((capture) => capture.netns === 'host')!.replies, 'hex');
  const links = parseLinkMessages(replies);
  const port = links.filter((link) => link.ifname === 'vethaaaaaaa');
  const [state] = interfaceStates(
    port,
    parseAddressMessages(replies),
    links.filter((link) => link.ifname === 'br0'),
  );
  assert.equal(state?.master, 'br0');
  assert.equal(interfaceStates(port, [], [])[0]?.master, undefined, 'a master not read is not guessed');
});

test('a truncated answer yields the whole messages before the cut, never an exception', () => {
  const replies = Buffer.from(captures[0]!.replies, 'hex');
  const whole = parseLinkMessages(replies).length;
  assert.deepEqual(parseLinkMessages(replies.subarray(0, 3)), []);
  for (const cut of [0, 3, 17, 100, 2000, replies.length - 1]) {
    const links = parseLinkMessages(replies.subarray(0, cut));
    assert.ok(links.length <= whole);
    parseAddressMessages(replies.subarray(0, cut));
  }
});

test('the requests: dumps of every link (no counters) and every address, a link by name or by index', () => {
  const header = (bytes: Uint8Array) => {
    const [message] = messagesOf(bytes);
    return { type: message!.type, flags: message!.flags, payload: message!.payload, length: Buffer.from(bytes).readUInt32LE(0) };
  };
  const links = header(linkDump());
  assert.deepEqual([links.type, links.flags, links.length], [18, 0x301, linkDump().length]);
  assert.equal(attributesOf(links.payload, 16).get(29)?.readUInt32LE(0), 1 << 3, 'IFLA_EXT_MASK: RTEXT_FILTER_SKIP_STATS');
  const addresses = header(addressDump());
  assert.deepEqual([addresses.type, addresses.flags, addresses.payload.length], [22, 0x301, 8]);
  const byName = header(linkGetByName('veth5a5bd80'));
  assert.deepEqual([byName.type, byName.flags], [18, 0x1]);
  assert.equal(stringOf(attributesOf(byName.payload, 16).get(3)!), 'veth5a5bd80');
  const byIndex = header(linkGetByIndex(42));
  assert.equal(byIndex.payload.readInt32LE(4), 42);
});
