/**
 * The embedded DNS as the containers see it: one listener per user-defined
 * network on its gateway, records for every endpoint of a container on such a
 * network, and 127.0.0.11 inside the container redirected to a gateway.
 * The default bridge has no name resolution, as in Docker.
 */
import { readFileSync } from 'node:fs';
import { answerQuery, DnsRecords, DnsServer, parseUpstream, type Upstream } from '../dns/index.js';
import { installResolverRedirect } from '../firewall/index.js';
import { familyOf, familyOfCidr } from '../model/address.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';

/** The RD bit of a DNS header: what a client's question carries. */
const RECURSION_DESIRED = 1 << 8;

export function hasEmbeddedDns(network: Network): boolean {
  return (network.driver === 'bridge' || network.driver === 'overlay') && network.bridge !== undefined && !network.bridge.isDefaultBridge;
}

/** A container on an overlay network that runs on another host, as the cluster publishes it. */
export interface RemoteName {
  endpointId: string;
  networkId: string;
  networkName: string;
  containerId: string;
  containerName: string;
  aliases: string[];
  ipv4: string;
}

function ipv4Gateway(network: Network): string | undefined {
  return network.ipam.pools.find((pool) => familyOfCidr(pool.subnet) === 4)?.gateway;
}

/**
 * Where the embedded DNS forwards: the daemon's --dns, else the host's
 * resolv.conf without loopback servers (they are not reachable from the
 * containers' point of view), as Docker does.
 */
export function forwardingUpstreams(daemonDns: readonly string[], hostResolvConf: () => string = () => readFileSync('/etc/resolv.conf', 'utf8')): string[] {
  if (daemonDns.length > 0) return [...daemonDns];
  let text = '';
  try {
    text = hostResolvConf();
  } catch {
    return []; // no resolv.conf: nothing to forward to, names outside skiff get SERVFAIL
  }
  return text
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
    .filter((server): server is string => server !== undefined && familyOf(server) !== undefined && !server.startsWith('127.') && server !== '::1');
}

export class NameService {
  private readonly records = new DnsRecords();
  private readonly server: DnsServer;
  /** Where each sandbox's 127.0.0.11 points now ("gateway container-ip"): rewriting NAT rules costs ~16 ms, so only a change does. */
  private readonly resolverTargets = new Map<string, string>();
  /** Each sandbox's own loopback --dns servers, which its redirect table sends on to its loopback. */
  private readonly loopbackUpstreams = new Map<string, Array<{ address: string; port: number }>>();

  constructor(upstreams: readonly string[], log: (message: string) => void) {
    this.server = new DnsServer({ records: this.records, upstreams: [...upstreams], onError: (error: unknown) => log(`dns: ${String(error)}`) });
  }

  /** Registers an endpoint's names (its container's, from the sandbox) and points the sandbox's 127.0.0.11 at a network with a server. */
  async endpointJoined(network: Network, endpoint: Endpoint, sandbox: Sandbox, allEndpoints: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    if (!hasEmbeddedDns(network)) return;
    const gateway = ipv4Gateway(network);
    if (gateway === undefined) return;
    await this.server.addListener(network.id, gateway);
    this.loopbackUpstreams.set(
      sandbox.netnsPath,
      sandbox.dnsServers
        .map(parseUpstream)
        .filter((upstream): upstream is Upstream => upstream !== undefined && upstream.family === 4 && upstream.address.startsWith('127.'))
        .map(({ address, port }) => ({ address, port })),
    );
    this.records.upsert({
      endpointId: endpoint.id,
      networkId: network.id,
      networkName: network.name,
      containerId: endpoint.containerId,
      containerName: endpoint.name,
      hostname: sandbox.hostname,
      aliases: endpoint.aliases,
      links: endpoint.links,
      ipv4: endpoint.ipv4?.address,
      ipv6: endpoint.ipv6?.address,
      upstreams: sandbox.dnsServers.length > 0 ? sandbox.dnsServers : undefined,
    });
    await this.pointResolver(sandbox, allEndpoints);
  }

  /** docker rename: the endpoint answers to its container's new name, and no longer to the old one. */
  endpointRenamed(endpointId: string, containerName: string): void {
    const record = this.records.find(endpointId);
    if (record !== undefined) this.records.upsert({ ...record, containerName });
  }

  /** Forgets an endpoint; the sandbox's resolver moves to another network with a server, if any is left. */
  async endpointLeft(endpoint: Endpoint, sandbox: Sandbox | undefined, remaining: Array<{ endpoint: Endpoint; network: Network }>): Promise<void> {
    this.records.remove(endpoint.id);
    if (sandbox !== undefined) await this.pointResolver(sandbox, remaining);
  }

  /** Another host's container on an overlay network: answered here as a local one would be (names, aliases, PTR). */
  remoteEndpointUpserted(remote: RemoteName): void {
    this.records.upsert({ ...remote });
  }

  remoteEndpointRemoved(endpointId: string): void {
    this.records.remove(endpointId);
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
      .map(({ network, endpoint }) => `${ipv4Gateway(network)!} ${endpoint.ipv4!.address}`);
    const current = this.resolverTargets.get(sandbox.netnsPath);
    const next = targets[0];
    if (next === undefined || (current !== undefined && targets.includes(current))) return;
    const [gateway, containerIp] = next.split(' ') as [string, string];
    await installResolverRedirect(sandbox.netnsPath, gateway, containerIp, {
      setRouteLocalnet: false,
      loopbackUpstreams: this.loopbackUpstreams.get(sandbox.netnsPath) ?? [],
    });
    this.resolverTargets.set(sandbox.netnsPath, next);
  }

  /**
   * The addresses the embedded DNS would answer to an A query for name sent
   * from sourceIp (skiff network trace); undefined when it would not answer
   * itself but forward the query upstream.
   */
  answerFor(sourceIp: string, name: string): string[] | undefined {
    const query = { type: 'query' as const, id: 0, flags: RECURSION_DESIRED, questions: [{ type: 'A' as const, class: 'IN' as const, name }] };
    const decision = answerQuery(query, this.records.askerOf(sourceIp), this.records);
    if (decision.forward) return undefined;
    return (decision.response.answers ?? []).flatMap((answer) => (answer.type === 'A' ? [answer.data] : []));
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
