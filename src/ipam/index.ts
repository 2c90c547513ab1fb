/** IPAM: parsing, Docker's default pools, network planning and address allocation. Pure logic, no I/O. */
export {
  parseCidr,
  parseAddress,
  parseAddressOrUndefined,
  formatAddress,
  cidrContains,
  cidrsOverlap,
  cidrWithin,
  lastAddress,
  type Cidr,
  type Address,
  type IpFamily,
} from './cidr.js';
export {
  DEFAULT_BRIDGE_SUBNET,
  DEFAULT_LOCAL_POOLS,
  DOCKER_DEFAULT_POOL_SPECS,
  pickDefaultPool,
  noDefaultPoolMessage,
  validatePoolSpecs,
  expandPools,
  hostOverlaps,
  type AddressPoolSpec,
} from './pools.js';
export { planNetworkIpam, POOL_OVERLAP_MESSAGE, type IpamRequest, type IpamPlanInput } from './plan.js';
export { AddressAllocator, NetworkAllocators, IPAM_ERRORS, type NetworkRef } from './allocator.js';
