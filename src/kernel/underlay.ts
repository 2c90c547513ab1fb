/**
 * The underlay a daemon's VXLAN traffic rides on, found from dockerd's
 * --cluster-advertise (an address or an interface name, with an optional
 * :PORT that names dockerd's API and plays no part here).
 */
import { invalid } from '../errors.js';
import { run } from './exec.js';

export interface UnderlayInterface {
  address: string;
  device: string;
  mtu: number;
}

interface IpJsonAddr {
  ifname: string;
  mtu: number;
  addr_info: Array<{ family: string; local: string }>;
}

/** "10.9.0.11", "10.9.0.11:2376", "eth0", "eth0:2376" → the address or interface part. */
export function advertiseTarget(advertise: string): string {
  const target = advertise.replace(/:\d+$/, '');
  if (target === '') throw invalid(`invalid --cluster-advertise "${advertise}": give an IPv4 address or an interface name, optionally with :PORT`);
  return target;
}

/** The interface holding the address (or the named interface and its first IPv4 address), from `ip -json addr`. */
export function pickUnderlay(json: string, advertise: string): UnderlayInterface {
  const target = advertiseTarget(advertise);
  const links = JSON.parse(json) as IpJsonAddr[];
  for (const link of links) {
    const ipv4 = link.addr_info.filter((info) => info.family === 'inet').map((info) => info.local);
    if (link.ifname === target && ipv4[0] !== undefined) return { address: ipv4[0], device: link.ifname, mtu: link.mtu };
    if (ipv4.includes(target)) return { address: target, device: link.ifname, mtu: link.mtu };
  }
  throw invalid(`--cluster-advertise ${advertise}: no interface of this host holds that address or has that name with an IPv4 address`);
}

export async function findUnderlay(advertise: string): Promise<UnderlayInterface> {
  const { stdout } = await run('ip', ['-json', '-4', 'addr', 'show']);
  return pickUnderlay(stdout, advertise);
}
