/**
 * The trace's pure parts: `nft monitor` lines parsed, the probe's own events
 * picked out, the probe table rendered, the target chosen, published ports
 * matched, and the verdict (with its fix) for each way a path ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTraceLines, renderProbeTable, type TraceEvent } from '../../src/firewall/index.js';
import { probeEvents, checkTraceRequest, replyEvents, answerSeen } from '../../src/trace/tracer.js';
import { chooseTarget, matchPublished, sharedNetworks, type PublishedPort } from '../../src/trace/plan.js';
import { decideVerdict, droppingRule, nameVerdict } from '../../src/trace/verdict.js';
import { formatTrace } from '../../src/trace/format.js';
import type { Attachment, Party, TraceFacts } from '../../src/trace/model.js';

const MONITOR = `add table inet skiff_trace_1a2b3c4d
trace id 270a0e76 inet skiff_trace_1a2b3c4d from_outside packet: iif "br-a" ip saddr 172.18.0.2 ip daddr 172.19.0.2 ip id 26477 ip protocol icmp ip length 84
trace id 270a0e76 inet skiff_trace_1a2b3c4d from_outside rule ip saddr 172.18.0.2 meta nftrace set 1 (verdict continue)
trace id 270a0e76 inet skiff prerouting packet: iif "br-a" ip saddr 172.18.0.2 ip daddr 172.19.0.2 ip id 26477
trace id 270a0e76 inet skiff prerouting policy accept 
trace id 5ccdd794 inet skiff forward packet: iif "br-a" oif "br-b" ip saddr 172.18.0.2 ip daddr 172.19.0.2 ip id 26477
trace id 5ccdd794 inet skiff forward rule jump user (verdict jump user)
trace id 5ccdd794 inet skiff forward rule iifname @bridges oifname @bridges drop (verdict drop)
trace id 99999999 inet skiff forward packet: iif "eth9" ip saddr 10.9.9.9 ip daddr 172.19.0.2
trace id 99999999 inet skiff forward rule iifname @bridges accept (verdict accept)
`;

test('nft monitor trace lines parse into events; other lines are skipped', () => {
  const events = parseTraceLines(MONITOR);
  assert.equal(events.length, 9);
  assert.deepEqual(events[6], {
    id: '5ccdd794',
    family: 'inet',
    table: 'skiff',
    chain: 'forward',
    kind: 'rule',
    text: 'iifname @bridges oifname @bridges drop',
    verdict: 'drop',
  });
  assert.deepEqual(events[3], { id: '270a0e76', family: 'inet', table: 'skiff', chain: 'prerouting', kind: 'policy', text: 'accept' });
});

test("the probe's events follow it across trace ids (routing gives a new one), without the trace's own table or anyone else's packets", () => {
  const events = probeEvents(parseTraceLines(MONITOR), '172.18.0.2', 'skiff_trace_1a2b3c4d');
  assert.deepEqual(
    events.map((event) => `${event.chain}:${event.kind}`),
    ['prerouting:packet', 'prerouting:policy', 'forward:packet', 'forward:rule', 'forward:rule'],
  );
  assert.deepEqual(droppingRule(events), { table: 'skiff', chain: 'forward', rule: 'iifname @bridges oifname @bridges drop' });
});

test("a LAN probe's answer is followed past the trace's own table, and a reset reads as a refusal", () => {
  const lines = `trace id 05de0ad4 inet skiff_trace_1 from_outside packet: iif "br-a" ip saddr 172.18.0.2 ip daddr 198.51.100.2 ip protocol tcp tcp flags == 0x12
trace id e3139f2b inet skiff forward packet: iif "br-a" oif "to-lan" ip saddr 172.18.0.2 ip daddr 198.51.100.2 ip protocol tcp tcp flags == 0x12
trace id e3139f2b inet skiff forward rule iifname @bridges accept (verdict accept)
trace id e3139f2b inet skiff_trace_1 replies rule ct mark 0x1 ct direction reply drop (verdict drop)
trace id 77777777 inet skiff forward packet: iif "br-a" oif "to-lan" ip saddr 172.18.0.2 ip daddr 198.51.100.2 ip protocol tcp tcp flags == 0x12
`;
  const replies = replyEvents(parseTraceLines(lines), '198.51.100.2', 'skiff_trace_1');
  assert.deepEqual(
    replies.map((event) => `${event.id} ${event.chain} ${event.kind}`),
    ['e3139f2b forward packet', 'e3139f2b forward rule'],
  );
  assert.equal(answerSeen(replies)?.outcome, 'answered');
  assert.equal(answerSeen(parseTraceLines(lines.replaceAll('0x12', '0x14')))?.outcome, 'refused');
  assert.equal(answerSeen([]), undefined);
});

test('the probe table marks exactly the probe, before NAT, and refuses anything but plain values', () => {
  const script = renderProbeTable(
    'skiff_trace_1',
    { source: '172.18.0.2', destination: '172.18.0.3', protocol: 'tcp', sourcePort: 41234, destinationPort: 80 },
    0x1234,
    true,
  );
  assert.match(script, /add chain inet skiff_trace_1 from_outside \{ type filter hook prerouting priority -150; policy accept; \}/);
  assert.match(
    script,
    /add rule inet skiff_trace_1 from_host ip saddr 172\.18\.0\.2 ip daddr 172\.18\.0\.3 tcp sport 41234 tcp dport 80 ct state new meta nftrace set 1 ct mark set 0x1234/,
  );
  assert.match(script, /ct mark 0x1234 ct direction reply drop/);
  assert.doesNotMatch(renderProbeTable('t', { source: '10.0.0.1', destination: '10.0.0.2', protocol: 'icmp', ipLength: 120 }, 1, false), /replies/);
  assert.throws(() => renderProbeTable('t', { source: '10.0.0.1; flush ruleset', destination: '10.0.0.2', protocol: 'icmp' }, 1, false), /IPv4 addresses only/);
  assert.throws(() => renderProbeTable('bad name', { source: '10.0.0.1', destination: '10.0.0.2', protocol: 'icmp' }, 1, false), /invalid nftables table name/);
});

test('requests: a port means TCP unless UDP is asked, none means ICMP; bad ports and a portless UDP are refused', () => {
  assert.equal(checkTraceRequest({ source: 'a', destination: 'b', protocol: 'tcp' }).protocol, 'icmp');
  assert.equal(checkTraceRequest({ source: 'a', destination: 'b', port: 53, protocol: 'udp' }).protocol, 'udp');
  assert.equal(checkTraceRequest({ source: 'a', destination: 'b', port: 80, protocol: 'icmp' }).protocol, 'tcp');
  assert.throws(() => checkTraceRequest({ source: 'a', destination: 'b', port: 70000, protocol: 'tcp' }), /invalid port/);
  assert.throws(() => checkTraceRequest({ source: 'a', destination: 'b', protocol: 'udp' }), /--udp needs --port/);
});

function attachment(network: string, address: string, extra: Partial<Attachment> = {}): Attachment {
  return {
    network,
    networkId: `id-${network}`,
    driver: 'bridge',
    bridge: `br-${network}`,
    defaultBridge: false,
    internal: false,
    icc: true,
    dns: true,
    gateway: address.replace(/\.\d+$/, '.1'),
    address,
    mac: '02:42:00:00:00:00',
    aliases: [],
    ifName: 'eth0',
    hostIfName: `veth${network}`,
    ...extra,
  };
}

function container(name: string, attachments: Attachment[], extra: Partial<Party & { kind: 'container' }> = {}): Party {
  return {
    kind: 'container',
    reference: name,
    name,
    id: `${name}-id`,
    running: true,
    networkMode: attachments[0]?.network ?? 'none',
    netnsPath: `/run/${name}`,
    attachments,
    ...extra,
  };
}

const alpine1 = container('alpine1', [attachment('alpine-net', '172.18.0.2')]);
const alpine2 = container('alpine2', [attachment('alpine-net', '172.18.0.3')]);
const other = container('other', [attachment('other-net', '172.19.0.2')]);
const icmp = { source: 'alpine1', destination: 'alpine2', protocol: 'icmp' } as const;

test('the target: the address on a shared network first, else the first; the host is the gateway; none for a stopped or network-less container', () => {
  const both = container('both', [attachment('other-net', '172.19.0.9'), attachment('alpine-net', '172.18.0.9')]);
  assert.equal((chooseTarget(alpine1, both, icmp) as { address: string }).address, '172.18.0.9');
  assert.deepEqual(sharedNetworks(alpine1, both), ['alpine-net']);
  assert.equal((chooseTarget(alpine1, other, icmp) as { address: string }).address, '172.19.0.2');
  assert.equal((chooseTarget(alpine1, { kind: 'host', reference: 'host' }, icmp) as { address: string }).address, '172.18.0.1');
  assert.deepEqual(chooseTarget(alpine1, container('stopped', [], { running: false }), icmp), { none: 'stopped is not running' });
  assert.deepEqual(chooseTarget(alpine1, container('lonely', [], { networkMode: 'none' }), icmp), {
    none: 'lonely has only a loopback interface (--network none)',
  });
});

test('published ports: the very address first, then any address; a loopback-only binding is returned apart', () => {
  const port = (hostIp: string, hostPort: number): PublishedPort => ({
    protocol: 'tcp',
    hostIp,
    hostPort,
    containerIp: '172.18.0.4',
    containerPort: 80,
    map: 'ports4',
    element: '',
  });
  assert.equal(matchPublished([port('0.0.0.0', 5050)], '198.51.100.1', 5050, 'tcp').match?.hostIp, '0.0.0.0');
  assert.equal(matchPublished([port('0.0.0.0', 5050), port('198.51.100.1', 5050)], '198.51.100.1', 5050, 'tcp').match?.hostIp, '198.51.100.1');
  const loopbackOnly = matchPublished([port('127.0.0.1', 8080)], '198.51.100.1', 8080, 'tcp');
  assert.equal(loopbackOnly.match, undefined);
  assert.equal(loopbackOnly.elsewhere[0]?.hostIp, '127.0.0.1');
  assert.equal(matchPublished([port('0.0.0.0', 5050)], '198.51.100.1', 5050, 'udp').match, undefined);
});

function facts(overrides: Partial<TraceFacts>): TraceFacts {
  return {
    request: icmp,
    source: alpine1,
    destination: alpine2,
    target: { address: '172.18.0.3', why: '' },
    sharedNetworks: ['alpine-net'],
    route: { ok: true, type: 'unicast', dev: 'eth0', preferredSource: '172.18.0.2' },
    publishedElsewhere: [],
    links: [],
    probe: { packet: 'icmp', events: [], outcome: { outcome: 'answered', detail: 'echo reply received' } },
    ...overrides,
  };
}

const dropEvent = (chain: string, rule: string): TraceEvent => ({ id: '1', family: 'inet', table: 'skiff', chain, kind: 'rule', text: rule, verdict: 'drop' });

test('verdicts: reachable; isolation, ICC off, internal and the user chain named with their fix', () => {
  assert.equal(decideVerdict(facts({})).result, 'reachable');
  const isolated = decideVerdict(
    facts({
      destination: other,
      sharedNetworks: [],
      probe: { packet: '', events: [dropEvent('forward', 'iifname @bridges oifname @bridges drop')], outcome: { outcome: 'timeout', detail: '' } },
    }),
  );
  assert.equal(isolated.result, 'unreachable');
  assert.equal(isolated.rule?.rule, 'iifname @bridges oifname @bridges drop');
  assert.match(isolated.reason, /isolates networks/);
  assert.equal(isolated.fix, 'docker network connect other-net alpine1');
  const icc = decideVerdict(
    facts({ probe: { packet: '', events: [dropEvent('forward', 'iifname . oifname @bridge_self drop')], outcome: { outcome: 'timeout', detail: '' } } }),
  );
  assert.match(icc.reason, /ICC is off on alpine-net/);
  const user = decideVerdict(
    facts({ probe: { packet: '', events: [dropEvent('user', 'ip daddr 172.18.0.3 drop')], outcome: { outcome: 'timeout', detail: '' } } }),
  );
  assert.match(user.reason, /a rule of your own in chain user/);
  assert.equal(user.fix, 'nft list chain inet skiff user');
});

test('verdicts: no route out of an internal network, a published port bound to 127.0.0.1 only, a broken veth pointing to diagnose', () => {
  const quiet = container('q', [attachment('quiet', '172.20.0.2', { internal: true })]);
  const internal = decideVerdict(
    facts({
      source: quiet,
      destination: { kind: 'address', reference: '198.51.100.2', address: '198.51.100.2' },
      route: { ok: false, error: 'Network is unreachable' },
      probe: undefined,
    }),
  );
  assert.match(internal.reason, /only on quiet, which is --internal/);
  const loopback = decideVerdict(
    facts({
      source: { kind: 'address', reference: '198.51.100.2', address: '198.51.100.2' },
      destination: { kind: 'host', reference: '198.51.100.1', address: '198.51.100.1' },
      target: { address: '198.51.100.1', port: 8080, why: '' },
      publishedElsewhere: [{ protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8080, containerIp: '172.18.0.4', containerPort: 80, map: 'ports4', element: '' }],
    }),
  );
  assert.match(loopback.reason, /published on 127\.0\.0\.1 only/);
  const broken = decideVerdict(
    facts({
      links: [{ what: "vethabc (alpine2's veth) is a port of br-alpine-net", ok: false, detail: 'no such link', network: 'alpine-net' }],
      probe: undefined,
    }),
  );
  assert.equal(broken.result, 'broken');
  assert.equal(broken.fix, 'skiff network diagnose alpine-net (a daemon restart reconciles the kernel)');
});

test('names: answered; the default bridge has no DNS; no shared network; each with the reason', () => {
  assert.equal(nameVerdict(alpine1, alpine2, { name: 'alpine2', answer: ['172.18.0.3'] }).ok, true);
  const onDefault = container('d1', [attachment('bridge', '172.17.0.2', { defaultBridge: true, dns: false })]);
  const noDns = nameVerdict(onDefault, container('d2', [attachment('bridge', '172.17.0.3', { defaultBridge: true, dns: false })]), { name: 'd2' });
  assert.match(noDns.reason, /d1 and d2 share only the default bridge, which has no embedded DNS/);
  assert.match(nameVerdict(onDefault, alpine2, { name: 'alpine2' }).reason, /d1 is only on the default bridge, which has no embedded DNS/);
  assert.match(nameVerdict(alpine1, other, { name: 'other', askedFrom: '172.18.0.2' }).reason, /answers only for containers on a network both are on/);
  const text = formatTrace({
    ...facts({ name: { name: 'alpine2', answer: ['172.18.0.3'] } }),
    verdict: decideVerdict(facts({ name: { name: 'alpine2', answer: ['172.18.0.3'] } })),
  });
  assert.match(text, /^trace alpine1 -> alpine2 \(icmp echo\)\n/);
  assert.match(text, /result: reachable/);
});

test('--ui: loopback by default and unless --ui-remote; bad values refused with the reason', async () => {
  const { parseUiAddress } = await import('../../src/ui/address.js');
  assert.deepEqual(parseUiAddress('8080', false), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseUiAddress('127.0.0.2:8080', false), { host: '127.0.0.2', port: 8080 });
  assert.deepEqual(parseUiAddress('[::1]:8080', false), { host: '::1', port: 8080 });
  assert.throws(() => parseUiAddress('0.0.0.0:8080', false), /not a loopback address.*--ui-remote/);
  assert.deepEqual(parseUiAddress('0.0.0.0:8080', true), { host: '0.0.0.0', port: 8080 });
  assert.throws(() => parseUiAddress('example.com:80', true), /invalid --ui/);
  assert.throws(() => parseUiAddress('127.0.0.1:70000', false), /invalid --ui/);
});
