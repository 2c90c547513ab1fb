/**
 * Which gateways a sandbox's default routes go through (pure): for each of
 * the endpoint's addresses, the gateway of the subnet that holds it, so that
 * on a network with several subnets the route never names a gateway that is
 * not on the container's own link.
 */
import { cidrContains, parseAddress, parseCidr, type Cidr } from '../ipam/index.js';
import type { InterfaceAddress } from '../model/address.js';
import type { IpamPool } from '../model/network.js';

/** Each pool's subnet parsed once: `ps` and `inspect` ask for every container's gateways, and parsing was most of that. */
const subnets = new WeakMap<IpamPool, Cidr>();

function subnetOf(pool: IpamPool): Cidr {
  let subnet = subnets.get(pool);
  if (subnet === undefined) {
    subnet = parseCidr(pool.subnet);
    subnets.set(pool, subnet);
  }
  return subnet;
}

export function defaultGateways(pools: readonly IpamPool[], addresses: ReadonlyArray<InterfaceAddress | undefined>): string[] {
  return addresses.flatMap((address) => {
    if (address === undefined) return [];
    const value = parseAddress(address.address).value;
    const pool = pools.find((candidate) => {
      const subnet = subnetOf(candidate);
      return subnet.family === address.family && cidrContains(subnet, value);
    });
    return pool === undefined ? [] : [pool.gateway];
  });
}
