/**
 * The host's own IPv4 networks, which a default address pool must not shadow
 * (Docker's route-overlap check): every route's destination in every table
 * but default routes, every interface address with its prefix (an address
 * added with noprefixroute has no route), and the resolv.conf nameservers
 * that are not loopback (Docker checks those too). Read afresh at each
 * choice: a VPN may have come up since the last one. The parsers are pure.
 */
import { readFile } from 'node:fs/promises';
import { run } from './exec.js';

interface RouteJson {
  dst?: string;
}
interface AddrJson {
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number }>;
}

/** `ip -json -4 route show table all` → destinations as CIDRs ("127.0.0.1" is a /32). */
export function routeDestinations(json: string): string[] {
  const routes = JSON.parse(json === '' ? '[]' : json) as RouteJson[];
  return routes
    .map((route) => route.dst)
    .filter((dst): dst is string => dst !== undefined && dst !== 'default' && !dst.includes(':'))
    .map((dst) => (dst.includes('/') ? dst : `${dst}/32`));
}

/** `ip -json -4 addr show` → each IPv4 address with its prefix, as a CIDR. */
export function interfaceNetworks(json: string): string[] {
  const links = JSON.parse(json === '' ? '[]' : json) as AddrJson[];
  return links
    .flatMap((link) => link.addr_info ?? [])
    .filter((info) => info.family === 'inet' && info.local !== undefined && info.prefixlen !== undefined)
    .map((info) => `${info.local}/${info.prefixlen}`);
}

/** resolv.conf text → its IPv4 nameservers as /32s, loopback ones left out (containers never reach them). */
export function nameserverNetworks(resolvConf: string): string[] {
  return resolvConf
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line)?.[1])
    .filter((server): server is string => server !== undefined && !server.startsWith('127.'))
    .map((server) => `${server}/32`);
}

export async function readHostNetworks(): Promise<string[]> {
  const [routes, addresses, resolvConf] = await Promise.all([
    run('ip', ['-json', '-4', 'route', 'show', 'table', 'all']),
    run('ip', ['-json', '-4', 'addr', 'show']),
    readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
  ]);
  return [...new Set([...routeDestinations(routes.stdout), ...interfaceNetworks(addresses.stdout), ...nameserverNetworks(resolvConf)])];
}

/** An interface's IPv4 addresses with their prefix ("172.17.0.1/16"); none when it does not exist. */
export async function readInterfaceAddresses(name: string): Promise<string[]> {
  const result = await run('ip', ['-json', '-4', 'addr', 'show', 'dev', name]).catch(() => undefined);
  return result === undefined ? [] : interfaceNetworks(result.stdout);
}
