/**
 * Published-port requests from Docker's HostConfig.PortBindings and -P (pure).
 * The docker CLI already expands container port ranges to one key per port;
 * a host port may still be a range ("8000-8010") to choose from, or empty
 * (an ephemeral port).
 */
import { invalid } from '../errors.js';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface PortRequest {
  protocol: PortProtocol;
  containerPort: number;
  /** '' = the network's default binding address. */
  hostIp: string;
  /** Inclusive range to pick from; [0, 0] = ephemeral. */
  hostPortRange: [number, number];
}

export interface WireBinding {
  HostIp?: string;
  HostPort?: string;
}

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

export function parseHostPortRange(text: string | undefined): [number, number] {
  if (text === undefined || text === '') return [0, 0];
  const [low, high] = text.split('-') as [string, string | undefined];
  const start = parsePort(low, 'hostPort');
  const end = high === undefined ? start : parsePort(high, 'hostPort');
  if (end < start) throw invalid(`invalid hostPort: ${text}`);
  return [start, end];
}

function validHostIp(ip: string): string {
  if (ip === '') return '';
  const parts = ip.split('.');
  const ipv4 = parts.length === 4 && parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) <= 255);
  if (!ipv4 && !/^[0-9a-fA-F:]+$/.test(ip)) throw invalid(`invalid IP address: ${ip}`);
  return ip;
}

/** The requests for one container: explicit bindings, plus every exposed port on an ephemeral port for -P. */
export function portRequests(bindings: Record<string, WireBinding[] | null>, publishAll: boolean, exposed: readonly string[]): PortRequest[] {
  const requests: PortRequest[] = [];
  for (const [key, list] of Object.entries(bindings)) {
    const { protocol, port } = parsePortKey(key);
    for (const binding of list ?? [{}]) {
      requests.push({ protocol, containerPort: port, hostIp: validHostIp(binding.HostIp ?? ''), hostPortRange: parseHostPortRange(binding.HostPort) });
    }
  }
  if (publishAll) {
    for (const key of exposed) {
      if (key in bindings) continue;
      const { protocol, port } = parsePortKey(key);
      requests.push({ protocol, containerPort: port, hostIp: '', hostPortRange: [0, 0] });
    }
  }
  return requests;
}
