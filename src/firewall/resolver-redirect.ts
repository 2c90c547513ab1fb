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
import { SkiffError } from '../errors.js';

export const RESOLVER_ADDRESS = '127.0.0.11';
export const REDIRECT_TABLE = 'skiff_dns';
const REDIRECT_CHAIN = 'resolver';

export interface RedirectPorts {
  udp: number;
  tcp: number;
}

/**
 * The nft script for the container's netns, one transaction: the table is
 * made afresh (whatever an older skiff left in it goes: a NAT chain would
 * keep connection tracking on), with one chain at the raw priority, before
 * connection tracking, whose rules mark the resolver's packets untracked and
 * rewrite their port.
 */
export function renderResolverRedirect(ports: RedirectPorts): string {
  const rule = (text: string) => `add rule ip ${REDIRECT_TABLE} ${REDIRECT_CHAIN} ${text}`;
  return [
    `add table ip ${REDIRECT_TABLE}`,
    `delete table ip ${REDIRECT_TABLE}`,
    `add table ip ${REDIRECT_TABLE}`,
    `add chain ip ${REDIRECT_TABLE} ${REDIRECT_CHAIN} { type filter hook output priority raw; policy accept; }`,
    ...(['udp', 'tcp'] as const).flatMap((protocol) => [
      rule(`ip daddr ${RESOLVER_ADDRESS} ${protocol} dport 53 notrack ${protocol} dport set ${ports[protocol]}`),
      rule(`ip saddr ${RESOLVER_ADDRESS} ${protocol} sport ${ports[protocol]} notrack ${protocol} sport set 53`),
    ]),
    '',
  ].join('\n');
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
    await runInNetns(netnsPath, 'nft', ['-f', '-'], { input: renderResolverRedirect(ports) });
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
    await runInNetns(netnsPath, 'nft', ['-f', '-'], {
      input: `add table ip ${REDIRECT_TABLE}\nflush table ip ${REDIRECT_TABLE}\n`,
    });
  } catch (error) {
    throw new SkiffError('unavailable', `failed to remove the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}
