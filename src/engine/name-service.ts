/**
 * The embedded DNS as the containers see it: one listener per user-defined
 * network on its gateway, records for every endpoint of a container on such a
 * network, and 127.0.0.11 inside the container redirected to a gateway.
 * The default bridge has no name resolution, as in Docker.
 */
import { DnsRecords, DnsServer, installResolverRedirect, parseUpstream, type Upstream } from '../dns/index.js';
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
  /** Where each sandbox's 127.0.0.11 points now ("gateway container-ip"): rewriting NAT rules costs ~16 ms, so only a change does. */
  private readonly resolverTargets = new Map<string, string>();
  /** Each sandbox's own loopback --dns servers, which its redirect table sends on to its loopback. */
  private readonly loopbackUpstreams = new Map<string, Array<{ address: string; port: number }>>();

  constructor(upstreams: string[], log: (message: string) => void) {
    this.server = new DnsServer({ records: this.records, upstreams, onError: (error: unknown) => log(`dns: ${String(error)}`) });
  }

  /** Registers an endpoint's names and points the sandbox's 127.0.0.11 at a network with a server. */
  async endpointJoined(container: NamedContainer, network: Network, endpoint: Endpoint, sandbox: Sandbox, allEndpoints: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    if (!hasEmbeddedDns(network)) return;
    const gateway = ipv4Gateway(network);
    if (gateway === undefined) return;
    await this.server.addListener(network.id, gateway);
    this.loopbackUpstreams.set(sandbox.netnsPath, container.dns.map(parseUpstream)
      .filter((upstream): upstream is Upstream => upstream !== undefined && upstream.family === 4 && upstream.address.startsWith('127.'))
      .map(({ address, port }) => ({ address, port })));
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

  /**
   * Keeps the sandbox's redirect pointing at a network it is on that has a
   * server. A redirect whose network was left is left in place until another
   * target is needed: it only ever reached that network's gateway, which the
   * sandbox no longer has a route to.
   */
  private async pointResolver(sandbox: Sandbox, endpoints: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    const targets = endpoints
      .filter(({ network, endpoint }) => hasEmbeddedDns(network) && endpoint.ipv4 !== undefined && ipv4Gateway(network) !== undefined)
      .map(({ network, endpoint }) => `${ipv4Gateway(network)!} ${bare(endpoint.ipv4)!}`);
    const current = this.resolverTargets.get(sandbox.netnsPath);
    const next = targets[0];
    if (next === undefined || (current !== undefined && targets.includes(current))) return;
    const [gateway, containerIp] = next.split(' ') as [string, string];
    await installResolverRedirect(sandbox.netnsPath, gateway, containerIp, { setRouteLocalnet: false, loopbackUpstreams: this.loopbackUpstreams.get(sandbox.netnsPath) ?? [] });
    this.resolverTargets.set(sandbox.netnsPath, next);
  }

  /** The sandbox is gone: forget where its redirect pointed. */
  sandboxReleased(netnsPath: string): void {
    this.resolverTargets.delete(netnsPath);
    this.loopbackUpstreams.delete(netnsPath);
  }

  /** The daemon's --dns changed (SIGHUP): containers without their own --dns forward there from now on. */
  setUpstreams(upstreams: string[]): void {
    this.server.setUpstreams(upstreams);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
