export { portRequests, parsePortKey, parseHostPortRange, type PortRequest, type PortProtocol, type WireBinding } from './requests.js';
export { HostPortAllocator, portAllocatedError, type HostPort } from './allocator.js';
export { PortHolder } from './holder.js';
