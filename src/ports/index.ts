export { publishedRequests, portKeyRequests, parsePortKey, parseHostPortRange, parseHostIp } from './requests.js';
export { HostPortAllocator, portAllocatedError, type HostPort } from './allocator.js';
export { PortHolder } from './holder.js';
