/**
 * skiff's rtnetlink requests against iproute2's, byte for byte: each command
 * of test/fixtures/rtnetlink/ip-requests.json (what `ip` 6.1 sent, recorded
 * by capture.sh beside it) built by messages.ts, the link indices filled in
 * as the sender would (from the indices the namespace had when `ip` ran), and
 * compared with `ip`'s bytes but for the sequence number. Then the error
 * messages a refused batch reads as.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseInterfaceAddress, type InterfaceAddress } from '../../src/model/address.js';
import {
  addrAdd,
  linkAddMacvlan,
  linkAddVeth,
  linkDelete,
  linkSet,
  linkSetBridge,
  routeReplaceDefault,
  type NetnsRef,
  type RtnetlinkRequest,
} from '../../src/kernel/rtnetlink/messages.js';
import { describeFailure } from '../../src/kernel/rtnetlink/send.js';

interface Capture {
  netns: 'host' | 'sandbox';
  args: string[];
  links: Record<string, number>;
  netnsFd: number | null;
  requests: string[];
}

const captures = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/rtnetlink/ip-requests.json', import.meta.url)), 'utf8')) as Capture[];

const address = (text: string): InterfaceAddress => parseInterfaceAddress(text) ?? assert.fail(`not an address: ${text}`);

/** skiff's request for each recorded `ip` command (NETNS: the sandbox's file, open at the descriptor `ip` used). */
const builders: Record<string, (netns: NetnsRef) => RtnetlinkRequest> = {
  'link add veth1234567 mtu 1500 master br0 type veth peer name eth0 address 02:42:ac:11:00:02 mtu 1500 netns NETNS': (netns) =>
    linkAddVeth({ name: 'veth1234567', mtu: 1500, master: 'br0', peer: { name: 'eth0', address: '02:42:ac:11:00:02', mtu: 1500, netns } }),
  'link set dev veth1234567 addrgenmode none': () => linkSet('veth1234567', { noIpv6AddressGeneration: true }),
  'link set dev veth1234567 alias skiff up type bridge_slave hairpin on': () => linkSet('veth1234567', { up: true, alias: 'skiff', hairpin: true }),
  'link set dev veth1234567 alias skiff up type bridge_slave hairpin on isolated on': () =>
    linkSet('veth1234567', { up: true, alias: 'skiff', hairpin: true, isolated: true }),
  'addr add 172.17.0.2/16 dev eth0': () => addrAdd('eth0', address('172.17.0.2/16')),
  'addr add fd00:1::2/64 dev eth0 nodad': () => addrAdd('eth0', address('fd00:1::2/64'), { nodad: true }),
  'addr add 169.254.7.2/16 dev eth0': () => addrAdd('eth0', address('169.254.7.2/16')),
  'addr add fe80::42:acff:fe11:2/64 dev eth0 nodad': () => addrAdd('eth0', address('fe80::42:acff:fe11:2/64'), { nodad: true }),
  'link set eth0 up': () => linkSet('eth0', { up: true }),
  'link set lo up': () => linkSet('lo', { up: true }),
  'route replace default via 172.17.0.1 dev eth0': () => routeReplaceDefault('eth0', '172.17.0.1'),
  'route replace default via fd00:1::1 dev eth0': () => routeReplaceDefault('eth0', 'fd00:1::1'),
  'link set dev br0 type bridge nf_call_iptables 1 nf_call_ip6tables 1': () => linkSetBridge('br0', { nfCallIptables: true, nfCallIp6tables: true }),
  'link set dev veth1234567 down nomaster': () => linkSet('veth1234567', { up: false, nomaster: true }),
  'link delete dev veth1234567': () => linkDelete('veth1234567'),
  'link add link parent0 name mv1234567 address 02:42:ac:11:00:03 netns NETNS type macvlan mode bridge': (netns) =>
    linkAddMacvlan({ name: 'mv1234567', parent: 'parent0', address: '02:42:ac:11:00:03', mode: 'bridge', netns }),
  'link set dev mv1234567 name eth1': () => linkSet('mv1234567', { name: 'eth1' }),
  'link delete dev eth1': () => linkDelete('eth1'),
};

/** The request as it leaves: each link's index written where the request says (as native/rtnetlink.c does). */
function filled(request: RtnetlinkRequest, indices: Record<string, number>): Buffer {
  const bytes = Buffer.from(request.bytes);
  for (const { offset, name } of request.links) {
    const index = indices[name] ?? assert.fail(`link ${name} was not in the namespace when ip ran`);
    bytes.writeUInt32LE(index, offset);
  }
  return bytes;
}

test('the fixture covers every request skiff builds', () => {
  assert.deepEqual(captures.map((capture) => capture.args.join(' ')).sort(), Object.keys(builders).sort());
});

for (const capture of captures) {
  const command = capture.args.join(' ');
  test(`ip ${command}: the same bytes as iproute2`, () => {
    assert.equal(capture.requests.length, 1, 'ip sent one request besides its look-ups');
    const expected = Buffer.from(capture.requests[0]!, 'hex');
    expected.writeUInt32LE(0, 8); // the sequence number is the sender's
    const build = builders[command] ?? assert.fail(`no builder for ${command}`);
    const request = build({ fd: capture.netnsFd ?? -1, path: 'NETNS' });
    assert.equal(filled(request, capture.links).toString('hex'), expected.toString('hex'));
  });
}

test('each request names what it does in ip words, for errors', () => {
  const netns = { fd: 9, path: '/run/skiff/netns/3f2a' };
  assert.equal(
    linkAddVeth({ name: 'veth1', mtu: 1450, peer: { name: 'eth1', address: '02:42:ac:11:00:09', mtu: 1450, netns } }).operation,
    'link add veth1 mtu 1450 type veth peer name eth1 address 02:42:ac:11:00:09 mtu 1450 netns /run/skiff/netns/3f2a',
  );
  assert.equal(linkSet('veth1', { up: false, nomaster: true }).operation, 'link set dev veth1 down nomaster');
  assert.equal(linkSet('veth1', { hairpin: false }).operation, 'link set dev veth1 type bridge_slave hairpin off');
  assert.equal(linkSet('veth1', { isolated: true }).operation, 'link set dev veth1 type bridge_slave isolated on');
  assert.equal(addrAdd('eth0', address('172.17.0.2/16'), { nodad: true }).operation, 'addr add 172.17.0.2/16 dev eth0', 'nodad is IPv6 only');
  assert.equal(routeReplaceDefault('eth0', 'fd00::1').operation, 'route replace default via fd00::1 dev eth0');
});

test('a veth without a master names no bridge; hairpin off is mode 0', () => {
  const netns = { fd: 9, path: '/p' };
  const request = linkAddVeth({ name: 'veth1', mtu: 1500, peer: { name: 'eth0', address: '02:00:00:00:00:01', mtu: 1500, netns } });
  assert.deepEqual(request.links, []);
  const off = linkSet('veth1', { hairpin: false });
  assert.equal(off.bytes[off.bytes.length - 4], 0);
  assert.equal(Buffer.from(off.bytes).readUInt32LE(0), off.bytes.length, 'nlmsg_len is the whole message');
});

test('a bad MAC is refused before anything is sent', () => {
  assert.throws(() => linkAddMacvlan({ name: 'm', parent: 'p', address: '02:42', mode: 'bridge', netns: { fd: 3, path: '/p' } }), /not a MAC address: "02:42"/);
});

test("a refused batch reads as ip's error, naming the namespace and the request", () => {
  const requests = [addrAdd('eth0', address('172.17.0.2/16')), linkSet('eth0', { up: true })];
  const netnsPath = '/run/skiff/netns/3f2a';
  assert.equal(
    describeFailure({ index: 0, step: 'request', errno: 17, reason: 'File exists' }, requests, netnsPath),
    'in netns "/run/skiff/netns/3f2a": addr add 172.17.0.2/16 dev eth0: RTNETLINK answers: File exists',
  );
  assert.equal(
    describeFailure({ index: 1, step: 'link', errno: 19, reason: 'No such device', link: 'eth0' }, requests, netnsPath),
    'in netns "/run/skiff/netns/3f2a": link set dev eth0 up: Cannot find device "eth0"',
  );
  assert.equal(
    describeFailure({ index: 0, step: 'request', errno: 22, reason: 'Invalid argument', extack: 'Invalid prefix for given prefix length' }, requests),
    'addr add 172.17.0.2/16 dev eth0: RTNETLINK answers: Invalid argument (Invalid prefix for given prefix length)',
  );
  assert.equal(
    describeFailure({ index: -1, step: 'open', errno: 2, reason: 'No such file or directory' }, requests, netnsPath),
    'failed to open an rtnetlink socket in netns "/run/skiff/netns/3f2a": open: No such file or directory',
  );
});
