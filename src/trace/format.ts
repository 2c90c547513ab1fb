/** A trace report as text, the way a person would explain the path: one line per step, then the result and the fix. */
import type { TraceEvent } from '../firewall/index.js';
import type { Party, TraceReport } from './model.js';

function who(party: Party): string {
  if (party.kind === 'container') return party.name;
  if (party.kind === 'host') return party.address === undefined ? 'the host' : `the host (${party.address})`;
  return party.address;
}

/** "forward (br-a -> br-b)": a chain with the interfaces its packet line names. */
function chainWithInterfaces(packet: TraceEvent | undefined, chain: string): string {
  const iif = packet === undefined ? undefined : /\biif "([^"]+)"/.exec(packet.text)?.[1];
  const oif = packet === undefined ? undefined : /\boif "([^"]+)"/.exec(packet.text)?.[1];
  const interfaces = [iif === undefined ? undefined : `in ${iif}`, oif === undefined ? undefined : `out ${oif}`].filter((part) => part !== undefined);
  return interfaces.length === 0 ? chain : `${chain} (${interfaces.join(', ')})`;
}

/** The firewall's steps: each chain the probe entered, the rules that acted and how the chain ended. */
export function firewallSteps(events: readonly TraceEvent[]): string[] {
  const steps: string[] = [];
  let packet: TraceEvent | undefined;
  for (const event of events) {
    if (event.kind === 'packet') {
      packet = event;
      continue;
    }
    const where = `${event.family} ${event.table} ${chainWithInterfaces(packet?.chain === event.chain ? packet : undefined, event.chain)}`;
    if (event.kind === 'rule')
      steps.push(`${where}: ${event.text}${event.verdict === undefined || event.verdict === event.text ? '' : ` -> ${event.verdict}`}`);
    else steps.push(`${where}: ${event.kind === 'policy' ? 'policy ' : ''}${event.text}`);
  }
  return steps;
}

export function formatTrace(report: TraceReport): string {
  const { request, verdict } = report;
  const what = request.port === undefined ? 'icmp echo' : `${request.protocol} port ${request.port}`;
  const lines = [`trace ${who(report.source)} -> ${who(report.destination)} (${what})`];
  const step = (label: string, text: string) => lines.push(`  ${label.padEnd(9)} ${text}`);
  if (report.name !== undefined && verdict.name !== undefined) step('name', `${verdict.name.ok ? 'ok' : 'FAILS'}: ${verdict.name.reason}`);
  if (report.sharedNetworks.length > 0) step('networks', `both on ${report.sharedNetworks.join(', ')}`);
  if (report.target !== undefined)
    step('target', `${report.target.address}${report.target.port === undefined ? '' : `:${report.target.port}`}: ${report.target.why}`);
  if (report.route !== undefined) {
    const from =
      report.source.kind === 'container'
        ? `in ${report.source.name}'s namespace`
        : report.source.kind === 'host'
          ? 'on the host'
          : `arriving from ${report.source.address}`;
    step(
      'route',
      report.route.ok
        ? `${from}: ${report.route.type === 'local' ? 'local, ' : ''}dev ${report.route.dev}${report.route.gateway === undefined ? '' : ` via ${report.route.gateway}`}${report.route.preferredSource === undefined ? '' : ` src ${report.route.preferredSource}`}`
        : `${from}: ${report.route.error}`,
    );
  }
  for (const check of report.links) step('link', `${check.ok ? 'ok  ' : 'FAIL'} ${check.what}${check.ok ? '' : `: ${check.detail}`}`);
  if (report.published !== undefined) {
    const port = report.published;
    step(
      'dnat',
      `${port.protocol} ${port.hostIp}:${port.hostPort} -> ${port.containerIp}:${port.containerPort}${port.container === undefined ? '' : ` (${port.container})`}, element ${port.map} { ${port.element} }`,
    );
  }
  for (const port of report.publishedElsewhere)
    step('published', `${port.protocol} ${port.hostIp}:${port.hostPort} -> ${port.containerIp}:${port.containerPort} only`);
  if (report.bridged !== undefined) {
    const { bridge, icc, firewall } = report.bridged;
    const past = firewall ? 'through the firewall (net.bridge.bridge-nf-call-iptables is 1)' : 'past the firewall (net.bridge.bridge-nf-call-iptables is 0)';
    step('bridge', `${bridge} switches the probe from port to port, ${past}${icc ? '' : '; the ports are isolated (ICC off)'}`);
  }
  if (report.probe !== undefined) {
    step(
      'probe',
      `${report.probe.packet}${report.probe.enteredBy === undefined ? '' : ` (entering the host by ${report.probe.enteredBy}, a namespace of the trace's own)`}`,
    );
    for (const text of firewallSteps(report.probe.events)) step('nft', text);
    for (const text of firewallSteps(report.probe.replyEvents ?? [])) step('nft back', text);
    if (report.probe.outcome !== undefined) step('answer', `${report.probe.outcome.outcome}: ${report.probe.outcome.detail}`);
    if (report.probe.error !== undefined) step('error', report.probe.error);
  }
  lines.push(`result: ${verdict.result}: ${verdict.reason}`);
  if (verdict.fix !== undefined) lines.push(`fix: ${verdict.fix}`);
  if (verdict.name !== undefined && !verdict.name.ok && verdict.name.fix !== undefined) lines.push(`fix (name): ${verdict.name.fix}`);
  return `${lines.join('\n')}\n`;
}
