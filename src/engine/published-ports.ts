/**
 * Published ports of running containers: host port choice and ownership,
 * holder sockets (relays for IPv6 host addresses), and the firewall's DNAT
 * map elements. One more port is one map element; nothing else is rewritten.
 * Which addresses a request binds follows Docker 20.10 (ports/bindings.ts):
 * a plain `-p 8080:80` is 0.0.0.0:8080 and [::]:8080.
 */
import { readFileSync } from 'node:fs';
import { dnatElementOf, type Firewall, type FirewallPort } from '../firewall/index.js';
import { bindingTargets, HostPortAllocator, isDnatBinding, isRelayedBinding, PortHolder, type HostPort } from '../ports/index.js';
import type { Endpoint, Network, PortBinding, PortRequest } from '../model/network.js';
import { BRIDGE_OPTION } from '../model/options.js';
import { familyOf } from '../model/address.js';
import { setSysctl } from '../kernel/sysctl.js';

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // No procfs to read (a test without one): Linux's default range.
  }
  return [32768, 60999];
}

/** Docker's IsV6Listenable: the implicit [::] binding only where the host has IPv6 (a kernel booted with ipv6.disable=1 has no ::1). */
function ipv6Listenable(): boolean {
  try {
    return /^0{31}1 /m.test(readFileSync('/proc/net/if_inet6', 'utf8'));
  } catch {
    return false;
  }
}

function hostPortOf(binding: PortBinding): HostPort {
  return { protocol: binding.protocol, hostIp: binding.hostIp, hostPort: binding.hostPort };
}

function firewallPort(binding: PortBinding, bridgeName: string): FirewallPort {
  return {
    protocol: binding.protocol,
    hostIp: binding.hostIp,
    hostPort: binding.hostPort,
    containerIp: binding.containerIp,
    containerPort: binding.containerPort,
    bridgeName,
  };
}

function relayTargetOf(binding: PortBinding): { address: string; port: number } | undefined {
  return isRelayedBinding(binding) ? { address: binding.containerIp, port: binding.containerPort } : undefined;
}

function dnatPorts(bindings: readonly PortBinding[], bridgeName: (binding: PortBinding) => string): FirewallPort[] {
  return bindings.filter(isDnatBinding).map((binding) => firewallPort(binding, bridgeName(binding)));
}

export interface PublishedBindingState {
  binding: PortBinding;
  /** The DNAT map and element (nft syntax) that must be in the kernel; none for a binding only the relay serves. */
  dnat: { map: string; element: string } | undefined;
  /** Served by a relay socket in the daemon (an IPv6 host address). */
  relayed: boolean;
  /** The daemon's socket on the host port is open. */
  held: boolean;
}

export class PublishedPorts {
  private readonly allocator = new HostPortAllocator(ephemeralRange());
  private readonly holder = new PortHolder();
  private readonly ipv6Listenable = ipv6Listenable();
  /** Every published binding with its bridge, by host port. */
  private readonly published = new Map<string, { binding: PortBinding; bridgeName: string }>();

  private ipv6ForwardingOn = false;

  /** turnOnIpv6Forwarding: dockerd's --ip-forward (default true); DNAT'ed IPv6 from other hosts is forwarded to the bridge. */
  constructor(
    private readonly firewall: Firewall,
    private readonly defaultHostIp: string,
    private readonly turnOnIpv6Forwarding: boolean = true,
  ) {}

  /** Publishes every request on the endpoint; all or nothing. */
  async publish(requests: readonly PortRequest[], network: Network, endpoint: Endpoint): Promise<PortBinding[]> {
    if (requests.length === 0) return [];
    const bridgeName = network.bridge?.bridgeName;
    // Only bridge networks publish: other drivers put containers straight on a link of their own, as in Docker.
    if (bridgeName === undefined) return [];
    if (network.internal) return [];
    const container = { ipv4: endpoint.ipv4?.address, ipv6: endpoint.ipv6?.address };
    const explicitDefault = network.options[BRIDGE_OPTION.hostBindingIpv4];
    const networkDefault = explicitDefault === undefined || explicitDefault === '' ? this.defaultHostIp : explicitDefault;
    const bindings: PortBinding[] = [];
    try {
      for (const request of requests) {
        const targets = bindingTargets(request.hostIp, networkDefault, container, this.ipv6Listenable);
        const [low, high] = request.hostPortRange;
        // One host port for all of a request's addresses: a port chosen from a range must be free on each of them.
        const freeOnAll = (candidate: HostPort) => targets.every((target) => this.allocator.isFree({ ...candidate, hostIp: target.hostIp }));
        let chosen: [number, number] | undefined;
        for (const target of targets) {
          const port = this.allocator.allocate(
            { ...request, hostIp: target.hostIp, hostPortRange: chosen ?? request.hostPortRange },
            chosen !== undefined || (low !== 0 && low === high) ? undefined : freeOnAll,
          );
          chosen = [port.hostPort, port.hostPort];
          const binding: PortBinding = {
            protocol: port.protocol,
            hostIp: target.hostIp,
            hostPort: port.hostPort,
            containerPort: request.containerPort,
            endpointId: endpoint.id,
            containerIp: target.containerIp,
          };
          bindings.push(binding);
          await this.holder.hold(port, relayTargetOf(binding));
        }
      }
      await this.ensureIpv6Forwarding(bindings);
      await this.firewall.addPorts(dnatPorts(bindings, () => bridgeName));
    } catch (error) {
      for (const binding of bindings) this.releaseHostPort(binding);
      throw error;
    }
    for (const binding of bindings) this.published.set(this.key(binding), { binding, bridgeName });
    return bindings;
  }

  /** After a daemon restart: hold, record and map again the ports of a container still running. */
  async restore(bindings: readonly PortBinding[], network: Network): Promise<void> {
    const bridgeName = network.bridge?.bridgeName;
    if (bridgeName === undefined) return;
    for (const binding of bindings) {
      this.allocator.restore(hostPortOf(binding));
      await this.holder.hold(hostPortOf(binding), relayTargetOf(binding));
      this.published.set(this.key(binding), { binding, bridgeName });
    }
    await this.firewall.addPorts(dnatPorts(bindings, () => bridgeName));
  }

  async unpublish(bindings: readonly PortBinding[]): Promise<void> {
    const known = bindings.filter((binding) => this.published.has(this.key(binding)));
    if (known.length === 0) return;
    await this.firewall.removePorts(dnatPorts(known, (binding) => this.published.get(this.key(binding))!.bridgeName));
    for (const binding of known) {
      this.published.delete(this.key(binding));
      this.releaseHostPort(binding);
    }
  }

  /** The bindings published on a bridge, each with its DNAT element (if the kernel carries it) and whether its socket is open: skiff network diagnose. */
  publishedOn(bridgeName: string): PublishedBindingState[] {
    return [...this.published.values()]
      .filter((entry) => entry.bridgeName === bridgeName)
      .map(({ binding }) => ({
        binding,
        dnat: isDnatBinding(binding) ? dnatElementOf(firewallPort(binding, bridgeName)) : undefined,
        relayed: isRelayedBinding(binding),
        held: this.holder.holds(hostPortOf(binding)),
      }));
  }

  close(): void {
    this.holder.close();
  }

  /** As Docker's bridge driver does for an IPv6 network: the host forwards IPv6 once a port is DNAT'ed to a container's IPv6 address. */
  private async ensureIpv6Forwarding(bindings: readonly PortBinding[]): Promise<void> {
    if (this.ipv6ForwardingOn || !this.turnOnIpv6Forwarding) return;
    if (!bindings.some((binding) => isDnatBinding(binding) && familyOf(binding.containerIp) === 6)) return;
    await setSysctl('net.ipv6.conf.all.forwarding', '1');
    this.ipv6ForwardingOn = true;
  }

  private releaseHostPort(binding: PortBinding): void {
    this.holder.release(hostPortOf(binding));
    this.allocator.release(hostPortOf(binding));
  }

  private key(binding: PortBinding): string {
    return `${binding.protocol}/${binding.hostIp}/${binding.hostPort}`;
  }
}
