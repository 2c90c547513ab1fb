/**
 * Pure choices before the probe: which address the probe goes to (what a
 * person would type: the destination's address on a network both share, or
 * else its first one), which networks the two share, and which published
 * port a host address and port lead to.
 */
import type { Attachment, Party, PublishedFacts, Target, TraceRequest } from './model.js';

export interface PublishedPort {
  protocol: string;
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  container?: string;
  map: string;
  element: string;
}

const attachmentsOf = (party: Party): Attachment[] => (party.kind === 'container' ? party.attachments : []);

/** Names of the networks both are on, in the source's join order. */
export function sharedNetworks(source: Party, destination: Party): string[] {
  const theirs = new Set(attachmentsOf(destination).map((attachment) => attachment.networkId));
  return attachmentsOf(source)
    .filter((attachment) => theirs.has(attachment.networkId))
    .map((attachment) => attachment.network);
}

/**
 * When the probe stays on one bridge (its target is the destination's address
 * on a bridge network both are on), that network: its frames are switched by
 * the bridge, not routed by the host.
 */
export function bridgedNetwork(source: Party, destination: Party, target: Target): Attachment | undefined {
  const theirs = attachmentsOf(destination).find((attachment) => attachment.address === target.address && attachment.bridge !== undefined);
  if (theirs === undefined) return undefined;
  return attachmentsOf(source).some((attachment) => attachment.networkId === theirs.networkId) ? theirs : undefined;
}

/** The address the probe goes to, or why there is none. */
export function chooseTarget(source: Party, destination: Party, request: TraceRequest): Target | { none: string } {
  const port = request.port;
  if (destination.kind === 'address') return { address: destination.address, port, why: 'the address given' };
  if (destination.kind === 'host') {
    if (destination.address !== undefined) return { address: destination.address, port, why: 'an address of the host' };
    const gateway = attachmentsOf(source).find((attachment) => attachment.gateway !== undefined && attachment.address !== undefined)?.gateway;
    if (gateway !== undefined) return { address: gateway, port, why: "the host as the source sees it: its network's gateway" };
    return { address: '127.0.0.1', port, why: "the host's own loopback" };
  }
  if (!destination.running) return { none: `${destination.name} is not running` };
  const shared = new Set(sharedNetworks(source, destination));
  const onShared = destination.attachments.find((attachment) => shared.has(attachment.network) && attachment.address !== undefined);
  if (onShared !== undefined) return { address: onShared.address!, port, why: `${destination.name}'s address on ${onShared.network}, a network both are on` };
  const first = destination.attachments.find((attachment) => attachment.address !== undefined);
  if (first !== undefined) return { address: first.address!, port, why: `${destination.name}'s address on ${first.network} (no network is shared)` };
  return {
    none: destination.networkMode === 'none' ? `${destination.name} has only a loopback interface (--network none)` : `${destination.name} has no IPv4 address`,
  };
}

/**
 * The published port a packet to address:port (on the host) is DNAT'ed by,
 * as the kernel's maps look it up: a binding on that very address first,
 * then one on any address. The others with that port (127.0.0.1 only …) are
 * returned apart, to say why none matched.
 */
export function matchPublished(
  ports: readonly PublishedPort[],
  address: string,
  port: number,
  protocol: string,
): { match?: PublishedFacts; elsewhere: PublishedFacts[] } {
  const samePort = ports.filter((candidate) => candidate.hostPort === port && candidate.protocol === protocol);
  const match = samePort.find((candidate) => candidate.hostIp === address) ?? samePort.find((candidate) => candidate.hostIp === '0.0.0.0');
  return { match, elsewhere: match === undefined ? samePort : [] };
}
