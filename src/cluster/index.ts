export { ClusterStore, DEFAULT_LEASE_TTL_SECONDS, type ClusterStoreOptions } from './store.js';
export { NodeMembership, type MembershipHandlers } from './membership.js';
export { ClusterWatch, type WatchHandlers } from './watch.js';
export { ClusterView, type ClusterChange, type ClusterRecord } from './view.js';
export { KeyLayout, DEFAULT_ROOT } from './keys.js';
export { parseClusterStoreUrl } from './url.js';
export { DEFAULT_GLOBAL_POOL, FIRST_VNI, chooseAddress, chooseGateway, chooseSubnet, chooseVni } from './allocate.js';
export type { NetworkRequest, EndpointRequest } from './plan.js';
export type { AddressClaim, EndpointRecord, NetworkRecord, NodeRecord } from './records.js';
