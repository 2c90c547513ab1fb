/** Docker's HostConfig.PortBindings ({"80/tcp": [{HostIp, HostPort}]}) to and from port requests. */
import { invalid } from '../../errors.js';
import type { PortRequest } from '../../model/network.js';
import { portKeyRequests } from '../../ports/index.js';

export interface WireBinding {
  HostIp?: string;
  HostPort?: string;
}

export type WirePortBindings = Record<string, WireBinding[] | null>;

function text(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(`json: cannot unmarshal ${typeof value} into Go struct field PortBinding.${field} of type string`);
  return value;
}

export function portRequestsFromWire(bindings: unknown): PortRequest[] {
  if (bindings === undefined || bindings === null) return [];
  if (typeof bindings !== 'object' || Array.isArray(bindings))
    throw invalid('json: cannot unmarshal HostConfig.PortBindings: an object of port keys is expected');
  return Object.entries(bindings as Record<string, unknown>).flatMap(([key, list]) => {
    if (list !== null && !Array.isArray(list)) throw invalid(`json: cannot unmarshal HostConfig.PortBindings["${key}"]: a list of bindings is expected`);
    const parsed =
      list === null
        ? null
        : (list as Array<Record<string, unknown>>).map((binding) => ({
            hostIp: text(binding?.['HostIp'], 'HostIp'),
            hostPort: text(binding?.['HostPort'], 'HostPort'),
          }));
    return portKeyRequests(key, parsed);
  });
}

function hostPortText([low, high]: [number, number]): string {
  if (low === 0) return '';
  return low === high ? String(low) : `${low}-${high}`;
}

export function portBindingsToWire(requests: readonly PortRequest[]): WirePortBindings {
  const wire: WirePortBindings = {};
  for (const request of requests) {
    const key = `${request.containerPort}/${request.protocol}`;
    (wire[key] ??= []).push({ HostIp: request.hostIp, HostPort: hostPortText(request.hostPortRange) });
  }
  return wire;
}

/** {"80/tcp": {}} ↔ ["80/tcp"]; a key without protocol is tcp. */
export function exposedPortsFromWire(exposed: Record<string, unknown> | undefined): string[] {
  return Object.keys(exposed ?? {}).map((key) => (key.includes('/') ? key : `${key}/tcp`));
}

export function exposedPortsToWire(exposed: readonly string[]): Record<string, object> {
  return Object.fromEntries(exposed.map((key) => [key, {}]));
}
