/**
 * What `skiff network trace` gathers and answers: plain data, the same for
 * the API's JSON, the CLI's text and the topology page. The facts are read
 * from skiff's records and the kernel; the verdict is decided from them
 * alone (verdict.ts).
 */
import type { TraceEvent } from '../firewall/index.js';
import type { RouteLookup } from '../kernel/route.js';

export type TraceProtocol = 'icmp' | 'tcp' | 'udp';

export interface TraceRequest {
  source: string;
  destination: string;
  /** TCP (or UDP) port; none means an ICMP echo. */
  port?: number;
  protocol: TraceProtocol;
}

/** One network a container is on, as the trace needs it. */
export interface Attachment {
  network: string;
  networkId: string;
  driver: string;
  /** The bridge device, for bridge networks. */
  bridge?: string;
  defaultBridge: boolean;
  internal: boolean;
  icc: boolean;
  /** Whether the network has skiff's embedded DNS (user-defined bridges). */
  dns: boolean;
  gateway?: string;
  address?: string;
  mac: string;
  aliases: string[];
  ifName: string;
  hostIfName: string;
}

export type Party =
  | { kind: 'container'; reference: string; name: string; id: string; running: boolean; networkMode: string; netnsPath?: string; attachments: Attachment[] }
  | { kind: 'host'; reference: string; address?: string }
  | { kind: 'address'; reference: string; address: string };

/** Where the probe goes: an address (and port), and why that one. */
export interface Target {
  address: string;
  port?: number;
  why: string;
}

export interface NameFacts {
  name: string;
  /** The source address the embedded DNS would see the question from. */
  askedFrom?: string;
  /** The addresses it would answer; undefined when it would not answer itself. */
  answer?: string[];
}

/** A published port the target matched (or the port's bindings elsewhere). */
export interface PublishedFacts {
  protocol: string;
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  /** The container the port leads to, and the network it is reached on. */
  container?: string;
  network?: string;
  /** The DNAT element in skiff's table: map name and element. */
  map: string;
  element: string;
}

export interface LinkCheck {
  what: string;
  ok: boolean;
  detail: string;
  /** The network to run `skiff network diagnose` on when it fails. */
  network?: string;
}

export interface ProbeFacts {
  /** What was sent, e.g. "tcp 172.18.0.2:41234 -> 172.18.0.3:80". */
  packet: string;
  /** For a source skiff does not own: the veth the probe entered the host by. */
  enteredBy?: string;
  outcome?: { outcome: 'answered' | 'refused' | 'timeout' | 'unreachable'; detail: string };
  /** nftables trace events of the probe, in order (the trace's own table left out). */
  events: TraceEvent[];
  /** For a source skiff does not own: the answer's events, seen on its way back (and kept from the real host). */
  replyEvents?: TraceEvent[];
  /** Why there is no outcome (the probe could not be sent). */
  error?: string;
}

export interface TraceFacts {
  request: TraceRequest;
  source: Party;
  destination: Party;
  target?: Target;
  /** Why there is no target (the destination has no address). */
  noTarget?: string;
  sharedNetworks: string[];
  name?: NameFacts;
  route?: RouteLookup;
  published?: PublishedFacts;
  /** The same port published on another host address only (the target matched none). */
  publishedElsewhere: PublishedFacts[];
  links: LinkCheck[];
  /** The probe stays on one bridge: which, whether ICC is off there, and whether bridged frames meet the firewall (bridge-nf-call-iptables). */
  bridged?: { network: string; bridge: string; icc: boolean; firewall: boolean };
  probe?: ProbeFacts;
}

export interface FirewallRule {
  table: string;
  chain: string;
  rule: string;
}

export interface Verdict {
  /** reachable: the probe was answered (or refused by the destination itself); unreachable: it was not; broken: the kernel lost part of what skiff set up. */
  result: 'reachable' | 'unreachable' | 'broken';
  /** One sentence: why. */
  reason: string;
  /** The rule that decided, when a rule did. */
  rule?: FirewallRule;
  /** One line to run or do, when there is one. */
  fix?: string;
  /** Name resolution's own verdict, when the destination was named. */
  name?: { ok: boolean; reason: string; fix?: string };
}

export interface TraceReport extends TraceFacts {
  verdict: Verdict;
}
