/**
 * Cluster-wide choices, pure: which subnet, VNI and address a new network or
 * endpoint gets, given what the cluster already holds. The etcd transaction
 * that records a choice checks that nothing changed since it was read, so two
 * daemons choosing at the same instant never both win (see plan.ts).
 */
import { SkiffError, forbidden, invalid } from '../errors.js';
import { cidrContains, cidrsOverlap, formatAddress, lastAddress, parseAddressOrUndefined, parseCidr, type Cidr } from '../ipam/cidr.js';

/** Docker's default address pool for global networks: 10.0.0.0/8 cut in /24s. */
export const DEFAULT_GLOBAL_POOL = { base: '10.0.0.0/8', size: 24 } as const;

/** libnetwork's overlay VNIs: 4096 up to the top of VXLAN's 24 bits. */
export const FIRST_VNI = 4096;
export const LAST_VNI = 0xffffff;

/** Docker 20.10's words. */
export const ALLOCATION_ERRORS = {
  poolOverlap: 'Pool overlaps with other one on this address space',
  noDefaultPool: 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
  addressInUse: 'Address already in use',
  outOfRange: 'Requested address is out of range',
} as const;

function ipv4Cidr(text: string, what: string): Cidr {
  const cidr = parseCidr(text);
  if (cidr.family !== 4) throw invalid(`${what} ${text}: global networks take IPv4 subnets only`);
  return cidr;
}

/**
 * The requested subnet if it overlaps none of the taken ones, else the first
 * step of the pool that overlaps nothing taken.
 */
export function chooseSubnet(taken: readonly string[], requested?: string, pool: { base: string; size: number } = DEFAULT_GLOBAL_POOL): string {
  const takenCidrs = taken.map((text) => parseCidr(text));
  if (requested !== undefined) {
    const cidr = ipv4Cidr(requested, 'subnet');
    if (takenCidrs.some((other) => cidrsOverlap(cidr, other))) throw forbidden(ALLOCATION_ERRORS.poolOverlap);
    return cidr.text;
  }
  const base = ipv4Cidr(pool.base, 'pool');
  const step = 1n << BigInt(32 - pool.size);
  const poolEnd = base.network + base.size;
  let candidate = base.network;
  // Each miss jumps past the subnet in the way, so the walk is as long as the taken list, not the pool.
  while (candidate + step <= poolEnd) {
    const cidr: Cidr = { family: 4, network: candidate, prefix: pool.size, size: step, text: `${formatAddress(4, candidate)}/${pool.size}` };
    const blocker = takenCidrs.find((other) => cidrsOverlap(cidr, other));
    if (blocker === undefined) return cidr.text;
    const pastBlocker = blocker.network + blocker.size;
    const aligned = ((pastBlocker + step - 1n) / step) * step;
    candidate = aligned > candidate ? aligned : candidate + step;
  }
  throw invalid(ALLOCATION_ERRORS.noDefaultPool);
}

/** The lowest VNI from 4096 up that no network holds. */
export function chooseVni(taken: readonly number[]): number {
  const used = new Set(taken);
  for (let vni = FIRST_VNI; vni <= LAST_VNI; vni++) {
    if (!used.has(vni)) return vni;
  }
  throw new SkiffError('unavailable', `no free VXLAN network identifier left (${FIRST_VNI}–${LAST_VNI})`);
}

/** The subnet's gateway: the requested one (inside the subnet), else its first address, as Docker's overlay does. */
export function chooseGateway(subnet: string, requested?: string): string {
  const cidr = ipv4Cidr(subnet, 'subnet');
  if (requested === undefined) return formatAddress(4, cidr.network + 1n);
  const address = parseAddressOrUndefined(requested);
  if (address === undefined || address.family !== 4 || !isHostAddress(cidr, address.value)) {
    throw invalid(`gateway ${requested} is not a host address of subnet ${subnet}`);
  }
  return formatAddress(4, address.value);
}

function isHostAddress(cidr: Cidr, value: bigint): boolean {
  return cidrContains(cidr, value) && value !== cidr.network && value !== lastAddress(cidr);
}

/**
 * An address for an endpoint: the requested one if it is free, else the first
 * host address of the subnet that is neither the gateway nor claimed.
 * `claimed` maps addresses to the endpoint that holds them; an endpoint asking
 * again for its own address (a host coming back) gets it.
 */
export function chooseAddress(
  network: { id: string; name: string; subnet: string; gateway: string },
  claimed: ReadonlyMap<string, string>,
  endpointId: string,
  requested?: string,
): string {
  const cidr = ipv4Cidr(network.subnet, 'subnet');
  const gateway = parseAddressOrUndefined(network.gateway)?.value;
  if (requested !== undefined) {
    const address = parseAddressOrUndefined(requested);
    if (address === undefined || address.family !== 4) throw invalid(`invalid IPv4 address: ${requested}`);
    if (!isHostAddress(cidr, address.value)) throw invalid(ALLOCATION_ERRORS.outOfRange);
    const text = formatAddress(4, address.value);
    const holder = claimed.get(text);
    if (address.value === gateway || (holder !== undefined && holder !== endpointId)) throw forbidden(ALLOCATION_ERRORS.addressInUse);
    return text;
  }
  for (let value = cidr.network + 1n; value < lastAddress(cidr); value++) {
    const text = formatAddress(4, value);
    if (value !== gateway && !claimed.has(text)) return text;
  }
  throw new SkiffError('unavailable', `no available IPv4 addresses on this network's address pools: ${network.name} (${network.id})`);
}
