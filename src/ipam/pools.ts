/**
 * Default address pools: where a network without --subnet gets its subnet.
 * Docker 20.10's predefined local-scope pools (libnetwork ipamutils) are
 * 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 cut in /20s; dockerd's
 * default-address-pools replaces them with the user's bases cut to a size.
 * Docker 20.10 has no IPv6 defaults: an IPv6 network must name its subnet.
 *
 * The choice is a pure function of the pools, the subnets skiff's networks
 * hold and the host's own networks (routes and addresses, read by
 * kernel/host-networks.ts at each choice): like Docker's route-overlap check,
 * a default pool that would shadow a LAN or VPN the host reaches is skipped.
 */
import { invalid } from '../errors.js';
import { cidrsOverlap, formatAddress, lastAddress, parseCidr, type Cidr, type IpFamily } from './cidr.js';

export const DEFAULT_BRIDGE_SUBNET = '172.17.0.0/16';

/** One entry of dockerd's default-address-pools: base cut into subnets of prefix length size. */
export interface AddressPoolSpec {
  base: string;
  size: number;
}

/** Docker 20.10's localScopeDefaultNetworks, in its order of preference. */
export const DOCKER_DEFAULT_POOL_SPECS: readonly AddressPoolSpec[] = Object.freeze([
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
]);

/** Each spec's base, parsed; Docker's words for a bad one (ipamutils splitNetworks). */
export function validatePoolSpecs(specs: readonly AddressPoolSpec[]): void {
  for (const spec of specs) parseSpec(spec);
}

function parseSpec(spec: AddressPoolSpec): Cidr {
  let base: Cidr;
  try {
    base = parseCidr(spec.base);
  } catch (error) {
    throw invalid(`invalid base pool "${spec.base}": ${(error as Error).message}`, error);
  }
  // Docker 20.10 cuts bases with IPv4 arithmetic only; an IPv6 base would give nonsense there.
  if (base.family !== 4) throw invalid(`invalid base pool "${spec.base}": default address pools are IPv4 (Docker 20.10 has no IPv6 default pools)`);
  if (!Number.isInteger(spec.size) || spec.size <= 0 || spec.size < base.prefix || spec.size > 32) {
    throw invalid(`invalid pools size: ${spec.size}`);
  }
  return base;
}

/**
 * The subnets of the specs, in order, skipping any that overlaps one of
 * taken. Lazy, and it jumps over a taken block in one step, so a /8 cut in
 * /24s (65,536 candidates) costs no more than the blocks it meets.
 */
function* freeSubnets(specs: readonly AddressPoolSpec[], taken: readonly Cidr[]): Generator<Cidr> {
  for (const spec of specs) {
    const base = parseSpec(spec);
    const step = 1n << BigInt(32 - spec.size);
    const end = lastAddress(base);
    let network = base.network;
    while (network <= end) {
      const candidate = parseCidr(`${formatAddress(4, network)}/${spec.size}`);
      const blocking = taken.filter((other) => cidrsOverlap(candidate, other));
      if (blocking.length === 0) {
        yield candidate;
        network += step;
        continue;
      }
      // Past the farthest end of what blocks it, rounded up to the next candidate.
      const blockedUntil = blocking.reduce((far, other) => (lastAddress(other) > far ? lastAddress(other) : far), lastAddress(candidate));
      network = ((blockedUntil + 1n + step - 1n) / step) * step;
    }
  }
}

/** The first pools, in order, as text (docker info, tests); at most limit of them. */
export function expandPools(specs: readonly AddressPoolSpec[], limit: number): string[] {
  const subnets: string[] = [];
  for (const subnet of freeSubnets(specs, [])) {
    if (subnets.length >= limit) break;
    subnets.push(subnet.text);
  }
  return subnets;
}

/** Docker's predefined pools as a list: 172.17.0.0/16 … 172.31.0.0/16, 192.168.0.0/20 … 192.168.240.0/20. */
export const DEFAULT_LOCAL_POOLS: readonly string[] = Object.freeze(expandPools(DOCKER_DEFAULT_POOL_SPECS, 1000));

export const noDefaultPoolMessage = (family: IpFamily) =>
  `could not find an available, non-overlapping IPv${family} address pool among the defaults to assign to the network`;

/**
 * The first default pool that overlaps none of the used subnets (other
 * networks' pools and the host's own networks).
 */
export function pickDefaultPool(usedSubnets: readonly string[], family: IpFamily, specs: readonly AddressPoolSpec[] = DOCKER_DEFAULT_POOL_SPECS): string {
  const taken = usedSubnets.map(parseCidr).filter((cidr) => cidr.family === 4);
  const free = family === 4 ? freeSubnets(specs, taken).next() : undefined;
  if (free === undefined || free.done === true) throw invalid(noDefaultPoolMessage(family));
  return free.value.text;
}

/** The host networks a subnet the user named overlaps: allowed, as in Docker, but worth a line in the log. */
export function hostOverlaps(subnet: string, hostSubnets: readonly string[]): string[] {
  const cidr = parseCidr(subnet);
  return hostSubnets.filter((host) => cidrsOverlap(cidr, parseCidr(host)));
}
