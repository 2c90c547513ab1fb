/**
 * Containers keep Docker's resolv.conf (nameserver 127.0.0.11) while the
 * embedded DNS answers on sockets made in the container's namespace on
 * 127.0.0.11 at ports the kernel chose, as Docker's resolver does (so a
 * container's own server on 0.0.0.0:53 still binds). A small nftables table
 * in that namespace rewrites the port both ways, statelessly: a query to
 * 127.0.0.11:53 goes to the resolver's port, and a reply from it leaves as
 * from port 53. Unlike a DNAT (Docker's iptables rules) this needs no
 * connection tracking: no conntrack entry per lookup, and none at all in a
 * namespace that has no other use for it. Everything stays on the
 * namespace's lo.
 */
import { runInNetns } from '../kernel/exec.js';
import {
  addBaseChain,
  addRule,
  addTable,
  deleteTable,
  equals,
  flushTable,
  immediate,
  meta,
  notrack,
  payload,
  payloadSet,
  u16Bytes,
} from '../kernel/nftables/messages.js';
import { sendTransaction, type NftablesCommand } from '../kernel/nftables/send.js';
import { SkiffError } from '../errors.js';

export const RESOLVER_ADDRESS = '127.0.0.11';
export const REDIRECT_TABLE = 'skiff_dns';
const REDIRECT_CHAIN = 'resolver';
const RESOLVER_BYTES = Uint8Array.from(RESOLVER_ADDRESS.split('.').map(Number));
const DNS_PORT = 53;
/** NF_IP_PRI_RAW: before connection tracking. */
const RAW_PRIORITY = -300;
// Offsets in the IPv4 header, and in the UDP and TCP headers alike.
const IPV4_SADDR = 12;
const IPV4_DADDR = 16;
const SPORT = 0;
const DPORT = 2;
const TRANSPORTS = { udp: { number: 17, checksumOffset: 6 }, tcp: { number: 6, checksumOffset: 16 } } as const;

export interface RedirectPorts {
  udp: number;
  tcp: number;
}

/**
 * The redirect's one transaction, each change with its nft command: the
 * table is made afresh (whatever an older skiff left in it goes: a NAT
 * chain would keep connection tracking on), with one chain at the raw
 * priority, before connection tracking, whose rules mark the resolver's
 * packets untracked and rewrite their port (the L4 checksum fixed as nft
 * fixes it). Sent as netlink messages by the daemon itself; the nft words
 * name a refused change and are what `nft -f` would take.
 */
export function resolverRedirectCommands(ports: RedirectPorts): NftablesCommand[] {
  /** `ip ADDRESS 127.0.0.11 PROTOCOL PORT FROM notrack PROTOCOL PORT set TO` */
  const rewrite = (protocol: keyof typeof TRANSPORTS, address: 'saddr' | 'daddr', port: 'sport' | 'dport', from: number, to: number): NftablesCommand => {
    const { number, checksumOffset } = TRANSPORTS[protocol];
    const portOffset = port === 'sport' ? SPORT : DPORT;
    return {
      message: addRule('ip', REDIRECT_TABLE, REDIRECT_CHAIN, [
        payload('network', address === 'saddr' ? IPV4_SADDR : IPV4_DADDR, 4),
        equals(RESOLVER_BYTES),
        meta('l4proto'),
        equals(Uint8Array.of(number)),
        payload('transport', portOffset, 2),
        equals(u16Bytes(from)),
        notrack(),
        immediate(u16Bytes(to)),
        payloadSet('transport', portOffset, 2, checksumOffset),
      ]),
      nft: `add rule ip ${REDIRECT_TABLE} ${REDIRECT_CHAIN} ip ${address} ${RESOLVER_ADDRESS} ${protocol} ${port} ${from} notrack ${protocol} ${port} set ${to}`,
    };
  };
  return [
    { message: addTable('ip', REDIRECT_TABLE), nft: `add table ip ${REDIRECT_TABLE}` },
    { message: deleteTable('ip', REDIRECT_TABLE), nft: `delete table ip ${REDIRECT_TABLE}` },
    { message: addTable('ip', REDIRECT_TABLE), nft: `add table ip ${REDIRECT_TABLE}` },
    {
      message: addBaseChain('ip', REDIRECT_TABLE, REDIRECT_CHAIN, { type: 'filter', hook: 'output', priority: RAW_PRIORITY, policy: 'accept' }),
      nft: `add chain ip ${REDIRECT_TABLE} ${REDIRECT_CHAIN} { type filter hook output priority raw; policy accept; }`,
    },
    ...(['udp', 'tcp'] as const).flatMap((protocol) => [
      rewrite(protocol, 'daddr', 'dport', DNS_PORT, ports[protocol]),
      rewrite(protocol, 'saddr', 'sport', ports[protocol], DNS_PORT),
    ]),
  ];
}

/** The same transaction as an nft script (`nft -f` takes it; the kernel tests compare the two). */
export function renderResolverRedirect(ports: RedirectPorts): string {
  return [...resolverRedirectCommands(ports).map((command) => command.nft), ''].join('\n');
}

/** Empties the table (it stays, ready for the next join); made first, so a namespace without one is no error. */
export function resolverRedirectRemoval(): NftablesCommand[] {
  return [
    { message: addTable('ip', REDIRECT_TABLE), nft: `add table ip ${REDIRECT_TABLE}` },
    { message: flushTable('ip', REDIRECT_TABLE), nft: `flush table ip ${REDIRECT_TABLE}` },
  ];
}

/** The ports a redirect written by renderResolverRedirect sends to, read from `nft list table` output; undefined unless both are there. */
export function parseResolverRedirect(listing: string): RedirectPorts | undefined {
  const port = (protocol: string) => {
    const match = new RegExp(`ip daddr 127\\.0\\.0\\.11 ${protocol} dport 53 notrack ${protocol} dport set (\\d+)`).exec(listing);
    return match === null ? undefined : Number(match[1]);
  };
  const udp = port('udp');
  const tcp = port('tcp');
  return udp === undefined || tcp === undefined ? undefined : { udp, tcp };
}

/** Installs (or re-points) the redirect in the netns at netnsPath. */
export async function installResolverRedirect(netnsPath: string, ports: RedirectPorts): Promise<void> {
  try {
    await sendTransaction(netnsPath, resolverRedirectCommands(ports));
  } catch (error) {
    throw new SkiffError('unavailable', `failed to set up the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}

/** The redirect in the netns at netnsPath now (a restarted daemon takes the same ports back); undefined when there is none. */
export async function readResolverRedirect(netnsPath: string): Promise<RedirectPorts | undefined> {
  try {
    return parseResolverRedirect((await runInNetns(netnsPath, 'nft', ['list', 'table', 'ip', REDIRECT_TABLE])).stdout);
  } catch {
    return undefined; // no table yet: nothing to take back
  }
}

/** Removes the redirect's rules (the empty table stays, ready for the next join); a netns without one is no error. */
export async function removeResolverRedirect(netnsPath: string): Promise<void> {
  try {
    await sendTransaction(netnsPath, resolverRedirectRemoval());
  } catch (error) {
    throw new SkiffError('unavailable', `failed to remove the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}
