/**
 * Published ports of running containers: host port choice and ownership,
 * holder sockets, and the firewall's DNAT map elements. One more port is one
 * map element; nothing else is rewritten.
 */
import { readFileSync } from 'node:fs';
import { applyNft, renderPortsAdded, renderPortsRemoved, type FirewallPort } from '../firewall/index.js';
import { HostPortAllocator, PortHolder, type HostPort, type PortRequest } from '../ports/index.js';
import { invalid } from '../errors.js';
import type { Endpoint, Network, PortBinding } from './model.js';
import { BRIDGE_OPTION } from './network-plan.js';

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch { /* fall back to Linux's default range */ }
  return [32768, 60999];
}

export class PublishedPorts {
  private readonly allocator = new HostPortAllocator(ephemeralRange());
  private readonly holder = new PortHolder();
  /** Every published binding with its bridge, for whole-table renders. */
  private readonly active = new Map<string, { binding: PortBinding; bridgeName: string }>();

  constructor(private readonly firewallTable: string, private readonly defaultHostIp: string) {}

  firewallPorts(): FirewallPort[] {
    return [...this.active.values()].map(({ binding, bridgeName }) => this.firewallPort(binding, bridgeName));
  }

  /** Publishes every request on the endpoint; all or nothing. */
  async publish(requests: PortRequest[], network: Network, endpoint: Endpoint): Promise<PortBinding[]> {
    if (requests.length === 0) return [];
    const bridgeName = network.bridge?.bridgeName;
    const containerIp = endpoint.ipv4?.split('/')[0];
    // Only bridge networks publish: other drivers put containers straight on a link of their own, as in Docker.
    if (bridgeName === undefined) return [];
    if (containerIp === undefined) throw invalid(`ports cannot be published on network ${network.name}: the container has no IPv4 address there`);
    if (network.internal) return [];
    const explicitDefault = network.options[BRIDGE_OPTION.hostBindingIpv4];
    const networkDefault = explicitDefault === undefined || explicitDefault === '' ? this.defaultHostIp : explicitDefault;
    const bindings: PortBinding[] = [];
    try {
      for (const request of requests) {
        const hostIp = request.hostIp === '' ? networkDefault : request.hostIp;
        if (hostIp.includes(':')) throw invalid(`publishing on IPv6 host address ${hostIp} is not supported by skiff yet`);
        const port = this.allocator.allocate({ ...request, hostIp });
        const binding: PortBinding = { protocol: port.protocol, hostIp, hostPort: port.hostPort, containerPort: request.containerPort, endpointId: endpoint.id, containerIp };
        bindings.push(binding);
        await this.holder.hold(port);
      }
      await applyNft(renderPortsAdded(bindings.map((binding) => this.firewallPort(binding, bridgeName)), this.firewallTable));
    } catch (error) {
      for (const binding of bindings) this.releaseHostPort(binding);
      throw error;
    }
    for (const binding of bindings) this.active.set(this.key(binding), { binding, bridgeName });
    return bindings;
  }

  /** After a daemon restart: hold and record the ports of a container still running. */
  async restore(bindings: PortBinding[], network: Network): Promise<void> {
    const bridgeName = network.bridge?.bridgeName;
    if (bridgeName === undefined) return;
    for (const binding of bindings) {
      this.allocator.restore(this.hostPortOf(binding));
      await this.holder.hold(this.hostPortOf(binding));
      this.active.set(this.key(binding), { binding, bridgeName });
    }
  }

  async unpublish(bindings: PortBinding[]): Promise<void> {
    const known = bindings.filter((binding) => this.active.has(this.key(binding)));
    if (known.length === 0) return;
    const ports = known.map((binding) => this.firewallPort(binding, this.active.get(this.key(binding))!.bridgeName));
    await applyNft(renderPortsRemoved(ports, this.firewallTable));
    for (const binding of known) {
      this.active.delete(this.key(binding));
      this.releaseHostPort(binding);
    }
  }

  close(): void {
    this.holder.close();
  }

  private releaseHostPort(binding: PortBinding): void {
    this.holder.release(this.hostPortOf(binding));
    this.allocator.release(this.hostPortOf(binding));
  }

  private hostPortOf(binding: PortBinding): HostPort {
    return { protocol: binding.protocol, hostIp: binding.hostIp, hostPort: binding.hostPort };
  }

  private firewallPort(binding: PortBinding, bridgeName: string): FirewallPort {
    return { protocol: binding.protocol, hostIp: binding.hostIp, hostPort: binding.hostPort, containerIp: binding.containerIp, containerPort: binding.containerPort, bridgeName };
  }

  private key(binding: PortBinding): string {
    return `${binding.protocol}/${binding.hostIp}/${binding.hostPort}`;
  }
}
