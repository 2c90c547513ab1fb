/**
 * /etc/hosts, /etc/resolv.conf and /etc/hostname of a container, as Docker
 * writes them (pure renderers).
 */

export interface HostsInput {
  hostname: string;
  /** The container's own addresses (no prefix). */
  addresses: string[];
  /** --add-host host:ip entries. */
  extraHosts: string[];
  /** --link entries rendered as "ip\talias name". */
  links: Array<{ address: string; names: string[] }>;
}

export function renderHosts(input: HostsInput): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const entry of input.extraHosts) {
    const separator = entry.indexOf(':');
    if (separator > 0) lines.push(`${entry.slice(separator + 1)}\t${entry.slice(0, separator)}`);
  }
  for (const link of input.links) lines.push(`${link.address}\t${link.names.join(' ')}`);
  for (const address of input.addresses) lines.push(`${address}\t${input.hostname}`);
  return `${lines.join('\n')}\n`;
}

export interface ResolvInput {
  /** The container is on a user-defined network: Docker points it at the embedded DNS. */
  embeddedDns: boolean;
  /** --dns of the container, else the daemon's. */
  nameservers: string[];
  /** The host's resolv.conf, used when no nameserver is configured. */
  hostResolvConf: string;
  search: string[];
  options: string[];
}

const LOOPBACK_NAMESERVER = /^\s*nameserver\s+(127\.\S*|::1)\s*$/;

export function renderResolvConf(input: ResolvInput): string {
  const hostLines = input.hostResolvConf.split('\n');
  const hostNameservers = hostLines
    .filter((line) => /^\s*nameserver\s/.test(line) && !LOOPBACK_NAMESERVER.test(line))
    .map((line) => line.trim().split(/\s+/)[1]!);
  const hostSearch =
    hostLines
      .find((line) => /^\s*search\s/.test(line))
      ?.trim()
      .split(/\s+/)
      .slice(1) ?? [];
  const hostOptions =
    hostLines
      .find((line) => /^\s*options\s/.test(line))
      ?.trim()
      .split(/\s+/)
      .slice(1) ?? [];
  const search = input.search.length > 0 ? input.search : hostSearch;
  const lines: string[] = [];
  if (input.embeddedDns) {
    lines.push('nameserver 127.0.0.11');
    if (search.length > 0) lines.push(`search ${search.join(' ')}`);
    lines.push(`options ${['ndots:0', ...input.options.filter((option) => !option.startsWith('ndots:'))].join(' ')}`);
    return `${lines.join('\n')}\n`;
  }
  const nameservers = input.nameservers.length > 0 ? input.nameservers : hostNameservers;
  for (const server of nameservers) lines.push(`nameserver ${server}`);
  if (search.length > 0) lines.push(`search ${search.join(' ')}`);
  const options = input.options.length > 0 ? input.options : hostOptions;
  if (options.length > 0) lines.push(`options ${options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}
