/** Records and queries for the embedded DNS tests: an endpoint on a network (by default "front") and an A query. */
import dnsPacket from 'dns-packet';
import type { DnsEndpoint } from '../../src/dns/records.js';

/** endpointId is ep-NAME on the default network, ep-NAME-NETWORK on another: one name may be on several. */
export function dnsEndpoint(name: string, ipv4: string, options: { networkId?: string } & Partial<DnsEndpoint> = {}): DnsEndpoint {
  const { networkId = 'front', ...extra } = options;
  return {
    endpointId: networkId === 'front' ? `ep-${name}` : `ep-${name}-${networkId}`,
    networkId,
    networkName: networkId,
    containerId: Buffer.from(name).toString('hex').padEnd(64, '0'),
    containerName: name,
    aliases: [],
    ipv4,
    ...extra,
  };
}

export function aQuery(id: number, name: string): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
}
