/**
 * Links and addresses read by rtnetlink, in place of `ip -json -details addr
 * show`: the requests (a dump of every link or address in a namespace, or
 * one link by name or index) and pure parsers of the kernel's answers into
 * InterfaceState, field for field what `ip -json` showed (unit-tested on
 * bytes the kernel sent `ip`, test/fixtures/rtnetlink/ip-addr-show.json).
 */
import { interfaceAddress, type InterfaceAddress } from '../../model/address.js';
import { NetlinkWriter } from '../netlink/writer.js';
import { attributesOf, messagesOf, stringOf } from '../netlink/reader.js';
import type { InterfaceState } from '../links.js';
import {
  NLM_F_REQUEST,
  RTM_NEWLINK,
  RTM_NEWADDR,
  AF_UNSPEC,
  AF_INET,
  AF_INET6,
  IFF_UP,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_MASTER,
  IFLA_LINKINFO,
  IFLA_INFO_SLAVE_DATA,
  IFLA_BRPORT_ISOLATED,
  IFA_ADDRESS,
  IFA_LOCAL,
  IFINFOMSG_LEN,
} from './attributes.js';

// linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/if.h
const NLM_F_DUMP = 0x300;
const RTM_GETLINK = 18;
const RTM_GETADDR = 22;
const IFLA_OPERSTATE = 16;
const IFLA_EXT_MASK = 29;
const IFLA_INFO_SLAVE_KIND = 4;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFADDRMSG_LEN = 8;

/** IF_OPER_* as iproute2 names them. */
const OPERSTATES = ['UNKNOWN', 'NOTPRESENT', 'DOWN', 'LOWERLAYERDOWN', 'TESTING', 'DORMANT', 'UP'];

/** A request that asks for an answer (or a dump) and no acknowledgement. */
class GetWriter extends NetlinkWriter {
  ifinfomsg(index = 0): this {
    const at = this.reserve(IFINFOMSG_LEN);
    this.buffer.writeUInt8(AF_UNSPEC, at);
    this.buffer.writeInt32LE(index, at + 4);
    return this;
  }

  ifaddrmsg(): this {
    this.reserve(IFADDRMSG_LEN); // every family, every link
    return this;
  }

  u32(type: number, value: number): this {
    const payload = Buffer.alloc(4);
    payload.writeUInt32LE(value);
    return this.attribute(type, payload);
  }

  finish(): Uint8Array {
    return this.bytes();
  }
}

/** Every link of the namespace, without their counters (which nothing here reads). */
export function linkDump(): Uint8Array {
  return new GetWriter(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP).ifinfomsg().u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).finish();
}

/** The link named name (ENODEV when there is none). */
export function linkGetByName(name: string): Uint8Array {
  return new GetWriter(RTM_GETLINK, NLM_F_REQUEST).ifinfomsg().u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).string(IFLA_IFNAME, name).finish();
}

/** The link of that index (ENODEV when there is none). */
export function linkGetByIndex(index: number): Uint8Array {
  return new GetWriter(RTM_GETLINK, NLM_F_REQUEST).ifinfomsg(index).u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).finish();
}

/** Every address of the namespace, IPv4 and IPv6. */
export function addressDump(): Uint8Array {
  return new GetWriter(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP).ifaddrmsg().finish();
}

/** A link as an RTM_NEWLINK message describes it; its master by index. */
export interface LinkRecord {
  index: number;
  ifname: string;
  mac?: string;
  operstate: string;
  up: boolean;
  masterIndex?: number;
  /** As a bridge port: IFLA_BRPORT_ISOLATED; undefined for a link that is no bridge's port. */
  isolated?: boolean;
}

/** A link-layer address as iproute2 prints it: "02:42:ac:11:00:02". */
const macText = (bytes: Buffer) => [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':');

/** As `ip -details` reads a bridge port's isolation: IFLA_INFO_SLAVE_KIND "bridge", then IFLA_BRPORT_ISOLATED in its data. */
function isolationOf(linkinfo: Buffer | undefined): boolean | undefined {
  if (linkinfo === undefined) return undefined;
  const info = attributesOf(linkinfo);
  const slaveKind = info.get(IFLA_INFO_SLAVE_KIND);
  if (slaveKind === undefined || stringOf(slaveKind) !== 'bridge') return undefined;
  const isolated = attributesOf(info.get(IFLA_INFO_SLAVE_DATA) ?? Buffer.alloc(0)).get(IFLA_BRPORT_ISOLATED);
  return isolated !== undefined && isolated.length >= 1 && isolated.readUInt8(0) !== 0;
}

/** The links in the RTM_NEWLINK messages of bytes (other messages are passed over). */
export function parseLinkMessages(bytes: Uint8Array): LinkRecord[] {
  return messagesOf(bytes).flatMap(({ type, payload }) => {
    if (type !== RTM_NEWLINK || payload.length < IFINFOMSG_LEN) return [];
    const attributes = attributesOf(payload, IFINFOMSG_LEN);
    const name = attributes.get(IFLA_IFNAME);
    if (name === undefined) return [];
    const mac = attributes.get(IFLA_ADDRESS);
    const operstate = attributes.get(IFLA_OPERSTATE);
    const master = attributes.get(IFLA_MASTER);
    const masterIndex = master === undefined ? 0 : master.readUInt32LE(0);
    const record: LinkRecord = {
      index: payload.readInt32LE(4),
      ifname: stringOf(name),
      operstate: operstate === undefined ? 'UNKNOWN' : (OPERSTATES[operstate.readUInt8(0)] ?? 'UNKNOWN'),
      up: (payload.readUInt32LE(8) & IFF_UP) !== 0,
    };
    if (mac !== undefined) record.mac = macText(mac);
    if (masterIndex !== 0) record.masterIndex = masterIndex;
    const isolated = isolationOf(attributes.get(IFLA_LINKINFO));
    if (isolated !== undefined) record.isolated = isolated;
    return [record];
  });
}

/** An address and the index of the link that holds it. */
export interface AddressRecord {
  index: number;
  address: InterfaceAddress;
}

/** The addresses in the RTM_NEWADDR messages of bytes, in the kernel's order; the local address where there is one (IPv4's peer is IFA_ADDRESS). */
export function parseAddressMessages(bytes: Uint8Array): AddressRecord[] {
  return messagesOf(bytes).flatMap(({ type, payload }) => {
    if (type !== RTM_NEWADDR || payload.length < IFADDRMSG_LEN) return [];
    const family = payload.readUInt8(0);
    if (family !== AF_INET && family !== AF_INET6) return [];
    const attributes = attributesOf(payload, IFADDRMSG_LEN);
    const raw = attributes.get(IFA_LOCAL) ?? attributes.get(IFA_ADDRESS);
    if (raw === undefined) return [];
    const text = family === AF_INET ? [...raw.subarray(0, 4)].join('.') : ipv6Text(raw);
    const address = interfaceAddress(text, payload.readUInt8(1));
    return address === undefined ? [] : [{ index: payload.readUInt32LE(4), address }];
  });
}

/** 16 bytes as uncompressed IPv6 text (interfaceAddress puts it in canonical form). */
const ipv6Text = (raw: Buffer) => Array.from({ length: 8 }, (_, group) => raw.readUInt16BE(group * 2).toString(16)).join(':');

/**
 * The links as InterfaceState, each with its addresses and its master's
 * name; masters lists the links a master may be looked up in (a dump's own
 * links, or those read beside a single link).
 */
export function interfaceStates(links: readonly LinkRecord[], addresses: readonly AddressRecord[], masters: readonly LinkRecord[] = links): InterfaceState[] {
  const nameByIndex = new Map(masters.map((link) => [link.index, link.ifname]));
  const addressesByIndex = new Map<number, InterfaceAddress[]>();
  for (const { index, address } of addresses) addressesByIndex.set(index, [...(addressesByIndex.get(index) ?? []), address]);
  return links.map((link) => {
    const state: InterfaceState = { ifname: link.ifname, operstate: link.operstate, up: link.up, addresses: addressesByIndex.get(link.index) ?? [] };
    if (link.mac !== undefined) state.mac = link.mac;
    if (link.masterIndex !== undefined) state.master = nameByIndex.get(link.masterIndex);
    if (link.isolated !== undefined) state.isolated = link.isolated;
    return state;
  });
}
