/**
 * The verdict of a trace, decided from its facts alone (no I/O): the first
 * thing that stops the packet is the answer — a party that cannot send, a
 * link the kernel lost, no route, a firewall rule the probe met — and each
 * answer comes with the one line that would fix it.
 */
import type { TraceEvent } from '../firewall/index.js';
import type { Attachment, FirewallRule, NameFacts, Party, TraceFacts, Verdict } from './model.js';

const label = (party: Party): string => (party.kind === 'container' ? party.name : party.kind === 'host' ? 'the host' : party.address);
const attachmentsOf = (party: Party): Attachment[] => (party.kind === 'container' ? party.attachments : []);
const TRACE_TABLE_PREFIX = 'skiff_trace_';

/** Name resolution as the source's embedded DNS would do it, and why not when it would not. */
export function nameVerdict(source: Party, destination: Party, name: NameFacts): NonNullable<Verdict['name']> {
  const dst = label(destination);
  const src = label(source);
  if (name.answer !== undefined && name.answer.length > 0) {
    return { ok: true, reason: `${src}'s embedded DNS answers ${name.name} with ${name.answer.join(', ')}` };
  }
  const withDns = attachmentsOf(source).filter((attachment) => attachment.dns);
  const theirs = new Set(attachmentsOf(destination).map((attachment) => attachment.networkId));
  const shared = attachmentsOf(source).filter((attachment) => theirs.has(attachment.networkId));
  if (shared.length > 0 && shared.every((attachment) => attachment.defaultBridge)) {
    return {
      ok: false,
      reason: `${src} and ${dst} share only the default bridge, which has no embedded DNS (as in Docker): ${name.name} is not resolved there`,
      fix: `docker network create NET && docker network connect NET ${src} && docker network connect NET ${dst} (or --link ${dst})`,
    };
  }
  if (withDns.length === 0) {
    const where = attachmentsOf(source).some((attachment) => attachment.defaultBridge)
      ? 'only on the default bridge, which has no embedded DNS (as in Docker)'
      : 'on no network with an embedded DNS';
    return {
      ok: false,
      reason: `${src} is ${where}: ${name.name} goes to the upstream resolvers, which do not know it`,
      fix: `docker network create NET && docker network connect NET ${src} && docker network connect NET ${dst} (or --link ${dst})`,
    };
  }
  if (!withDns.some((attachment) => theirs.has(attachment.networkId))) {
    const dstNetworks =
      attachmentsOf(destination)
        .map((attachment) => attachment.network)
        .join(', ') || 'no network';
    return {
      ok: false,
      reason: `${dst} is on ${dstNetworks} and ${src} on ${withDns.map((attachment) => attachment.network).join(', ')}: the embedded DNS answers only for containers on a network both are on`,
      fix: `docker network connect ${withDns[0]!.network} ${dst}`,
    };
  }
  return { ok: false, reason: `${name.name} is no name, alias or id of ${dst} on the networks both are on (aliases are scoped to their network)` };
}

/** The first drop the probe met, in any table but the trace's own. */
export function droppingRule(events: readonly TraceEvent[]): FirewallRule | undefined {
  for (const event of events) {
    if (event.table.startsWith(TRACE_TABLE_PREFIX)) continue;
    const dropped = (event.kind === 'rule' && event.verdict === 'drop') || ((event.kind === 'policy' || event.kind === 'verdict') && event.text === 'drop');
    if (dropped) return { table: event.table, chain: event.chain, rule: event.kind === 'rule' ? event.text : `policy ${event.text}` };
  }
  return undefined;
}

const iccFix = (network: string) => `recreate ${network} without enable_icc=false, or connect both containers to another network`;

/** Why skiff's rule dropped it, and what would let it through. */
function explainRule(rule: FirewallRule, facts: TraceFacts, skiffTable: string): { reason: string; fix?: string } {
  const src = label(facts.source);
  const srcNetworks = attachmentsOf(facts.source).map((attachment) => attachment.network);
  const behindPort = facts.published?.network === undefined ? [] : [facts.published.network];
  const dstNetworks = [...attachmentsOf(facts.destination).map((attachment) => attachment.network), ...behindPort];
  const dst = facts.published?.container ?? label(facts.destination);
  const where = `${rule.table} ${rule.chain}: ${rule.rule}`;
  if (rule.table !== skiffTable) return { reason: `dropped by a rule outside skiff's table (${where})`, fix: `nft list table inet ${rule.table}` };
  if (rule.chain === 'user') return { reason: `dropped by a rule of your own in chain user (${where})`, fix: `nft list chain inet ${skiffTable} user` };
  if (rule.rule.includes('@bridge_self')) {
    const network = facts.sharedNetworks[0] ?? srcNetworks[0] ?? '?';
    return {
      reason: `ICC is off on ${network} (com.docker.network.bridge.enable_icc=false): its containers do not reach each other (${where})`,
      fix: iccFix(network),
    };
  }
  if (rule.rule.includes('@internal_bridges')) {
    const internal = [...attachmentsOf(facts.source), ...attachmentsOf(facts.destination)].find((attachment) => attachment.internal)?.network ?? '?';
    return {
      reason: `${internal} is --internal: nothing is forwarded to or from it beyond its own bridge (${where})`,
      fix: `docker network connect NET ${src} with a NET that is not internal`,
    };
  }
  if (rule.rule.includes('iifname @bridges oifname @bridges')) {
    return {
      reason: `skiff isolates networks from each other, published ports included: ${src} (${srcNetworks.join(', ') || '-'}) and ${dst} (${dstNetworks.join(', ') || '-'}) share no network (${where})`,
      fix: dstNetworks[0] === undefined ? undefined : `docker network connect ${dstNetworks[0]} ${src}`,
    };
  }
  if (rule.rule.includes('oifname @bridges drop')) {
    return {
      reason: `from outside their networks, containers are reached only through published ports (${where})`,
      fix: `publish the port: docker run -p HOSTPORT:${facts.request.port ?? 'PORT'} …`,
    };
  }
  if (rule.chain === 'input' && rule.rule.includes('127.0.0.0/8')) {
    return { reason: `containers may not reach the host's 127.0.0.0/8 services (CVE-2020-8558) (${where})` };
  }
  return { reason: `dropped by ${where}` };
}

function reachedVerdict(facts: TraceFacts): Verdict {
  const outcome = facts.probe!.outcome!;
  const target = facts.target!;
  const to = target.port === undefined ? target.address : `${target.address}:${target.port}`;
  const via =
    facts.published === undefined
      ? ''
      : ` (DNAT to ${facts.published.containerIp}:${facts.published.containerPort}${facts.published.container === undefined ? '' : `, ${facts.published.container}`})`;
  if (outcome.outcome === 'answered') return { result: 'reachable', reason: `${label(facts.source)} reaches ${to}${via}: ${outcome.detail}` };
  if (outcome.outcome === 'refused')
    return {
      result: 'reachable',
      reason: `${to}${via} is reached, but nothing listens there: ${outcome.detail}`,
      fix: `start the service on port ${target.port ?? '?'} in ${label(facts.destination)}`,
    };
  const passed = facts.probe!.events.some((event) => !event.table.startsWith(TRACE_TABLE_PREFIX) && event.chain === 'postrouting');
  return {
    result: 'unreachable',
    reason: passed ? `the firewall let the probe through, but ${to}${via} did not answer (${outcome.detail})` : `no answer from ${to}${via}: ${outcome.detail}`,
  };
}

/** The verdict from the facts (pure). */
export function decideVerdict(facts: TraceFacts, skiffTable = 'skiff'): Verdict {
  const verdict = pathVerdict(facts, skiffTable);
  if (facts.name === undefined) return verdict;
  return { ...verdict, name: nameVerdict(facts.source, facts.destination, facts.name) };
}

function pathVerdict(facts: TraceFacts, skiffTable: string): Verdict {
  const { source } = facts;
  if (source.kind === 'container') {
    if (!source.running) return { result: 'unreachable', reason: `${source.name} is not running`, fix: `docker start ${source.name}` };
    if (source.networkMode === 'none' || source.attachments.length === 0) {
      return {
        result: 'unreachable',
        reason: `${source.name} has only a loopback interface (--network ${source.networkMode})`,
        fix: `docker network connect NET ${source.name}`,
      };
    }
  }
  if (facts.target === undefined)
    return {
      result: 'unreachable',
      reason: facts.noTarget ?? 'the destination has no address',
      fix: facts.destination.kind === 'container' ? `docker start ${facts.destination.name}` : undefined,
    };
  const broken = facts.links.find((check) => !check.ok);
  if (broken !== undefined) {
    return {
      result: 'broken',
      reason: `${broken.what}: ${broken.detail} (changed behind skiff's back)`,
      fix: `skiff network diagnose ${broken.network ?? 'NET'} (a daemon restart reconciles the kernel)`,
    };
  }
  if (facts.route !== undefined && !facts.route.ok) {
    const internal = attachmentsOf(source).find((attachment) => attachment.internal);
    if (internal !== undefined && attachmentsOf(source).every((attachment) => attachment.internal)) {
      return {
        result: 'unreachable',
        reason: `${label(source)} is only on ${internal.network}, which is --internal: no route leaves it (${facts.route.error})`,
        fix: `docker network connect NET ${label(source)} with a NET that is not internal`,
      };
    }
    return { result: 'unreachable', reason: `no route from ${label(source)} to ${facts.target.address}: ${facts.route.error}` };
  }
  const port = facts.target.port;
  if (port !== undefined && facts.destination.kind === 'host' && facts.published === undefined && facts.publishedElsewhere.length > 0) {
    const bound = facts.publishedElsewhere[0]!;
    return {
      result: 'unreachable',
      reason: `port ${port} is published on ${bound.hostIp} only, not on ${facts.target.address}`,
      fix: `publish it on every address: -p ${port}:${bound.containerPort} (or -p ${facts.target.address}:${port}:${bound.containerPort})`,
    };
  }
  const probe = facts.probe;
  if (probe === undefined || probe.error !== undefined || probe.outcome === undefined) {
    return { result: 'unreachable', reason: `the probe could not be sent: ${probe?.error ?? 'no probe'}` };
  }
  const rule = droppingRule(probe.events);
  if (rule !== undefined) return { result: 'unreachable', rule, ...explainRule(rule, facts, skiffTable) };
  const unanswered = probe.outcome.outcome !== 'answered' && probe.outcome.outcome !== 'refused';
  if (unanswered && facts.bridged !== undefined && !facts.bridged.icc) {
    const { network, bridge } = facts.bridged;
    return {
      result: 'unreachable',
      reason: `ICC is off on ${network} (com.docker.network.bridge.enable_icc=false): its containers' ports on ${bridge} are isolated, so the bridge forwards nothing between them`,
      fix: iccFix(network),
    };
  }
  return reachedVerdict(facts);
}
