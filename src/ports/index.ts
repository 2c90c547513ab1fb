export { publishedRequests, portKeyRequests, parsePortKey, parseHostPortRange, parseHostIp } from './requests.js';
export { HostPortAllocator, portAllocatedError, type HostPort } from './allocator.js';
export { PortHolder } from './holder.js';
export { bindingTargets, canonicalHostIp, isDnatBinding, isRelayedBinding, type BindingTarget, type ContainerAddresses } from './bindings.js';
