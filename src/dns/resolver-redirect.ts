/**
 * Containers keep Docker's resolv.conf (nameserver 127.0.0.11) while the
 * server listens on the network's gateway: inside the container's netns a
 * small nftables table sends 127.0.0.11:53 on to gateway:53 and gives the
 * query the container's own source address, so the server knows who asks and
 * the reply finds its way back (conntrack undoes both rewrites).
 */
import { runInNetns } from '../kernel/exec.js';
import { SkiffError } from '../errors.js';

export const RESOLVER_ADDRESS = '127.0.0.11';
export const REDIRECT_TABLE = 'skiff_dns';

/** The nft script for the container's netns; it replaces any earlier table of the same name in one transaction. */
export function renderResolverRedirect(gatewayIp: string, containerIp: string): string {
  return [
    `add table ip ${REDIRECT_TABLE}`,
    `delete table ip ${REDIRECT_TABLE}`,
    `table ip ${REDIRECT_TABLE} {`,
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    `    ip daddr ${RESOLVER_ADDRESS} udp dport 53 dnat to ${gatewayIp}:53`,
    `    ip daddr ${RESOLVER_ADDRESS} tcp dport 53 dnat to ${gatewayIp}:53`,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority 100; policy accept;`,
    // A loopback source cannot leave the namespace; the server must see the container's address.
    `    ip saddr 127.0.0.0/8 ip daddr ${gatewayIp} udp dport 53 snat to ${containerIp}`,
    `    ip saddr 127.0.0.0/8 ip daddr ${gatewayIp} tcp dport 53 snat to ${containerIp}`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/**
 * Installs (or re-points) the redirect in the netns at netnsPath.
 * route_localnet lets a packet with a 127/8 source be routed out of lo at all,
 * before postrouting rewrites its source.
 */
export async function installResolverRedirect(netnsPath: string, gatewayIp: string, containerIp: string): Promise<void> {
  try {
    await runInNetns(netnsPath, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
    await runInNetns(netnsPath, 'nft', ['-f', '-'], { input: renderResolverRedirect(gatewayIp, containerIp) });
  } catch (error) {
    throw new SkiffError('unavailable', `failed to set up the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}

/** Removes the redirect; a netns without one is no error. */
export async function removeResolverRedirect(netnsPath: string): Promise<void> {
  try {
    await runInNetns(netnsPath, 'nft', ['-f', '-'], { input: `add table ip ${REDIRECT_TABLE}\ndelete table ip ${REDIRECT_TABLE}\n` });
    await runInNetns(netnsPath, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.route_localnet=0']);
  } catch (error) {
    throw new SkiffError('unavailable', `failed to remove the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}
