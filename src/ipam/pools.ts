/**
 * Docker's predefined local-scope pools (libnetwork ipamutils, Docker 20.10):
 * 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 cut in /20s. Docker 20.10
 * has no IPv6 defaults: an IPv6 network must name its subnet.
 */
import { invalid } from '../errors.js';
import { cidrsOverlap, formatAddress, parseCidr, type Cidr, type IpFamily } from './cidr.js';

export const DEFAULT_BRIDGE_SUBNET = '172.17.0.0/16';

function splitInto(parent: string, prefix: number): string[] {
  const cidr = parseCidr(parent);
  const step = 1n << BigInt(32 - prefix);
  const pieces: string[] = [];
  for (let network = cidr.network; network < cidr.network + cidr.size; network += step) {
    pieces.push(`${formatAddress(4, network)}/${prefix}`);
  }
  return pieces;
}

/** In Docker's order of preference. */
export const DEFAULT_LOCAL_POOLS: readonly string[] = Object.freeze([
  ...splitInto('172.16.0.0/12', 16).slice(1),
  ...splitInto('192.168.0.0/16', 20),
]);

const defaultPoolCidrs: readonly Cidr[] = DEFAULT_LOCAL_POOLS.map(parseCidr);

export const noDefaultPoolMessage = (family: IpFamily) =>
  `could not find an available, non-overlapping IPv${family} address pool among the defaults to assign to the network`;

/**
 * The first default pool that overlaps none of the used subnets (other
 * networks' pools; the engine may add the host's routes, as Docker does when
 * it picks a default pool).
 */
export function pickDefaultPool(usedSubnets: readonly string[], family: IpFamily): string {
  const used = usedSubnets.map(parseCidr);
  const free = family === 4 ? defaultPoolCidrs.find((pool) => !used.some((taken) => cidrsOverlap(pool, taken))) : undefined;
  if (free === undefined) throw invalid(noDefaultPoolMessage(family));
  return free.text;
}
