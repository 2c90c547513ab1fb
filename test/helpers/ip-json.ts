/**
 * What skiff made of `ip -json -details addr show` before it read the kernel
 * itself: the reference the netlink dumps' parser is compared with (unit
 * tests on captured bytes, kernel tests on a live world).
 */
import type { InterfaceState } from '../../src/kernel/links.js';
import { interfaceAddress } from '../../src/model/address.js';

export interface IpJsonAddr {
  ifname: string;
  address?: string;
  operstate: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_slave_kind?: string; info_slave_data?: { isolated?: boolean } };
  addr_info: Array<{ local: string; prefixlen: number }>;
}

/** One link of ip's JSON as an InterfaceState, fields ip left out absent (as deepEqual compares them). */
export function stateFromIpJson(link: IpJsonAddr): InterfaceState {
  const state: InterfaceState = {
    ifname: link.ifname,
    mac: link.address,
    operstate: link.operstate,
    up: link.flags?.includes('UP') === true,
    master: link.master,
    isolated: link.linkinfo?.info_slave_kind === 'bridge' ? link.linkinfo.info_slave_data?.isolated === true : undefined,
    addresses: link.addr_info.flatMap((address) => interfaceAddress(address.local, address.prefixlen) ?? []),
  };
  return JSON.parse(JSON.stringify(state)) as InterfaceState;
}
