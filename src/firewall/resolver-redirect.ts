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

/**
 * The nft script for the container's netns: declares the table and chains
 * (idempotent), flushes the chains and writes the rules, in one transaction.
 * Flushing is much cheaper than deleting a table with NAT hooks (which waits
 * for the kernel to quiesce), and re-pointing at another gateway is the same script.
 */
export function renderResolverRedirect(
  gatewayIp: string,
  containerIp: string,
  loopbackUpstreams: ReadonlyArray<{ address: string; port: number }> = [],
): string {
  // The server asks a container's loopback upstream at the container's address; here it goes on to the loopback.
  const loopbackLines =
    loopbackUpstreams.length === 0
      ? []
      : [
          `add chain ip ${REDIRECT_TABLE} prerouting { type nat hook prerouting priority -100; policy accept; }`,
          `flush chain ip ${REDIRECT_TABLE} prerouting`,
          ...loopbackUpstreams.flatMap(({ address, port }) =>
            ['udp', 'tcp'].map(
              (protocol) =>
                `add rule ip ${REDIRECT_TABLE} prerouting ip saddr ${gatewayIp} ip daddr ${containerIp} ${protocol} dport ${port} dnat to ${address}:${port}`,
            ),
          ),
        ];
  return [
    `add table ip ${REDIRECT_TABLE}`,
    `add chain ip ${REDIRECT_TABLE} output { type nat hook output priority -100; policy accept; }`,
    `add chain ip ${REDIRECT_TABLE} postrouting { type nat hook postrouting priority 100; policy accept; }`,
    `flush chain ip ${REDIRECT_TABLE} output`,
    `flush chain ip ${REDIRECT_TABLE} postrouting`,
    `add rule ip ${REDIRECT_TABLE} output ip daddr ${RESOLVER_ADDRESS} udp dport 53 dnat to ${gatewayIp}:53`,
    `add rule ip ${REDIRECT_TABLE} output ip daddr ${RESOLVER_ADDRESS} tcp dport 53 dnat to ${gatewayIp}:53`,
    // A loopback source cannot leave the namespace; the server must see the container's address.
    `add rule ip ${REDIRECT_TABLE} postrouting ip saddr 127.0.0.0/8 ip daddr ${gatewayIp} udp dport 53 snat to ${containerIp}`,
    `add rule ip ${REDIRECT_TABLE} postrouting ip saddr 127.0.0.0/8 ip daddr ${gatewayIp} tcp dport 53 snat to ${containerIp}`,
    ...loopbackLines,
    '',
  ].join('\n');
}

/**
 * Installs (or re-points) the redirect in the netns at netnsPath.
 * route_localnet lets a packet with a 127/8 source be routed out of lo at all,
 * before postrouting rewrites its source.
 */
export async function installResolverRedirect(
  netnsPath: string,
  gatewayIp: string,
  containerIp: string,
  options: { setRouteLocalnet?: boolean; loopbackUpstreams?: ReadonlyArray<{ address: string; port: number }> } = {},
): Promise<void> {
  try {
    // The engine sets route_localnet when it makes a sandbox; others (tests, the library alone) need it here.
    if (options.setRouteLocalnet !== false) await runInNetns(netnsPath, 'sysctl', ['-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
    await runInNetns(netnsPath, 'nft', ['-f', '-'], { input: renderResolverRedirect(gatewayIp, containerIp, options.loopbackUpstreams) });
  } catch (error) {
    throw new SkiffError('unavailable', `failed to set up the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}

/** Removes the redirect's rules (the empty table stays, ready for the next join); a netns without one is no error. */
export async function removeResolverRedirect(netnsPath: string): Promise<void> {
  try {
    await runInNetns(netnsPath, 'nft', ['-f', '-'], {
      input: `add table ip ${REDIRECT_TABLE}\nadd chain ip ${REDIRECT_TABLE} output\nadd chain ip ${REDIRECT_TABLE} postrouting\nflush table ip ${REDIRECT_TABLE}\n`,
    });
  } catch (error) {
    throw new SkiffError('unavailable', `failed to remove the DNS redirect in netns "${netnsPath}": ${(error as Error).message}`, { cause: error });
  }
}
