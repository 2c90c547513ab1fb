/**
 * The embedded DNS as the containers see it: one listener per user-defined
 * network on its gateway, records for every endpoint of a container on such a
 * network, and 127.0.0.11 inside the container redirected to a gateway.
 * The default bridge has no name resolution, as in Docker.
 */
import { DnsRecords, DnsServer, installResolverRedirect, removeResolverRedirect } from '../dns/index.js';
import type { Endpoint, Network, Sandbox } from './model.js';

export interface NamedContainer {
  id: string;
  name: string;
  hostname: string;
  /** The container's own --dns servers ([] = the daemon's). */
  dns: string[];
}

export function hasEmbeddedDns(network: Network): boolean {
  return network.driver === 'bridge' && network.bridge !== undefined && !network.bridge.isDefaultBridge;
}

function ipv4Gateway(network: Network): string | undefined {
  return network.ipam.pools.find((pool) => !pool.subnet.includes(':'))?.gateway;
}

const bare = (address: string | undefined) => address?.split('/')[0];

export class NameService {
  private readonly records = new DnsRecords();
  private readonly server: DnsServer;

  constructor(upstreams: string[], log: (message: string) => void) {
    this.server = new DnsServer({ records: this.records, upstreams, onError: (error: unknown) => log(`dns: ${String(error)}`) });
  }

  /** Registers an endpoint's names and points the sandbox's 127.0.0.11 at a network with a server. */
  async endpointJoined(container: NamedContainer, network: Network, endpoint: Endpoint, sandbox: Sandbox, allEndpoints: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    if (!hasEmbeddedDns(network)) return;
    const gateway = ipv4Gateway(network);
    if (gateway === undefined) return;
    await this.server.addListener(network.id, gateway);
    this.records.upsert({
      endpointId: endpoint.id, networkId: network.id, networkName: network.name, containerId: container.id,
      containerName: container.name, hostname: container.hostname, aliases: endpoint.aliases,
      ipv4: bare(endpoint.ipv4), ipv6: bare(endpoint.ipv6), upstreams: container.dns.length > 0 ? container.dns : undefined,
    });
    await this.pointResolver(sandbox, allEndpoints);
  }

  /** Forgets an endpoint; the sandbox's resolver moves to another network with a server, if any is left. */
  async endpointLeft(endpoint: Endpoint, sandbox: Sandbox | undefined, remaining: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    this.records.remove(endpoint.id);
    if (sandbox !== undefined) await this.pointResolver(sandbox, remaining);
  }

  async networkRemoved(networkId: string): Promise<void> {
    await this.server.removeListener(networkId);
  }

  private async pointResolver(sandbox: Sandbox, endpoints: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    const target = endpoints.find(({ network, endpoint }) => hasEmbeddedDns(network) && endpoint.ipv4 !== undefined && ipv4Gateway(network) !== undefined);
    if (target === undefined) {
      await removeResolverRedirect(sandbox.netnsPath);
      return;
    }
    await installResolverRedirect(sandbox.netnsPath, ipv4Gateway(target.network)!, bare(target.endpoint.ipv4)!, { setRouteLocalnet: false });
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
