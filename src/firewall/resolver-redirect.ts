/**
 * Containers keep Docker's resolv.conf (nameserver 127.0.0.11) while the
 * embedded DNS answers on sockets made in the container's namespace on
 * 127.0.0.11 at ports the kernel chose: a small nftables table in that
 * namespace sends 127.0.0.11:53 on to them, as Docker's iptables rules do.
 * Everything stays on the namespace's lo, and a container's own server on
 * 0.0.0.0:53 still binds. Connection tracking gives the replies port 53 back.
 */
import { runInNetns } from '../kernel/exec.js';
import { SkiffError } from '../errors.js';

export const RESOLVER_ADDRESS = '127.0.0.11';
export const REDIRECT_TABLE = 'skiff_dns';

export interface RedirectPorts {
  udp: number;
  tcp: number;
}

/**
 * The nft script for the container's netns: declares the table and its chain
 * (idempotent), empties the table (also of the chains older versions of skiff
 * wrote there) and writes the rules, in one transaction. Flushing is much
 * cheaper than deleting a table with NAT hooks (which waits for the kernel to
 * quiesce).
 */
export function renderResolverRedirect(ports: RedirectPorts): string {
  return [
    `add table ip ${REDIRECT_TABLE}`,
    `add chain ip ${REDIRECT_TABLE} output { type nat hook output priority -100; policy accept; }`,
    `flush table ip ${REDIRECT_TABLE}`,
    `add rule ip ${REDIRECT_TABLE} output ip daddr ${RESOLVER_ADDRESS} udp dport 53 dnat to ${RESOLVER_ADDRESS}:${ports.udp}`,
    `add rule ip ${REDIRECT_TABLE} output ip daddr ${RESOLVER_ADDRESS} tcp dport 53 dnat to ${RESOLVER_ADDRESS}:${ports.tcp}`,
    '',
  ].join('\n');
}

/** The ports a redirect written by renderResolverRedirect sends to, read from `nft list table` output; undefined unless both are there. */
export function parseResolverRedirect(listing: string): RedirectPorts | undefined {
  const port = (protocol: string) => {
    const match = new RegExp(`${protocol} dport 53 dnat (?:ip )?to 127\\.0\\.0\\.11:(\\d+)`).exec(listing);
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
      input: `add table ip ${REDIRECT_TABLE}\nadd chain ip ${REDIRECT_TABLE} output\nflush table ip ${REDIRECT_TABLE}\n`,
    });
  } catch (error) {
    throw new SkiffError('unavailable', `failed to remove the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}
