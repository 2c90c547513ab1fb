/**
 * Renders skiff's nftables table as `nft -f` script text: a pure function of
 * the networks and published ports, so every combination is golden-tested and
 * the same text is applied atomically by apply.ts.
 *
 * All per-network and per-port data lives in sets and maps; the rules never
 * name a network or a port. Adding a network or publishing a port is an
 * element update (renderNetworkAdded / renderPortsAdded), not a rule rewrite.
 *
 * Ports bound to 127.0.0.1 are reached by the host's own processes through
 * the output hook; the kernel routes such 127.0.0.0/8-sourced packets out of
 * a bridge only with route_localnet=1 on the bridge, which the caller sets
 * (the postrouting chain then masquerades them to the bridge's address).
 * Prerouting never translates 127.0.0.0/8 destinations, and the input chain
 * drops new connections to 127.0.0.0/8 from any interface but lo, so with
 * route_localnet on, neither other hosts nor containers reach the host's
 * loopback.
 *
 * IPv6 ports go through the same chains with the ports6 maps; `::1` is never
 * translated (the kernel has no route_localnet for IPv6), so the port's relay
 * socket in the daemon (ports/proxy.ts) serves the host's [::1].
 *
 * Frames a bridge switches between its own ports reach these hooks only
 * where net.bridge.bridge-nf-call-iptables is on (dockerd's way; skiff turns
 * it off, see bridge-netfilter.ts). The rules hold either way: what the host
 * routes (between networks, published ports, outbound) passes them always,
 * and ICC off is the bridge ports' isolation, with the bridge_self drop for
 * what the host routes back into the same bridge (but published ports).
 */
import { invalid } from '../errors.js';
import { DEFAULT_TABLE, checkTableName, type FirewallNetwork, type FirewallPort, type FirewallState } from './state.js';

/** skiff's own chains, rewritten on every renderTable. */
const HOOKED_CHAINS = [
  { name: 'input', spec: 'type filter hook input priority filter; policy accept;' },
  { name: 'forward', spec: 'type filter hook forward priority filter; policy accept;' },
  { name: 'prerouting', spec: 'type nat hook prerouting priority dstnat; policy accept;' },
  { name: 'output', spec: 'type nat hook output priority -100; policy accept;' },
  { name: 'postrouting', spec: 'type nat hook postrouting priority srcnat; policy accept;' },
] as const;
/** Regular chain holding the DNAT lookups, shared by prerouting and output. */
const PUBLISHED_CHAIN = 'published';
/** The admin's chain (Docker's DOCKER-USER): created, jumped to first, never written to or flushed. */
const USER_CHAIN = 'user';

interface SetSpec {
  kind: 'set' | 'map';
  name: string;
  type: string;
  interval?: boolean;
}

const SETS = {
  /** Every skiff bridge. */
  bridges: { kind: 'set', name: 'bridges', type: 'ifname' },
  /** Every skiff bridge paired with itself: matches traffic staying on one bridge. */
  bridgeSelf: { kind: 'set', name: 'bridge_self', type: 'ifname . ifname' },
  /** ICC-enabled bridges paired with themselves. */
  iccBridges: { kind: 'set', name: 'icc_bridges', type: 'ifname . ifname' },
  internalBridges: { kind: 'set', name: 'internal_bridges', type: 'ifname' },
  /** Subnets of every skiff network (hairpin masquerade). */
  subnets4: { kind: 'set', name: 'subnets4', type: 'ipv4_addr', interval: true },
  subnets6: { kind: 'set', name: 'subnets6', type: 'ipv6_addr', interval: true },
  /** Subnets of masquerading, non-internal networks (outbound NAT). */
  masqSubnets4: { kind: 'set', name: 'masq_subnets4', type: 'ipv4_addr', interval: true },
  masqSubnets6: { kind: 'set', name: 'masq_subnets6', type: 'ipv6_addr', interval: true },
  /** Ports bound to one host address: l4proto . host address . host port -> container address . port. */
  ports4: { kind: 'map', name: 'ports4', type: 'inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service' },
  ports6: { kind: 'map', name: 'ports6', type: 'inet_proto . ipv6_addr . inet_service : ipv6_addr . inet_service' },
  /** Ports bound to any local address: l4proto . host port -> container address . port. */
  ports4Any: { kind: 'map', name: 'ports4_any', type: 'inet_proto . inet_service : ipv4_addr . inet_service' },
  ports6Any: { kind: 'map', name: 'ports6_any', type: 'inet_proto . inet_service : ipv6_addr . inet_service' },
} satisfies Record<string, SetSpec>;

type SetKey = keyof typeof SETS;
/** Elements per set, as nft element text. */
type Elements = Partial<Record<SetKey, string[]>>;

const PROTOCOL_NUMBERS: Record<FirewallPort['protocol'], number> = { tcp: 6, udp: 17, sctp: 132 };

function quoted(ifname: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw invalid(`invalid bridge name "${ifname}"`);
  return `"${ifname}"`;
}

const isIpv6 = (address: string) => address.includes(':');
const isAnyAddress = (address: string) => address === '0.0.0.0' || address === '::';

function networkElements(network: FirewallNetwork): Elements {
  const bridge = quoted(network.bridgeName);
  const masquerading = network.masquerade && !network.internal;
  return {
    bridges: [bridge],
    bridgeSelf: [`${bridge} . ${bridge}`],
    iccBridges: network.icc ? [`${bridge} . ${bridge}`] : [],
    internalBridges: network.internal ? [bridge] : [],
    subnets4: network.subnets4,
    subnets6: network.subnets6,
    masqSubnets4: masquerading ? network.subnets4 : [],
    masqSubnets6: masquerading ? network.subnets6 : [],
  };
}

function portElement(port: FirewallPort): { set: SetKey; element: string } {
  const where = `${port.hostIp}:${port.hostPort}/${port.protocol} -> ${port.containerIp}:${port.containerPort}`;
  const validPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!validPort(port.hostPort) || !validPort(port.containerPort)) throw invalid(`invalid port mapping ${where}`);
  const v6 = isIpv6(port.containerIp);
  if (isIpv6(port.hostIp) !== v6) {
    throw invalid(`cannot publish ${where}: host and container addresses are of different IP families`);
  }
  const protocol = PROTOCOL_NUMBERS[port.protocol];
  const target = `${port.containerIp} . ${port.containerPort}`;
  if (isAnyAddress(port.hostIp)) {
    return { set: v6 ? 'ports6Any' : 'ports4Any', element: `${protocol} . ${port.hostPort} : ${target}` };
  }
  return { set: v6 ? 'ports6' : 'ports4', element: `${protocol} . ${port.hostIp} . ${port.hostPort} : ${target}` };
}

/** The DNAT element of one published port as the kernel holds it: its map's name and the element (nft syntax). */
export function dnatElementOf(port: FirewallPort): { map: string; element: string } {
  const { set, element } = portElement(port);
  return { map: SETS[set].name, element };
}

function portsElements(ports: readonly FirewallPort[]): Elements {
  const elements: Elements = {};
  for (const port of ports) {
    const { set, element } = portElement(port);
    (elements[set] ??= []).push(element);
  }
  return elements;
}

function mergeElements(all: Elements[]): Elements {
  const merged: Elements = {};
  for (const elements of all) {
    for (const [set, items] of Object.entries(elements) as Array<[SetKey, string[]]>) {
      (merged[set] ??= []).push(...items);
    }
  }
  return merged;
}

function elementLines(verb: 'add' | 'delete', table: string, elements: Elements): string[] {
  return (Object.keys(SETS) as SetKey[])
    .filter((set) => (elements[set]?.length ?? 0) > 0)
    .map((set) => `${verb} element inet ${table} ${SETS[set].name} { ${elements[set]!.join(', ')} }`);
}

/**
 * Deletions that succeed whether or not the elements are there: nft 1.0.6 has
 * no `destroy`, so each element is added (a no-op if present) and then
 * deleted in the same transaction.
 */
function removalLines(table: string, elements: Elements): string[] {
  return [...elementLines('add', table, elements), ...elementLines('delete', table, elements)];
}

function script(lines: string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function setDeclaration(table: string, spec: SetSpec): string {
  const flags = spec.interval === true ? ' flags interval;' : '';
  return `add ${spec.kind} inet ${table} ${spec.name} { type ${spec.type};${flags} }`;
}

function rules(table: string): string[] {
  const rule = (chain: string, text: string) => `add rule inet ${table} ${chain} ${text}`;
  const s = (key: SetKey) => `@${SETS[key].name}`;
  return [
    // route_localnet on skiff's bridges lets the host's loopback reach published
    // ports, and would let a container (with CAP_NET_RAW) reach the host's
    // 127.0.0.1-only services too (CVE-2020-8558). Only the answers of the host's
    // own connections, and what skiff itself DNAT'ed, may arrive for 127.0.0.0/8
    // from outside lo. IPv6 needs no rule: the kernel drops ::1 arriving on any
    // other interface (the e2e host-boundaries test shows it).
    rule('input', 'iifname != "lo" ip daddr 127.0.0.0/8 ct state != { established, related } ct status ! dnat drop'),
    rule('forward', `jump ${USER_CHAIN}`),
    // Within one bridge: routed back into it, or bridged where br_netfilter shows switched frames (iifname == oifname).
    rule('forward', `iifname . oifname ${s('iccBridges')} accept`),
    // ICC off still lets a neighbour reach a published port through the host's address, as dockerd's
    // userland proxy (its default) does; the answer comes back masqueraded, below.
    rule('forward', `iifname . oifname ${s('bridgeSelf')} ct status dnat accept`),
    rule('forward', `iifname . oifname ${s('bridgeSelf')} drop`),
    // Isolation: never between two skiff bridges, not even for published ports.
    rule('forward', `iifname ${s('bridges')} oifname ${s('bridges')} drop`),
    rule('forward', `iifname ${s('internalBridges')} drop`),
    rule('forward', `oifname ${s('internalBridges')} drop`),
    rule('forward', `oifname ${s('bridges')} ct state established,related accept`),
    rule('forward', `oifname ${s('bridges')} ct status dnat accept`),
    rule('forward', `oifname ${s('bridges')} drop`),
    rule('forward', `iifname ${s('bridges')} accept`),
    // Loopback destinations are translated only for the host's own processes (output).
    rule('prerouting', 'ip daddr 127.0.0.0/8 return'),
    rule('prerouting', 'ip6 daddr ::1 return'),
    rule('prerouting', `fib daddr type local jump ${PUBLISHED_CHAIN}`),
    // IPv6 has no route_localnet: a packet DNAT'ed from ::1 could not leave lo, so
    // the host's own [::1] connections stay local and reach the port's relay socket.
    rule('output', 'ip6 daddr ::1 return'),
    rule('output', `fib daddr type local jump ${PUBLISHED_CHAIN}`),
    rule(PUBLISHED_CHAIN, `dnat ip to meta l4proto . ip daddr . th dport map ${s('ports4')}`),
    rule(PUBLISHED_CHAIN, `dnat ip to meta l4proto . th dport map ${s('ports4Any')}`),
    rule(PUBLISHED_CHAIN, `dnat ip6 to meta l4proto . ip6 daddr . th dport map ${s('ports6')}`),
    rule(PUBLISHED_CHAIN, `dnat ip6 to meta l4proto . th dport map ${s('ports6Any')}`),
    // Hairpin: a container reaching a published port on its own bridge gets the
    // bridge's address as source, so the answer comes back through the host.
    rule('postrouting', `oifname ${s('bridges')} ct status dnat ip saddr ${s('subnets4')} masquerade`),
    rule('postrouting', `oifname ${s('bridges')} ct status dnat ip6 saddr ${s('subnets6')} masquerade`),
    // The host's own 127.0.0.1 reaching a loopback-bound published port.
    rule('postrouting', `oifname ${s('bridges')} ct status dnat ip saddr 127.0.0.0/8 masquerade`),
    rule('postrouting', `oifname != ${s('bridges')} ip saddr ${s('masqSubnets4')} masquerade`),
    rule('postrouting', `oifname != ${s('bridges')} ip6 saddr ${s('masqSubnets6')} masquerade`),
  ];
}

/**
 * The whole desired table. Applying it again is idempotent: declarations use
 * `add` (a no-op when present) and only skiff's own chains, sets and maps are
 * flushed and refilled in the same transaction; the `user` chain keeps
 * whatever the admin put there.
 */
export function renderTable(state: FirewallState, table: string = DEFAULT_TABLE): string {
  checkTableName(table);
  const elements = mergeElements([...state.networks.map(networkElements), portsElements(state.ports)]);
  const setSpecs: SetSpec[] = Object.values(SETS);
  return script([
    `add table inet ${table}`,
    `add chain inet ${table} ${USER_CHAIN}`,
    `add chain inet ${table} ${PUBLISHED_CHAIN}`,
    ...HOOKED_CHAINS.map((chain) => `add chain inet ${table} ${chain.name} { ${chain.spec} }`),
    ...setSpecs.map((spec) => setDeclaration(table, spec)),
    `flush chain inet ${table} ${PUBLISHED_CHAIN}`,
    ...HOOKED_CHAINS.map((chain) => `flush chain inet ${table} ${chain.name}`),
    ...setSpecs.map((spec) => `flush ${spec.kind} inet ${table} ${spec.name}`),
    ...rules(table),
    ...elementLines('add', table, elements),
  ]);
}

/** Element additions for one more network (the table must exist: renderTable first). */
export function renderNetworkAdded(network: FirewallNetwork, table: string = DEFAULT_TABLE): string {
  return script(elementLines('add', checkTableName(table), networkElements(network)));
}

/** Element deletions for a network; succeeds whether or not they are present. */
export function renderNetworkRemoved(network: FirewallNetwork, table: string = DEFAULT_TABLE): string {
  return script(removalLines(checkTableName(table), networkElements(network)));
}

export function renderPortsAdded(ports: FirewallPort[], table: string = DEFAULT_TABLE): string {
  return script(elementLines('add', checkTableName(table), portsElements(ports)));
}

/** Element deletions for ports; succeeds whether or not they are present. */
export function renderPortsRemoved(ports: FirewallPort[], table: string = DEFAULT_TABLE): string {
  return script(removalLines(checkTableName(table), portsElements(ports)));
}
