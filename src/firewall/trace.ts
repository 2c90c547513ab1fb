/**
 * nftables tracing for `skiff network trace`: a small table of the trace's
 * own sets `meta nftrace set 1` on exactly the probe packet, and `nft monitor`
 * reports every rule of every table that packet meets, with the verdicts.
 * The verdict of skiff's table is then read from the kernel, not guessed
 * from the ruleset. The table is removed after the probe, whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { applyNft } from './apply.js';
import { checkTableName } from './state.js';

export interface ProbeMatch {
  source: string;
  destination: string;
  protocol: 'icmp' | 'tcp' | 'udp';
  sourcePort?: number;
  destinationPort?: number;
  /** ICMP: the echo request's IP total length, which the probe chose. */
  ipLength?: number;
}

/** One line of `nft monitor trace`, e.g. `trace id 2d46cf49 inet skiff forward rule … (verdict accept)`. */
export interface TraceEvent {
  id: string;
  family: string;
  table: string;
  chain: string;
  kind: 'packet' | 'rule' | 'verdict' | 'policy';
  /** packet: the packet's description; rule: the rule's text; verdict/policy: the verdict. */
  text: string;
  /** For rules: the verdict the rule gave ("accept", "drop", "jump user", "continue"). */
  verdict?: string;
}

function matchExpression(match: ProbeMatch): string {
  const addresses = `ip saddr ${match.source} ip daddr ${match.destination}`;
  if (match.protocol === 'icmp') return `${addresses} icmp type echo-request ip length ${match.ipLength ?? 84}`;
  return `${addresses} ${match.protocol} sport ${match.sourcePort ?? 0} ${match.protocol} dport ${match.destinationPort ?? 0}`;
}

const ADDRESS = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The trace's table. Its chains run before NAT (priority -150, after
 * conntrack) in prerouting (packets from containers and other hosts) and
 * output (the host's own). The probe's connection gets a conntrack mark, so
 * that with dropReplies its answers, which would go to a host that never
 * asked, are dropped after skiff's own forward chain has seen them.
 */
export function renderProbeTable(table: string, match: ProbeMatch, connectionMark: number, dropReplies: boolean): string {
  checkTableName(table);
  // Addresses and ports are spliced into the script: only plain values get there.
  if (!ADDRESS.test(match.source) || !ADDRESS.test(match.destination))
    throw new Error(`the trace probes IPv4 addresses only (${match.source} -> ${match.destination})`);
  for (const value of [match.sourcePort, match.destinationPort, match.ipLength, connectionMark]) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 0xffffffff)) throw new Error(`invalid probe value ${value}`);
  }
  const mark = `0x${connectionMark.toString(16)}`;
  const lines = [`add table inet ${table}`];
  for (const [chain, hook] of [
    ['from_outside', 'prerouting'],
    ['from_host', 'output'],
  ] as const) {
    lines.push(`add chain inet ${table} ${chain} { type filter hook ${hook} priority -150; policy accept; }`);
    lines.push(`add rule inet ${table} ${chain} ${matchExpression(match)} ct state new meta nftrace set 1 ct mark set ${mark}`);
  }
  if (dropReplies) {
    // The answer is traced too: it is the only sign of one, as it never reaches the probe.
    lines.push(`add rule inet ${table} from_outside ct mark ${mark} ct direction reply meta nftrace set 1`);
    lines.push(`add chain inet ${table} replies { type filter hook forward priority 10; policy accept; }`);
    lines.push(`add rule inet ${table} replies ct mark ${mark} ct direction reply drop`);
  }
  return `${lines.join('\n')}\n`;
}

const TRACE_LINE = /^trace id (\S+) (\S+) (\S+) (\S+) (packet|rule|verdict|policy):? ?(.*?)\s*$/;
const RULE_VERDICT = /^(.*) \(verdict ([^)]+)\)$/;

/** Parses `nft monitor` output; lines that are not trace lines are skipped. */
export function parseTraceLines(text: string): TraceEvent[] {
  return text.split('\n').flatMap((line): TraceEvent[] => {
    const found = TRACE_LINE.exec(line.trim());
    if (found === null) return [];
    const [, id, family, table, chain, kind, rest] = found as unknown as [string, string, string, string, string, TraceEvent['kind'], string];
    if (kind !== 'rule') return [{ id, family, table, chain, kind, text: rest }];
    const ruled = RULE_VERDICT.exec(rest);
    return [{ id, family, table, chain, kind, text: ruled?.[1] ?? rest, verdict: ruled?.[2] }];
  });
}

/** `nft monitor` running in the daemon's namespace, its output kept. */
export class TraceMonitor {
  private output = '';
  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
    });
    // A monitor that cannot run leaves the trace without events; the trace reports that, the daemon goes on.
    child.on('error', () => undefined);
  }

  static start(): TraceMonitor {
    return new TraceMonitor(spawn('nft', ['monitor'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  }

  get text(): string {
    return this.output;
  }

  /**
   * Makes the table and waits until the monitor reports it: only then is
   * the monitor surely listening. A table made before it listened is made
   * again.
   */
  async createWatchedTable(table: string): Promise<void> {
    const announcement = `add table inet ${checkTableName(table)}`;
    for (let attempt = 0; attempt < 20; attempt++) {
      await applyNft(`${announcement}\n`);
      for (let waited = 0; waited < 10; waited++) {
        if (this.output.includes(announcement)) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await removeProbeTable(table);
    }
    throw new Error('nft monitor reported nothing: nftables tracing is not available');
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}

/** Removes the trace's table; one already gone is success. */
export function removeProbeTable(table: string): Promise<void> {
  return applyNft(`add table inet ${checkTableName(table)}\ndelete table inet ${table}\n`);
}
