/**
 * Published-port requests (pure): Docker's "80/tcp" port keys and host port
 * ranges, and the requests of -P added to a container's own -p.
 */
import { invalid } from '../errors.js';
import { familyOf } from '../model/address.js';
import type { PortProtocol, PortRequest } from '../model/network.js';

function parsePort(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw invalid(`invalid ${what}: ${text}`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw invalid(`invalid ${what}: ${text}`);
  return port;
}

/** "80/tcp" → protocol and port. */
export function parsePortKey(key: string): { protocol: PortProtocol; port: number } {
  const [portText, protocolText = 'tcp'] = key.split('/') as [string, string | undefined];
  const protocol = protocolText.toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw invalid(`invalid proto: ${protocolText}`);
  return { protocol, port: parsePort(portText, 'containerPort') };
}

/** "8080" or "8000-8010" → the inclusive range; '' → [0, 0], an ephemeral port. */
export function parseHostPortRange(text: string | undefined): [number, number] {
  if (text === undefined || text === '') return [0, 0];
  const [low, high] = text.split('-') as [string, string | undefined];
  const start = parsePort(low, 'hostPort');
  const end = high === undefined ? start : parsePort(high, 'hostPort');
  if (end < start) throw invalid(`invalid hostPort: ${text}`);
  return [start, end];
}

/** A host address of a -p ('' = the network's default); anything that is no IP address is refused. */
export function parseHostIp(ip: string): string {
  if (ip !== '' && familyOf(ip) === undefined) throw invalid(`invalid IP address: ${ip}`);
  return ip;
}

/** One request per -p binding of a port key ("80/tcp": [{HostIp, HostPort}]); no binding list means one default binding. */
export function portKeyRequests(key: string, bindings: ReadonlyArray<{ hostIp: string; hostPort: string }> | null): PortRequest[] {
  const { protocol, port } = parsePortKey(key);
  return (bindings ?? [{ hostIp: '', hostPort: '' }]).map((binding) => ({
    protocol,
    containerPort: port,
    hostIp: parseHostIp(binding.hostIp),
    hostPortRange: parseHostPortRange(binding.hostPort),
  }));
}

/** The requests for one container: its own -p, plus (-P) every exposed port it does not publish itself, on an ephemeral port. */
export function publishedRequests(explicit: readonly PortRequest[], publishAll: boolean, exposed: readonly string[]): PortRequest[] {
  const requests = [...explicit];
  if (!publishAll) return requests;
  for (const key of new Set(exposed)) {
    const { protocol, port } = parsePortKey(key);
    if (explicit.some((request) => request.protocol === protocol && request.containerPort === port)) continue;
    requests.push({ protocol, containerPort: port, hostIp: '', hostPortRange: [0, 0] });
  }
  return requests;
}
