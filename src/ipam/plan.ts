/**
 * Turns a network's IPAM request (docker network create --subnet --ip-range
 * --gateway --aux-address) into final pools, in the order and with the words
 * of Docker 20.10: every subnet is parsed first (daemon getIpamConfig), then
 * each IPv4 pool is requested, its gateway and aux addresses reserved
 * (libnetwork ipamAllocateVersion), then the same for IPv6 when enabled.
 * Without --ipv6, Docker 20.10 silently ignores IPv6 subnets; so does this.
 */
import { SkiffError, forbidden, invalid } from '../errors.js';
import type { IpamPool } from '../model/network.js';
import { AddressAllocator } from './allocator.js';
import { cidrWithin, cidrsOverlap, formatAddress, parseAddressOrUndefined, parseCidr, type Cidr, type IpFamily } from './cidr.js';
import { noDefaultPoolMessage, pickDefaultPool, type AddressPoolSpec } from './pools.js';

export interface IpamRequest {
  subnet?: string;
  ipRange?: string;
  gateway?: string;
  auxAddresses?: Record<string, string>;
}

export interface IpamPlanInput {
  requests: readonly IpamRequest[];
  enableIPv6: boolean;
  /** Every other network's pools: a new pool must overlap none of them. */
  usedSubnets: readonly string[];
  /**
   * Subnets the host already routes. Like Docker, only a default pool avoids
   * them; a subnet the user names is not checked against the host.
   */
  hostSubnets?: readonly string[];
  /** dockerd's default-address-pools; Docker's predefined pools when absent or empty. */
  defaultPools?: readonly AddressPoolSpec[];
  /** The network's name, which one of Docker's messages names. */
  networkName?: string;
}

export const POOL_OVERLAP_MESSAGE = 'Pool overlaps with other one on this address space';

/** Docker's name for the local address space, part of one of its messages. */
const LOCAL_ADDRESS_SPACE = 'LocalDefault';

interface ParsedRequest {
  request: IpamRequest;
  subnet: Cidr;
}

function parseSubnet(request: IpamRequest): ParsedRequest {
  const text = request.subnet ?? '';
  try {
    return { request, subnet: parseCidr(text) };
  } catch (error) {
    throw invalid(`Invalid subnet ${text} : ${(error as Error).message}`, error);
  }
}

/** Re-throws an allocator error under Docker's prefix, keeping its kind. */
function withPrefix<T>(prefix: string, action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (!(error instanceof SkiffError)) throw error;
    throw new SkiffError(error.kind, `${prefix}: ${error.message}`, { cause: error });
  }
}

function present(text: string | undefined): text is string {
  return text !== undefined && text !== '';
}

function parseRange(parsed: ParsedRequest): Cidr | undefined {
  const { request, subnet } = parsed;
  if (!present(request.ipRange)) return undefined;
  let range: Cidr;
  try {
    range = parseCidr(request.ipRange);
  } catch (error) {
    throw invalid(
      `failed to parse pool request for address space "${LOCAL_ADDRESS_SPACE}" pool "${request.subnet ?? ''}" subpool "${request.ipRange}": Invalid Address SubPool`,
      error,
    );
  }
  // Docker 20.10's daemon maps an outside range onto the subnet's host bits;
  // its CLI refuses it with these words, and so does skiff.
  if (!cidrWithin(range, subnet)) throw invalid(`no matching subnet for range ${request.ipRange}`);
  return range;
}

function planPool(parsed: ParsedRequest, userConfigured: boolean, taken: Cidr[], networkName: string): IpamPool {
  const { request, subnet } = parsed;
  if (present(request.gateway) && parseAddressOrUndefined(request.gateway) === undefined) {
    throw invalid(`invalid gateway address ${request.gateway} in Ipam configuration`);
  }
  const range = parseRange(parsed);
  if (taken.some((other) => cidrsOverlap(other, subnet))) throw forbidden(POOL_OVERLAP_MESSAGE);
  taken.push(subnet);

  // A scratch allocator with nothing reserved yet ('' is no address) replays
  // Docker's reservations in its order: gateway first, then aux addresses.
  const scratch = new AddressAllocator({ subnet: subnet.text, ipRange: range?.text, gateway: '', auxAddresses: {}, userConfigured });
  const gateway = withPrefix(`failed to allocate gateway (${request.gateway ?? ''})`, () => {
    if (!present(request.gateway)) return scratch.allocate();
    scratch.claim(request.gateway);
    return request.gateway;
  });

  const auxAddresses: Record<string, string> = {};
  for (const [name, text] of Object.entries(request.auxAddresses ?? {})) {
    const address = parseAddressOrUndefined(text);
    if (address === undefined) {
      throw invalid(`non parsable secondary ip address (${name}:${text}) passed for network ${networkName}`);
    }
    if (!scratch.contains(text)) {
      // "auxilairy" is Docker 20.10's spelling.
      throw forbidden(`auxilairy address: (${name}:${text}) must belong to the master pool: ${subnet.text}`);
    }
    withPrefix(`failed to allocate secondary ip address (${name}:${text})`, () => scratch.claim(text));
    auxAddresses[name] = formatAddress(address.family, address.value);
  }

  const canonicalGateway = parseAddressOrUndefined(gateway);
  const pool: IpamPool = {
    subnet: subnet.text,
    gateway: canonicalGateway === undefined ? gateway : formatAddress(canonicalGateway.family, canonicalGateway.value),
    auxAddresses,
    userConfigured,
  };
  if (range !== undefined) pool.ipRange = range.text;
  return pool;
}

function planFamily(family: IpFamily, requests: ParsedRequest[], input: IpamPlanInput, taken: Cidr[]): IpamPool[] {
  const networkName = input.networkName ?? '';
  if (requests.length > 0) return requests.map((parsed) => planPool(parsed, true, taken, networkName));
  if (family === 6) throw invalid(noDefaultPoolMessage(6));
  const pools = input.defaultPools === undefined || input.defaultPools.length === 0 ? undefined : input.defaultPools;
  const subnet = pickDefaultPool([...input.usedSubnets, ...(input.hostSubnets ?? [])], 4, pools);
  return [planPool({ request: {}, subnet: parseCidr(subnet) }, false, taken, networkName)];
}

/** The network's final pools: IPv4 first, then IPv6 (only with enableIPv6). */
export function planNetworkIpam(input: IpamPlanInput): IpamPool[] {
  const parsed = input.requests.map(parseSubnet);
  const taken = input.usedSubnets.map(parseCidr);
  const v4 = planFamily(
    4,
    parsed.filter((request) => request.subnet.family === 4),
    input,
    taken,
  );
  if (!input.enableIPv6) return v4;
  return [
    ...v4,
    ...planFamily(
      6,
      parsed.filter((request) => request.subnet.family === 6),
      input,
      taken,
    ),
  ];
}
