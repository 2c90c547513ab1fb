/**
 * Which host addresses one -p request binds, and where each binding's traffic
 * goes (pure), as Docker 20.10's bridge driver decides it
 * (libnetwork allocatePortsInternal):
 *
 * - a request without a host address binds the network's default address
 *   (0.0.0.0 unless `--ip`/host_binding_ipv4 says otherwise) and, when that
 *   default is 0.0.0.0 and the host can listen on IPv6, also `::`;
 * - an IPv4 host address goes to the container's IPv4 address;
 * - an IPv6 host address goes to the container's IPv6 address, or to its IPv4
 *   address when it has none (Docker's docker-proxy does the same: it relays
 *   between the families).
 *
 * How the traffic gets there: a binding whose host and container addresses
 * are of one family is a DNAT map element, except `::1` (the kernel has no
 * route_localnet for IPv6: nothing DNAT'ed to ::1 can leave lo). Every IPv6
 * host binding is also held by a relay (ports/proxy.ts) listening on its host
 * address, which serves what DNAT does not take: ::1, and all of it for a
 * container without an IPv6 address.
 */
import { createRequire } from 'node:module';
import { invalid } from '../errors.js';
import { familyOf } from '../model/address.js';

const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

export interface ContainerAddresses {
  ipv4?: string;
  ipv6?: string;
}

export interface BindingTarget {
  /** The host address bound, canonical ("::", not "0::0"). */
  hostIp: string;
  /** The container's address the traffic is sent to. */
  containerIp: string;
}

const IPV4_ANY = '0.0.0.0';
const IPV6_ANY = '::';
const IPV6_LOOPBACK = '::1';

/** One canonical text per address, so "::" and "0:0::0" are one binding. */
export function canonicalHostIp(address: string): string {
  return familyOf(address) === 6 ? ipaddr.IPv6.parse(address).toString() : address;
}

/**
 * The bindings of one request, IPv4 first (Docker's order in
 * NetworkSettings.Ports). requestHostIp '' means the network's default.
 * Throws when the container has no address to send a binding's traffic to.
 */
export function bindingTargets(requestHostIp: string, networkDefault: string, container: ContainerAddresses, ipv6Listenable: boolean): BindingTarget[] {
  const targets: BindingTarget[] = [];
  const explicit = requestHostIp !== '';
  const hostIp = canonicalHostIp(explicit ? requestHostIp : networkDefault);
  const family = familyOf(hostIp);
  if (family === 4) {
    if (container.ipv4 === undefined) throw invalid(`cannot publish on ${hostIp}: the container has no IPv4 address`);
    targets.push({ hostIp, containerIp: container.ipv4 });
  }
  const ipv6HostIp = family === 6 ? hostIp : !explicit && hostIp === IPV4_ANY && ipv6Listenable ? IPV6_ANY : undefined;
  const ipv6Target = container.ipv6 ?? container.ipv4;
  if (ipv6HostIp !== undefined) {
    if (ipv6Target === undefined) throw invalid(`cannot publish on ${ipv6HostIp}: the container has no address`);
    targets.push({ hostIp: ipv6HostIp, containerIp: ipv6Target });
  }
  return targets;
}

/** Whether the kernel's DNAT carries this binding: one family on both ends, and not IPv6's loopback. */
export function isDnatBinding(binding: BindingTarget): boolean {
  return familyOf(binding.hostIp) === familyOf(binding.containerIp) && binding.hostIp !== IPV6_LOOPBACK;
}

/** Whether a relay socket serves this binding (every IPv6 host address; DNAT takes what it can before it). */
export function isRelayedBinding(binding: Pick<BindingTarget, 'hostIp'>): boolean {
  return familyOf(binding.hostIp) === 6;
}
