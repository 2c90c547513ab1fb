/**
 * The embedded DNS as the containers see it: records for every endpoint of a
 * container on a user-defined network, and a resolver inside each such
 * container's namespace (127.0.0.11, as with Docker) from its first join to
 * the sandbox's end; `--network container:X` shares X's.
 * The default bridge has no name resolution, as in Docker.
 */
import { readFileSync } from 'node:fs';
import { answerQuery, DnsRecords, DnsServer, type ResolverPorts } from '../dns/index.js';
import { installResolverRedirect, readResolverRedirect } from '../firewall/index.js';
import { readRedirectedPorts } from './resolver-redirect-read.js';
import { familyOf } from '../model/address.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import type { DiagnosisCheck } from './diagnose.js';

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

/**
 * What a sandbox's 127.0.0.11 redirect needs once its resolver is open on
 * `opened`: 'keep' (the kernel and the sandbox's record both name these
 * ports), 'record' (the kernel does, the record does not yet: a data root
 * from before records kept them) or 'rewrite' (the kernel's redirect must
 * change; the record is dropped first and written again after, so a record
 * never names ports the kernel does not send to).
 */
export function redirectStep(recorded: ResolverPorts | undefined, inKernel: ResolverPorts | undefined, opened: ResolverPorts): 'keep' | 'record' | 'rewrite' {
  const same = (ports: ResolverPorts | undefined) => ports !== undefined && ports.udp === opened.udp && ports.tcp === opened.tcp;
  if (!same(inKernel)) return 'rewrite';
  return same(recorded) ? 'keep' : 'record';
}

/**
 * Namespaces whose redirect checkRestoredRedirects writes again after the
 * daemon answers, one at a time: the pass shares the daemon with the
 * requests that come meanwhile (when it read with a program per namespace,
 * `rm -f` beside 200 took 242 ms during a pass two at a time, 122 without).
 */
const REDIRECT_CHECK_CONCURRENCY = 1;

interface UncheckedRedirect {
  netnsPath: string;
  ports: ResolverPorts;
}

/** Keeps (ports) or drops (undefined) the redirect's ports in the sandbox's record. */
export type RememberRedirect = (sandboxId: string, ports: ResolverPorts | undefined) => void;

export class NameService {
  private readonly records = new DnsRecords();
  private readonly server: DnsServer;
  private readonly remember: RememberRedirect;
  /** Redirects a restart took from the sandboxes' records without reading their namespaces (written again after it answers). */
  private readonly unchecked: UncheckedRedirect[] = [];
  private restoredChecked: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(upstreams: readonly string[], log: (message: string) => void, remember: RememberRedirect) {
    this.server = new DnsServer({ records: this.records, upstreams: [...upstreams], onError: (error: unknown) => log(`dns: ${String(error)}`) });
    this.remember = remember;
  }

  /**
   * Registers an endpoint's names (its container's, from the sandbox) and,
   * on the sandbox's first network with embedded DNS, opens its resolver
   * inside the sandbox's namespace and redirects 127.0.0.11:53 there, before
   * the container's process starts. After a restart (afterRestart) the
   * resolver takes back the ports the redirect already names, as the
   * sandbox's record keeps them.
   */
  async endpointJoined(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: { afterRestart?: boolean } = {}): Promise<void> {
    if (!hasEmbeddedDns(network)) return;
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
    if (this.server.resolverPorts(sandbox.netnsPath) !== undefined) return;
    // The namespace is read only when its record does not say (a data root from before records kept the ports).
    const inKernel = options.afterRestart === true ? (sandbox.resolverRedirect ?? (await readResolverRedirect(sandbox.netnsPath))) : undefined;
    const ports = this.server.openResolver(sandbox.netnsPath, endpoint.containerId, inKernel);
    const step = redirectStep(sandbox.resolverRedirect, inKernel, ports);
    if (step === 'record') this.remember(sandbox.id, ports);
    // Taken from the record, not read: the namespace is checked after the daemon answers (checkRestoredRedirects).
    if (step === 'keep') this.unchecked.push({ netnsPath: sandbox.netnsPath, ports });
    if (step !== 'rewrite') return;
    try {
      await this.rewriteRedirect(sandbox.id, sandbox.netnsPath, ports, sandbox.resolverRedirect !== undefined);
    } catch (error) {
      await this.server.closeResolver(sandbox.netnsPath);
      throw error;
    }
  }

  /** Points the namespace's redirect at ports; the sandbox's record drops its ports (when it has some) until the kernel has the new ones. */
  private async rewriteRedirect(sandboxId: string, netnsPath: string, ports: ResolverPorts, recorded: boolean): Promise<void> {
    if (recorded) this.remember(sandboxId, undefined);
    await installResolverRedirect(netnsPath, ports);
    this.remember(sandboxId, ports);
  }

  /**
   * After a restart, the redirects whose ports came from the sandboxes'
   * records are written again in their namespaces, one at a time after the
   * daemon answers, so that one changed behind skiff's back (flushed by hand
   * inside the container, say) sends to the resolver again. Written, not
   * read and compared: one nf_tables transaction (flush and add, atomic) in
   * the namespace costs less than the program that read it (beside 1,000
   * containers the reading pass took ~10 s), and leaves the same rules where
   * nothing had changed them. The record already names these ports, so it
   * stays as it is. `skiff network diagnose` waits for this pass.
   */
  checkRestoredRedirects(log: (message: string) => void): Promise<void> {
    const pending = this.unchecked.splice(0);
    const check = async ({ netnsPath, ports }: UncheckedRedirect) => {
      const open = this.server.resolverPorts(netnsPath);
      if (open === undefined || open.udp !== ports.udp || open.tcp !== ports.tcp) return; // closed or reopened since
      await installResolverRedirect(netnsPath, ports).catch((error: unknown) => log(`repairing the DNS redirect in netns "${netnsPath}": ${String(error)}`));
    };
    const worker = async () => {
      for (let next = pending.shift(); next !== undefined && !this.closed; next = pending.shift()) await check(next);
    };
    const count = pending.length;
    const started = performance.now();
    this.restoredChecked = Promise.all(Array.from({ length: REDIRECT_CHECK_CONCURRENCY }, worker)).then(() => {
      if (count > 0) log(`the DNS redirects of ${count} restored sandboxes written again in ${Math.round(performance.now() - started)} ms`);
    });
    return this.restoredChecked;
  }

  /** docker rename: the endpoint answers to its container's new name, and no longer to the old one. */
  endpointRenamed(endpointId: string, containerName: string): void {
    const record = this.records.find(endpointId);
    if (record !== undefined) this.records.upsert({ ...record, containerName });
  }

  /** Forgets an endpoint. The sandbox's resolver stays to its end: its resolv.conf still names 127.0.0.11, which forwards. */
  endpointLeft(endpoint: Endpoint): void {
    this.records.remove(endpoint.id);
  }

  /** Another host's container on an overlay network: answered here as a local one would be (names, aliases, PTR). */
  remoteEndpointUpserted(remote: RemoteName): void {
    this.records.upsert({ ...remote });
  }

  remoteEndpointRemoved(endpointId: string): void {
    this.records.remove(endpointId);
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

  /** The sandbox is going: its resolver closes, with its sockets in the namespace. */
  sandboxReleased(netnsPath: string): Promise<void> {
    return this.server.closeResolver(netnsPath);
  }

  /** skiff network diagnose: the sandbox's resolver is open and its namespace's 127.0.0.11:53 is redirected to it. */
  async diagnoseResolver(network: Network, sandbox: Sandbox, who: string): Promise<DiagnosisCheck[]> {
    if (!hasEmbeddedDns(network)) return [];
    const ports = this.server.resolverPorts(sandbox.netnsPath);
    const open: DiagnosisCheck = {
      what: `${who}: the embedded DNS answers inside its namespace on 127.0.0.11`,
      ok: ports !== undefined,
      detail: ports === undefined ? 'no resolver' : `udp ${ports.udp}, tcp ${ports.tcp}`,
    };
    if (ports === undefined) return [open];
    await this.restoredChecked;
    const what = `${who}: 127.0.0.11:53 in its namespace is redirected to the resolver`;
    let redirect;
    try {
      redirect = await readRedirectedPorts(sandbox.netnsPath);
    } catch (error) {
      return [open, { what, ok: false, detail: (error as Error).message }]; // the namespace is gone meanwhile: this check fails, the diagnose goes on
    }
    return [
      open,
      {
        what,
        ok: redirect?.udp === ports.udp && redirect.tcp === ports.tcp,
        detail: redirect === undefined ? 'no redirect' : `udp ${redirect.udp}, tcp ${redirect.tcp}`,
      },
    ];
  }

  /** The daemon's --dns changed (SIGHUP): containers without their own --dns forward there from now on. */
  setUpstreams(upstreams: string[]): void {
    this.server.setUpstreams(upstreams);
  }

  close(): Promise<void> {
    this.closed = true;
    return this.server.close();
  }
}
