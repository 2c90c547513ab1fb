/**
 * Published ports of running containers: host port choice and ownership,
 * holder sockets, and the firewall's DNAT map elements. One more port is one
 * map element; nothing else is rewritten.
 */
import { readFileSync } from 'node:fs';
import type { Firewall, FirewallPort } from '../firewall/index.js';
import { HostPortAllocator, PortHolder, type HostPort } from '../ports/index.js';
import { invalid } from '../errors.js';
import { familyOf } from '../model/address.js';
import type { Endpoint, Network, PortBinding, PortRequest } from '../model/network.js';
import { BRIDGE_OPTION } from '../model/options.js';

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // No procfs to read (a test without one): Linux's default range.
  }
  return [32768, 60999];
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

export class PublishedPorts {
  private readonly allocator = new HostPortAllocator(ephemeralRange());
  private readonly holder = new PortHolder();
  /** The bridge of every published binding, by host port. */
  private readonly bridges = new Map<string, string>();

  constructor(
    private readonly firewall: Firewall,
    private readonly defaultHostIp: string,
  ) {}

  /** Publishes every request on the endpoint; all or nothing. */
  async publish(requests: readonly PortRequest[], network: Network, endpoint: Endpoint): Promise<PortBinding[]> {
    if (requests.length === 0) return [];
    const bridgeName = network.bridge?.bridgeName;
    // Only bridge networks publish: other drivers put containers straight on a link of their own, as in Docker.
    if (bridgeName === undefined) return [];
    const containerIp = endpoint.ipv4?.address;
    if (containerIp === undefined) throw invalid(`ports cannot be published on network ${network.name}: the container has no IPv4 address there`);
    if (network.internal) return [];
    const explicitDefault = network.options[BRIDGE_OPTION.hostBindingIpv4];
    const networkDefault = explicitDefault === undefined || explicitDefault === '' ? this.defaultHostIp : explicitDefault;
    const bindings: PortBinding[] = [];
    try {
      for (const request of requests) {
        const hostIp = request.hostIp === '' ? networkDefault : request.hostIp;
        if (familyOf(hostIp) === 6) throw invalid(`publishing on IPv6 host address ${hostIp} is not supported by skiff yet`);
        const port = this.allocator.allocate({ ...request, hostIp });
        const binding: PortBinding = {
          protocol: port.protocol,
          hostIp,
          hostPort: port.hostPort,
          containerPort: request.containerPort,
          endpointId: endpoint.id,
          containerIp,
        };
        bindings.push(binding);
        await this.holder.hold(port);
      }
      await this.firewall.addPorts(bindings.map((binding) => firewallPort(binding, bridgeName)));
    } catch (error) {
      for (const binding of bindings) this.releaseHostPort(binding);
      throw error;
    }
    for (const binding of bindings) this.bridges.set(this.key(binding), bridgeName);
    return bindings;
  }

  /** After a daemon restart: hold, record and map again the ports of a container still running. */
  async restore(bindings: readonly PortBinding[], network: Network): Promise<void> {
    const bridgeName = network.bridge?.bridgeName;
    if (bridgeName === undefined) return;
    for (const binding of bindings) {
      this.allocator.restore(hostPortOf(binding));
      await this.holder.hold(hostPortOf(binding));
      this.bridges.set(this.key(binding), bridgeName);
    }
    await this.firewall.addPorts(bindings.map((binding) => firewallPort(binding, bridgeName)));
  }

  async unpublish(bindings: readonly PortBinding[]): Promise<void> {
    const known = bindings.filter((binding) => this.bridges.has(this.key(binding)));
    if (known.length === 0) return;
    await this.firewall.removePorts(known.map((binding) => firewallPort(binding, this.bridges.get(this.key(binding))!)));
    for (const binding of known) {
      this.bridges.delete(this.key(binding));
      this.releaseHostPort(binding);
    }
  }

  close(): void {
    this.holder.close();
  }

  private releaseHostPort(binding: PortBinding): void {
    this.holder.release(hostPortOf(binding));
    this.allocator.release(hostPortOf(binding));
  }

  private key(binding: PortBinding): string {
    return `${binding.protocol}/${binding.hostIp}/${binding.hostPort}`;
  }
}
