/**
 * A sandbox's DNS redirect as skiff network diagnose reads it: the rules of
 * its skiff_dns table by netlink (no `nsenter … nft list` per container),
 * and the ports they send 127.0.0.11:53 to, read from the rules' expressions
 * as firewall/resolver-redirect.ts writes them (pure: redirectedPorts).
 */
import { RESOLVER_ADDRESS, REDIRECT_TABLE, type RedirectPorts } from '../firewall/index.js';
import { listRules, type Rule } from '../kernel/nftables/rules.js';

const PROTOCOLS = { udp: 17, tcp: 6 } as const;
const RESOLVER_HEX = Buffer.from(RESOLVER_ADDRESS.split('.').map(Number)).toString('hex');
const DNS_PORT_HEX = '0035';

/**
 * What a rule matches on (each loaded field with the value compared equal
 * to it: "network 16 4" → "7f00000b", "meta l4proto" → "11") and the port
 * it writes into a transport header's destination port, if any.
 */
function matchesOf(rule: Rule): { matches: Map<string, string>; destinationPortSet?: number } {
  const matches = new Map<string, string>();
  let loaded: string | undefined;
  let immediate: Buffer | undefined;
  let destinationPortSet: number | undefined;
  for (const expression of rule.expressions) {
    if (expression.kind === 'payload' && !expression.write) loaded = `${expression.base} ${expression.offset} ${expression.length}`;
    else if (expression.kind === 'meta') loaded = `meta ${expression.key}`;
    else if (expression.kind === 'cmp' && expression.op === 'eq' && loaded !== undefined) matches.set(loaded, expression.data.toString('hex'));
    else if (expression.kind === 'immediate') immediate = expression.data;
    else if (expression.kind === 'payload' && expression.base === 'transport' && expression.offset === 2 && expression.length === 2 && immediate?.length === 2)
      destinationPortSet = immediate.readUInt16BE(0);
  }
  return { matches, destinationPortSet };
}

/** The ports `ip daddr 127.0.0.11 PROTOCOL dport 53 … dport set PORT` sends to, for UDP and TCP; undefined unless both are there. */
export function redirectedPorts(rules: readonly Rule[]): RedirectPorts | undefined {
  const found: Partial<RedirectPorts> = {};
  for (const rule of rules) {
    const { matches, destinationPortSet } = matchesOf(rule);
    if (destinationPortSet === undefined || matches.get('network 16 4') !== RESOLVER_HEX || matches.get('transport 2 2') !== DNS_PORT_HEX) continue;
    for (const [protocol, number] of Object.entries(PROTOCOLS) as Array<[keyof RedirectPorts, number]>)
      if (matches.get('meta l4proto') === number.toString(16).padStart(2, '0')) found[protocol] ??= destinationPortSet;
  }
  return found.udp === undefined || found.tcp === undefined ? undefined : { udp: found.udp, tcp: found.tcp };
}

/** The redirect in the netns at netnsPath now; undefined when there is none. Throws when the namespace cannot be read. */
export async function readRedirectedPorts(netnsPath: string): Promise<RedirectPorts | undefined> {
  return redirectedPorts(await listRules('ip', REDIRECT_TABLE, netnsPath));
}
