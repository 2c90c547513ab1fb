/**
 * docker's CLI pairs --gateway, --ip-range and --aux-address with the
 * --subnet that contains them before sending IPAM.Config; so does skiff's.
 */
import { cidrContains, parseAddress, parseCidr } from '../ipam/index.js';

export interface IpamFlags {
  subnets: string[];
  gateways: string[];
  ipRanges: string[];
  auxAddresses: string[];
}

export interface WireIpamConfig {
  Subnet: string;
  IPRange?: string;
  Gateway?: string;
  AuxiliaryAddresses?: Record<string, string>;
}

function subnetContainingAddress(subnets: string[], address: string): number {
  const value = parseAddress(address);
  return subnets.findIndex((subnet) => {
    const cidr = parseCidr(subnet);
    return cidr.family === value.family && cidrContains(cidr, value.value);
  });
}

function subnetContainingRange(subnets: string[], range: string): number {
  const cidr = parseCidr(range);
  return subnets.findIndex((subnet) => {
    const candidate = parseCidr(subnet);
    return candidate.family === cidr.family && candidate.prefix <= cidr.prefix && cidrContains(candidate, cidr.network);
  });
}

export function ipamConfigFromFlags(flags: IpamFlags): WireIpamConfig[] {
  if (flags.subnets.length === 0 && (flags.gateways.length > 0 || flags.ipRanges.length > 0 || flags.auxAddresses.length > 0)) {
    throw new Error('every ip-range or gateway must have a corresponding subnet');
  }
  const configs: WireIpamConfig[] = flags.subnets.map((subnet) => ({ Subnet: subnet }));
  for (const range of flags.ipRanges) {
    const index = subnetContainingRange(flags.subnets, range);
    if (index < 0) throw new Error(`no matching subnet for range ${range}`);
    if (configs[index]!.IPRange !== undefined)
      throw new Error(`cannot configure multiple ranges (${range}, ${configs[index]!.IPRange}) on the same subnet (${flags.subnets[index]})`);
    configs[index]!.IPRange = range;
  }
  for (const gateway of flags.gateways) {
    const index = subnetContainingAddress(flags.subnets, gateway);
    if (index < 0) throw new Error(`no matching subnet for gateway ${gateway}`);
    if (configs[index]!.Gateway !== undefined)
      throw new Error(`cannot configure multiple gateways (${gateway}, ${configs[index]!.Gateway}) for the same subnet (${flags.subnets[index]})`);
    configs[index]!.Gateway = gateway;
  }
  for (const aux of flags.auxAddresses) {
    const [name, address] = aux.split('=', 2);
    if (name === undefined || address === undefined || name === '') throw new Error(`invalid aux-address "${aux}": expected name=address`);
    const index = subnetContainingAddress(flags.subnets, address);
    if (index < 0) throw new Error(`no matching subnet for aux-address ${address}`);
    configs[index]!.AuxiliaryAddresses = { ...configs[index]!.AuxiliaryAddresses, [name]: address };
  }
  return configs;
}

/** key=value flags (-o, --label) into a map; a bare key gets ''. */
export function keyValueMap(entries: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const entry of entries) {
    const separator = entry.indexOf('=');
    if (separator < 0) map[entry] = '';
    else map[entry.slice(0, separator)] = entry.slice(separator + 1);
  }
  return map;
}
