/**
 * `skiff network trace SRC DST`: gathers the facts — who SRC and DST are,
 * what SRC's embedded DNS would answer, the route SRC's namespace would take,
 * the links on the way, the published port a host address leads to — then
 * sends one real probe packet with nftables tracing on and reads which rule
 * decided. The verdict is decided from those facts by verdict.ts.
 *
 * The probe leaves nothing behind: its nftables table, its `nft monitor`
 * and, for a source skiff does not own, its namespace are removed after it,
 * whatever happened.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { join } from 'node:path';
import { invalid, notFound, SkiffError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { Containers } from '../containers/controller.js';
import { hasEmbeddedDns } from '../engine/name-service.js';
import {
  applyNft,
  dnatElementOf,
  NF_CALL_IPTABLES,
  parseTraceLines,
  removeProbeTable,
  renderProbeTable,
  TraceMonitor,
  type ProbeMatch,
  type TraceEvent,
} from '../firewall/index.js';
import { interfaceState } from '../kernel/links.js';
import { readSysctl } from '../kernel/sysctl.js';
import { routeGet, type RouteLookup } from '../kernel/route.js';
import { sendProbe, type ProbePacket } from '../kernel/probe.js';
import { createProbeHost, type ProbeHost } from '../kernel/probe-host.js';
import { familyOf, familyOfCidr } from '../model/address.js';
import type { ContainerRecord } from '../model/container.js';
import type { Endpoint, Network } from '../model/network.js';
import type { Attachment, LinkCheck, Party, ProbeFacts, PublishedFacts, Target, TraceFacts, TraceProtocol, TraceReport, TraceRequest } from './model.js';
import { bridgedNetwork, chooseTarget, matchPublished, sharedNetworks } from './plan.js';
import { decideVerdict } from './verdict.js';

/** How long trace events may take to reach the monitor after the probe's answer (or its timeout). */
const TRACE_DRAIN_MS = 150;

function attachmentOf(network: Network, endpoint: Endpoint): Attachment {
  return {
    network: network.name,
    networkId: network.id,
    driver: network.driver,
    bridge: network.bridge?.bridgeName,
    defaultBridge: network.bridge?.isDefaultBridge === true,
    internal: network.internal,
    icc: network.bridge?.enableIcc ?? true,
    dns: hasEmbeddedDns(network),
    gateway: network.ipam.pools.find((pool) => familyOfCidr(pool.subnet) === 4)?.gateway,
    address: endpoint.ipv4?.address,
    mac: endpoint.macAddress,
    aliases: endpoint.aliases,
    ifName: endpoint.ifName,
    hostIfName: endpoint.hostIfName,
  };
}

/** Checks a request's shape before anything is looked up: with a port, TCP unless UDP is asked; without, ICMP echo. */
export function checkTraceRequest(request: TraceRequest): TraceRequest {
  if (request.source === '' || request.destination === '') throw invalid('a trace needs a source and a destination');
  if (request.port !== undefined && (!Number.isInteger(request.port) || request.port < 1 || request.port > 65535))
    throw invalid(`invalid port ${String(request.port)}: 1-65535`);
  if (request.protocol === 'udp' && request.port === undefined) throw invalid('--udp needs --port');
  return { ...request, protocol: request.port === undefined ? 'icmp' : request.protocol === 'udp' ? 'udp' : 'tcp' };
}

export class Tracer {
  constructor(
    private readonly engine: Engine,
    private readonly containers: Containers,
  ) {}

  async trace(asked: TraceRequest): Promise<TraceReport> {
    const request = checkTraceRequest(asked);
    const source = await this.locate(request.source);
    const destination = await this.locate(request.destination, source);
    if (source.kind === 'address' && destination.kind !== 'host') {
      throw invalid(`a source outside skiff (${source.address}) can only be traced to the host's published ports: give a host address and --port`);
    }
    const facts: TraceFacts = { request, source, destination, sharedNetworks: sharedNetworks(source, destination), publishedElsewhere: [], links: [] };
    const target = chooseTarget(source, destination, request);
    if ('none' in target) facts.noTarget = target.none;
    else facts.target = target;
    facts.name = this.nameFacts(source, destination, request.destination);
    const bridged = facts.target === undefined ? undefined : bridgedNetwork(source, destination, facts.target);
    if (bridged !== undefined)
      facts.bridged = { network: bridged.network, bridge: bridged.bridge!, icc: bridged.icc, firewall: (await readSysctl(NF_CALL_IPTABLES)) === '1' };
    if (facts.target !== undefined && this.canSend(source)) {
      const ending = this.publishedFacts(facts, facts.target);
      facts.links = await this.linkChecks(source, ending ?? destination, facts.target, facts.published?.containerIp);
      facts.route = await this.route(source, facts.target.address);
      if (facts.route.ok && facts.links.every((check) => check.ok)) facts.probe = await this.probe(source, facts.target, facts.route, request.protocol);
    }
    return { ...facts, verdict: decideVerdict(facts, this.engine.firewallTable) };
  }

  // ---- who is who

  /** A container, `host` or an address; for a destination, also a name the source's embedded DNS answers (an alias). */
  private async locate(reference: string, asker?: Party): Promise<Party> {
    if (reference === 'host') return { kind: 'host', reference };
    const record = this.findContainer(reference);
    if (record !== undefined) return this.containerParty(reference, record);
    const family = familyOf(reference);
    if (family === 6) throw invalid(`the trace probes IPv4 only: ${reference}`);
    if (family === undefined) {
      const answered = asker === undefined ? undefined : this.nameFacts(asker, { kind: 'host', reference }, reference, true)?.answer?.[0];
      if (answered === undefined) throw notFound(`No such container, host or address: ${reference}`);
      return this.locate(answered);
    }
    const endpoint = this.engine
      .listSandboxes()
      .flatMap((sandbox) => this.engine.endpointsOfSandbox(sandbox.id))
      .find((candidate) => candidate.ipv4?.address === reference);
    const owner = endpoint === undefined || endpoint.containerId === '' ? undefined : this.findContainer(endpoint.containerId);
    if (owner !== undefined) return this.containerParty(reference, owner);
    const route = await routeGet(reference);
    if (route.ok && route.type === 'local') return { kind: 'host', reference, address: reference };
    return { kind: 'address', reference, address: reference };
  }

  private findContainer(reference: string): ContainerRecord | undefined {
    try {
      return this.containers.get(reference);
    } catch {
      return undefined; // not a container: an address or `host`, or an unknown name (locate says so)
    }
  }

  private containerParty(reference: string, record: ContainerRecord): Party {
    const mode = record.hostConfig.networkMode;
    // A container on the host's network is the host, as far as packets can tell.
    if (mode === 'host') return { kind: 'host', reference };
    const netnsPath = this.containers.sandboxKey(record);
    const attachments =
      record.sandboxId === '' ? [] : this.engine.attachments(record.sandboxId).map(({ network, endpoint }) => attachmentOf(network, endpoint));
    return {
      kind: 'container',
      reference,
      name: record.name,
      id: record.id,
      running: record.state.status === 'running',
      networkMode: mode === '' || mode === 'default' ? 'bridge' : mode,
      netnsPath: netnsPath === '' ? undefined : netnsPath,
      attachments,
    };
  }

  private canSend(source: Party): boolean {
    return source.kind !== 'container' || (source.running && source.netnsPath !== undefined && source.attachments.length > 0);
  }

  // ---- facts

  private nameFacts(source: Party, destination: Party, name: string, anyDestination = false): TraceFacts['name'] {
    if (source.kind !== 'container' || (destination.kind !== 'container' && !anyDestination) || familyOf(name) !== undefined) return undefined;
    const askedFrom = source.attachments.find((attachment) => attachment.dns && attachment.address !== undefined)?.address;
    return { name, askedFrom, answer: askedFrom === undefined ? undefined : this.engine.answerNameFor(askedFrom, name) };
  }

  /** For a host address and port: the published port and the container it leads to. */
  private publishedFacts(facts: TraceFacts, target: Target): Party | undefined {
    if (facts.destination.kind !== 'host' || target.port === undefined) return undefined;
    const ports = this.engine.publishedPorts().map((port) => {
      const owner = this.engine
        .listSandboxes()
        .flatMap((sandbox) => this.engine.endpointsOfSandbox(sandbox.id))
        .find((endpoint) => endpoint.ipv4?.address === port.containerIp);
      return {
        ...port,
        container: owner?.name,
        network: owner === undefined ? undefined : this.engine.findNetwork(owner.networkId)?.name,
        ...dnatElementOf(port),
      };
    });
    const { match, elsewhere } = matchPublished(ports, target.address, target.port, facts.request.protocol);
    const strip = ({ bridgeName: _bridge, ...port }: PublishedFacts & { bridgeName?: string }): PublishedFacts => port;
    facts.published = match === undefined ? undefined : strip(match);
    facts.publishedElsewhere = elsewhere.map(strip);
    const owner = match?.container === undefined ? undefined : this.findContainer(match.container);
    return owner === undefined ? undefined : this.containerParty(owner.name, owner);
  }

  private async route(source: Party, address: string): Promise<RouteLookup> {
    if (source.kind === 'container') return routeGet(address, { netnsPath: source.netnsPath });
    if (source.kind === 'host') return routeGet(address);
    // As a packet from that host would be routed: arriving by the interface the host reaches it through.
    const back = await routeGet(source.address);
    if (!back.ok) return { ok: false, error: `the host has no route back to ${source.address}: ${back.error}` };
    return routeGet(address, { from: source.address, iif: back.dev });
  }

  /** The links the packet crosses, checked in the kernel as diagnose checks them. */
  private async linkChecks(source: Party, ending: Party, target: Target, dnatAddress: string | undefined): Promise<LinkCheck[]> {
    const involved: Array<{ party: Party & { kind: 'container' }; attachment: Attachment }> = [];
    if (source.kind === 'container')
      for (const attachment of source.attachments) if (attachment.bridge !== undefined) involved.push({ party: source, attachment });
    if (ending.kind === 'container') {
      const wanted = dnatAddress ?? target.address;
      const attachment = ending.attachments.find((candidate) => candidate.address === wanted);
      if (attachment?.bridge !== undefined) involved.push({ party: ending, attachment });
    }
    const checks: LinkCheck[] = [];
    for (const { party, attachment } of involved) {
      const network = attachment.network;
      const bridge = attachment.bridge!;
      const hostSide = await interfaceState(attachment.hostIfName);
      checks.push({
        what: `${attachment.hostIfName} (${party.name}'s veth) is a port of ${bridge}`,
        ok: hostSide?.master === bridge && hostSide.up,
        detail: hostSide === undefined ? 'no such link' : `master ${hostSide.master ?? 'none'}, ${hostSide.operstate}`,
        network,
      });
      if (!attachment.icc && hostSide !== undefined) {
        checks.push({
          what: `${attachment.hostIfName} (${party.name}'s veth) is an isolated port (ICC off on ${network})`,
          ok: hostSide.isolated === true,
          detail: `isolated ${hostSide.isolated === true ? 'on' : 'off'}`,
          network,
        });
      }
      const inside = party.netnsPath === undefined ? undefined : await interfaceState(attachment.ifName, party.netnsPath);
      const holds = inside?.addresses.some((address) => address.address === attachment.address) === true;
      checks.push({
        what: `${attachment.ifName} in ${party.name} holds ${attachment.address ?? 'its address'}`,
        ok: holds,
        detail: inside === undefined ? 'no such interface' : inside.addresses.map((address) => address.address).join(', ') || 'no address',
        network,
      });
    }
    const bridges = [...new Set(involved.map(({ attachment }) => attachment.bridge!))];
    for (const bridge of bridges) {
      const state = await interfaceState(bridge);
      checks.push({
        what: `bridge ${bridge} is up`,
        ok: state?.up === true,
        detail: state === undefined ? 'no such link' : state.operstate,
        network: involved.find(({ attachment }) => attachment.bridge === bridge)?.attachment.network,
      });
    }
    return checks;
  }

  // ---- the probe

  private async probe(source: Party, target: Target, route: RouteLookup & { ok: true }, protocol: TraceProtocol): Promise<ProbeFacts> {
    const sourceAddress = source.kind === 'address' ? source.address : route.preferredSource;
    if (sourceAddress === undefined) return { packet: `${protocol} to ${target.address}`, events: [], error: `no source address on ${route.dev}` };
    const packet: ProbePacket =
      protocol === 'icmp'
        ? { protocol, destination: target.address, payloadSize: randomInt(64, 1000) }
        : { protocol, destination: target.address, port: target.port, sourcePort: randomInt(40_000, 60_000) };
    const match: ProbeMatch = {
      source: sourceAddress,
      destination: target.address,
      protocol,
      sourcePort: packet.sourcePort,
      destinationPort: packet.port,
      ipLength: packet.payloadSize === undefined ? undefined : packet.payloadSize + 28,
    };
    const described =
      protocol === 'icmp'
        ? `icmp echo ${sourceAddress} -> ${target.address} (ip length ${match.ipLength})`
        : `${protocol} ${sourceAddress}:${packet.sourcePort} -> ${target.address}:${packet.port}`;
    const table = `skiff_trace_${randomBytes(4).toString('hex')}`;
    const monitor = TraceMonitor.start();
    let probeHost: ProbeHost | undefined;
    let facts: ProbeFacts;
    try {
      await monitor.createWatchedTable(table);
      await applyNft(renderProbeTable(table, match, randomInt(1, 0x7fffffff), source.kind === 'address'));
      if (source.kind === 'address')
        probeHost = await createProbeHost(join(this.engine.netnsDir, `trace-${table.slice(-8)}`), `sktr${table.slice(-8, -1)}`, source.address);
      const netnsPath = source.kind === 'container' ? source.netnsPath : probeHost?.netnsPath;
      const outcome = await sendProbe(packet, netnsPath);
      await new Promise((resolve) => setTimeout(resolve, TRACE_DRAIN_MS));
      const events = parseTraceLines(monitor.text);
      facts = { packet: described, enteredBy: probeHost?.hostIfName, outcome, events: probeEvents(events, sourceAddress, table) };
      if (probeHost !== undefined) {
        facts.replyEvents = replyEvents(events, sourceAddress, table);
        facts.outcome = answerSeen(facts.replyEvents) ?? outcome;
      }
    } catch (error) {
      facts = { packet: described, events: [], error: error instanceof Error ? error.message : String(error) };
    }
    // Whatever happened above, the probe's table, monitor and namespace go; a failure to remove them is reported, never left silent.
    monitor.stop();
    const undone = await Promise.allSettled([removeProbeTable(table), probeHost?.remove()]);
    const failures = undone.flatMap((step) => (step.status === 'rejected' ? [String(step.reason)] : []));
    if (failures.length > 0) throw new SkiffError('unavailable', `the trace could not remove its probe: ${failures.join('; ')}`);
    return facts;
  }
}

/**
 * The probe's own events: traced packets whose source is the probe's (a
 * routed packet gets a new trace id in forward, so ids are gathered by
 * packet), without the trace's own table.
 */
export function probeEvents(events: readonly TraceEvent[], sourceAddress: string, ownTable: string): TraceEvent[] {
  const ids = new Set(events.filter((event) => event.kind === 'packet' && event.text.includes(`ip saddr ${sourceAddress} `)).map((event) => event.id));
  return events.filter((event) => ids.has(event.id) && event.table !== ownTable);
}

/**
 * The first traced answer to the probe in skiff's (or anyone's) chains: a
 * packet going back to its source. Later ones are its retransmissions; the
 * trace's own table is left out, and routing gives the answer a new trace id
 * after it, so the first packet seen beyond that table is the one followed.
 */
export function replyEvents(events: readonly TraceEvent[], sourceAddress: string, ownTable: string): TraceEvent[] {
  const first = events.find((event) => event.kind === 'packet' && event.table !== ownTable && event.text.includes(`ip daddr ${sourceAddress} `));
  return first === undefined ? [] : events.filter((event) => event.id === first.id && event.table !== ownTable);
}

/**
 * What the traced answer says, for a probe that cannot hear it (its answer
 * goes to the real host and is dropped on the way): a reset is a refusal,
 * anything else an answer.
 */
export function answerSeen(replies: readonly TraceEvent[]): ProbeFacts['outcome'] {
  const packet = replies.find((event) => event.kind === 'packet');
  if (packet === undefined) return undefined;
  const reset = /tcp flags [^ ]*rst/.test(packet.text) || /tcp flags (==\s*)?0x(04|14)\b/.test(packet.text);
  return reset
    ? { outcome: 'refused', detail: 'the answer, a reset, was seen on its way back (the trace kept it from the real host)' }
    : { outcome: 'answered', detail: 'the answer was seen on its way back (the trace kept it from the real host)' };
}
