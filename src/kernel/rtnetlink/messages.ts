/**
 * rtnetlink requests as bytes: the messages `ip` would send for the few
 * commands on skiff's hot paths (a veth or macvlan endpoint joining, its
 * host end cut off and deleted, a sandbox's default routes), built here by
 * pure functions and compared byte for byte with what iproute2 sends
 * (test/fixtures/rtnetlink/). send.ts hands them to the kernel.
 *
 * Like `ip`, a request names links by index; the index is not known until
 * the request goes (a link made earlier in the same batch, a namespace
 * skiff does not watch), so each request lists the links it names and where
 * their index goes, and the sender looks them up just before sending it.
 * Every request asks for an acknowledgement; the sender numbers them.
 */
import { createRequire } from 'node:module';
import { cidrOf, type InterfaceAddress } from '../../model/address.js';
import { NetlinkWriter } from '../netlink/writer.js';
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
// By require, not import: as in model/address.ts (an ES import of a CommonJS package starts Node's export lexer).
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

/** Where the sender writes the index (a native-endian u32) of the link named. */
export interface LinkSlot {
  offset: number;
  name: string;
}

export interface RtnetlinkRequest {
  /** One netlink message, sequence number 0 (the sender's to set). */
  bytes: Uint8Array;
  links: LinkSlot[];
  /** What it does, in `ip`'s words, for error messages: "addr add 172.17.0.2/16 dev eth0". */
  operation: string;
}

/** A network namespace as a request names it: by an open descriptor of its file (IFLA_NET_NS_FD), and its path for messages. */
export interface NetnsRef {
  fd: number;
  path: string;
}

// linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/veth.h
const NLM_F_ACK = 0x4;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const RTM_DELLINK = 17;
const RTM_NEWROUTE = 24;
const IFLA_MTU = 4;
const IFLA_LINK = 5;
const IFLA_IFALIAS = 20;
const IFLA_AF_SPEC = 26;
const IFLA_NET_NS_FD = 28;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4;
const IFLA_BR_NF_CALL_IPTABLES = 36;
const IFLA_BR_NF_CALL_IP6TABLES = 37;
const IFLA_MACVLAN_MODE = 1;
const IFA_F_NODAD = 0x02;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;
const NLA_HDRLEN = 4;

const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODES;

export function isMacvlanMode(mode: string): mode is MacvlanMode {
  return Object.hasOwn(MACVLAN_MODES, mode);
}

/** Writes one rtnetlink request, asking for an acknowledgement; nested attributes go without NLA_F_NESTED (iproute2 sets none on these). */
class MessageWriter extends NetlinkWriter {
  readonly links: LinkSlot[] = [];

  constructor(type: number, flags: number) {
    super(type, NLM_F_REQUEST | NLM_F_ACK | flags);
  }

  /** struct ifinfomsg; linkName: the link it is about (its index is looked up), else index 0. */
  ifinfomsg(linkName?: string, flags = 0, change = 0): this {
    const at = this.reserve(IFINFOMSG_LEN);
    this.buffer.writeUInt8(AF_UNSPEC, at);
    if (linkName !== undefined) this.links.push({ offset: at + 4, name: linkName });
    this.buffer.writeUInt32LE(flags, at + 8);
    this.buffer.writeUInt32LE(change, at + 12);
    return this;
  }

  ifaddrmsg(family: number, prefix: number, flags: number, linkName: string): this {
    const at = this.reserve(8);
    this.buffer.writeUInt8(family, at);
    this.buffer.writeUInt8(prefix, at + 1);
    this.buffer.writeUInt8(flags, at + 2);
    this.buffer.writeUInt8(RT_SCOPE_UNIVERSE, at + 3);
    this.links.push({ offset: at + 4, name: linkName });
    return this;
  }

  /** struct rtmsg of a default route in the main table, as `ip route` makes it. */
  rtmsgDefault(family: number): this {
    const at = this.reserve(12);
    this.buffer.writeUInt8(family, at);
    this.buffer.writeUInt8(RT_TABLE_MAIN, at + 4);
    this.buffer.writeUInt8(RTPROT_BOOT, at + 5);
    this.buffer.writeUInt8(RT_SCOPE_UNIVERSE, at + 6);
    this.buffer.writeUInt8(RTN_UNICAST, at + 7);
    return this;
  }

  u8(type: number, value: number): this {
    return this.attribute(type, Uint8Array.of(value));
  }

  u32(type: number, value: number): this {
    const payload = Buffer.alloc(4);
    payload.writeUInt32LE(value);
    return this.attribute(type, payload);
  }

  /** A u32 attribute holding the index of a link, looked up by the sender. */
  linkIndex(type: number, linkName: string): this {
    const at = this.length;
    this.u32(type, 0);
    this.links.push({ offset: at + NLA_HDRLEN, name: linkName });
    return this;
  }

  /** A string without its NUL, as iproute2 sends IFLA_INFO_KIND and IFLA_IFALIAS. */
  text(type: number, value: string): this {
    return this.attribute(type, Buffer.from(value));
  }

  finish(operation: string): RtnetlinkRequest {
    return { bytes: this.bytes(), links: this.links, operation };
  }
}

function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || !parts.every((part) => /^[0-9a-fA-F]{2}$/.test(part))) throw new Error(`not a MAC address: "${mac}"`);
  return Uint8Array.from(parts.map((part) => parseInt(part, 16)));
}

function addressBytes(address: string): { family: number; bytes: Uint8Array } {
  const parsed = ipaddr.parse(address);
  return { family: parsed.kind() === 'ipv6' ? AF_INET6 : AF_INET, bytes: Uint8Array.from(parsed.toByteArray()) };
}

export interface VethSpec {
  name: string;
  mtu: number;
  /** The bridge it is a port of from the start. */
  master?: string;
  /** The other end, made directly in another namespace under its final name. */
  peer: { name: string; address: string; mtu: number; netns: NetnsRef };
}

/** `ip link add NAME mtu M master BR type veth peer name P address MAC mtu M netns PATH` */
export function linkAddVeth(spec: VethSpec): RtnetlinkRequest {
  const { peer } = spec;
  const writer = new MessageWriter(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL).ifinfomsg().u32(IFLA_MTU, spec.mtu);
  if (spec.master !== undefined) writer.linkIndex(IFLA_MASTER, spec.master);
  writer
    .string(IFLA_IFNAME, spec.name)
    .nested(IFLA_LINKINFO, (info) =>
      info
        .text(IFLA_INFO_KIND, 'veth')
        .nested(IFLA_INFO_DATA, (data) =>
          data.nested(VETH_INFO_PEER, (inner) =>
            inner
              .ifinfomsg()
              .attribute(IFLA_ADDRESS, macBytes(peer.address))
              .u32(IFLA_MTU, peer.mtu)
              .u32(IFLA_NET_NS_FD, peer.netns.fd)
              .string(IFLA_IFNAME, peer.name),
          ),
        ),
    );
  const master = spec.master === undefined ? '' : ` master ${spec.master}`;
  return writer.finish(
    `link add ${spec.name} mtu ${spec.mtu}${master} type veth peer name ${peer.name} address ${peer.address} mtu ${peer.mtu} netns ${peer.netns.path}`,
  );
}

export interface MacvlanSpec {
  name: string;
  parent: string;
  address: string;
  mode: MacvlanMode;
  /** Made directly in this namespace. */
  netns: NetnsRef;
}

/** `ip link add link PARENT name NAME address MAC netns PATH type macvlan mode MODE` */
export function linkAddMacvlan(spec: MacvlanSpec): RtnetlinkRequest {
  return new MessageWriter(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
    .ifinfomsg()
    .attribute(IFLA_ADDRESS, macBytes(spec.address))
    .u32(IFLA_NET_NS_FD, spec.netns.fd)
    .linkIndex(IFLA_LINK, spec.parent)
    .string(IFLA_IFNAME, spec.name)
    .nested(IFLA_LINKINFO, (info) =>
      info.text(IFLA_INFO_KIND, 'macvlan').nested(IFLA_INFO_DATA, (data) => data.u32(IFLA_MACVLAN_MODE, MACVLAN_MODES[spec.mode])),
    )
    .finish(`link add link ${spec.parent} name ${spec.name} address ${spec.address} netns ${spec.netns.path} type macvlan mode ${spec.mode}`);
}

export interface LinkChange {
  /** A new name. */
  name?: string;
  /** true: `up`; false: `down`. */
  up?: boolean;
  /** Off its bridge (`nomaster`). */
  nomaster?: boolean;
  alias?: string;
  /** As a bridge port: hairpin mode (`type bridge_slave hairpin on|off`). */
  hairpin?: boolean;
  /** As a bridge port: isolated from the bridge's other isolated ports (`type bridge_slave isolated on|off`). */
  isolated?: boolean;
  /** No IPv6 address of the kernel's making, link-local included (`addrgenmode none`). */
  noIpv6AddressGeneration?: true;
}

/** `ip link set dev NAME [name N] [up|down] [nomaster] [alias A] [addrgenmode none] [type bridge_slave [hairpin on|off] [isolated on|off]]` */
export function linkSet(name: string, change: LinkChange): RtnetlinkRequest {
  const words: string[] = [];
  const writer = new MessageWriter(RTM_NEWLINK, 0).ifinfomsg(name, change.up === true ? IFF_UP : 0, change.up === undefined ? 0 : IFF_UP);
  if (change.name !== undefined) {
    writer.string(IFLA_IFNAME, change.name);
    words.push(`name ${change.name}`);
  }
  if (change.up !== undefined) words.push(change.up ? 'up' : 'down');
  if (change.nomaster === true) {
    writer.u32(IFLA_MASTER, 0);
    words.push('nomaster');
  }
  if (change.alias !== undefined) {
    writer.text(IFLA_IFALIAS, change.alias);
    words.push(`alias ${change.alias}`);
  }
  if (change.noIpv6AddressGeneration === true) {
    writer.nested(IFLA_AF_SPEC, (spec) => spec.nested(AF_INET6, (inet6) => inet6.u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE)));
    words.push('addrgenmode none');
  }
  const { hairpin, isolated } = change;
  if (hairpin !== undefined || isolated !== undefined) {
    const onOff = (value: boolean) => (value ? 'on' : 'off');
    writer.nested(IFLA_LINKINFO, (info) =>
      info.text(IFLA_INFO_KIND, 'bridge_slave').nested(IFLA_INFO_SLAVE_DATA, (data) => {
        if (hairpin !== undefined) data.u8(IFLA_BRPORT_MODE, hairpin ? 1 : 0);
        if (isolated !== undefined) data.u8(IFLA_BRPORT_ISOLATED, isolated ? 1 : 0);
      }),
    );
    words.push(
      ['type bridge_slave', hairpin === undefined ? '' : ` hairpin ${onOff(hairpin)}`, isolated === undefined ? '' : ` isolated ${onOff(isolated)}`].join(''),
    );
  }
  return writer.finish(['link set dev', name, ...words].join(' '));
}

/** A bridge's own br_netfilter switches (the kernel ORs each with the namespace's net.bridge.bridge-nf-call-ip(6)tables). */
export interface BridgeNetfilterChange {
  nfCallIptables?: boolean;
  nfCallIp6tables?: boolean;
}

/** `ip link set dev NAME type bridge [nf_call_iptables 0|1] [nf_call_ip6tables 0|1]` */
export function linkSetBridge(name: string, change: BridgeNetfilterChange): RtnetlinkRequest {
  const { nfCallIptables, nfCallIp6tables } = change;
  const writer = new MessageWriter(RTM_NEWLINK, 0).ifinfomsg(name);
  writer.nested(IFLA_LINKINFO, (info) =>
    info.text(IFLA_INFO_KIND, 'bridge').nested(IFLA_INFO_DATA, (data) => {
      if (nfCallIptables !== undefined) data.u8(IFLA_BR_NF_CALL_IPTABLES, nfCallIptables ? 1 : 0);
      if (nfCallIp6tables !== undefined) data.u8(IFLA_BR_NF_CALL_IP6TABLES, nfCallIp6tables ? 1 : 0);
    }),
  );
  const words = [
    nfCallIptables === undefined ? '' : ` nf_call_iptables ${nfCallIptables ? 1 : 0}`,
    nfCallIp6tables === undefined ? '' : ` nf_call_ip6tables ${nfCallIp6tables ? 1 : 0}`,
  ];
  return writer.finish(`link set dev ${name} type bridge${words.join('')}`);
}

/** `ip link delete dev NAME` */
export function linkDelete(name: string): RtnetlinkRequest {
  return new MessageWriter(RTM_DELLINK, 0).ifinfomsg(name).finish(`link delete dev ${name}`);
}

/** `ip addr add ADDRESS/PREFIX dev NAME [nodad]`: nodad (IPv6 only) skips duplicate address detection, so the address serves at once. */
export function addrAdd(name: string, address: InterfaceAddress, options: { nodad?: boolean } = {}): RtnetlinkRequest {
  const { family, bytes } = addressBytes(address.address);
  const nodad = options.nodad === true && family === AF_INET6;
  return new MessageWriter(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)
    .ifaddrmsg(family, address.prefix, nodad ? IFA_F_NODAD : 0, name)
    .attribute(IFA_LOCAL, bytes)
    .attribute(IFA_ADDRESS, bytes)
    .finish(`addr add ${cidrOf(address)} dev ${name}${nodad ? ' nodad' : ''}`);
}

/** `ip route replace default via GATEWAY dev NAME` (the family is the gateway's). */
export function routeReplaceDefault(name: string, gateway: string): RtnetlinkRequest {
  const { family, bytes } = addressBytes(gateway);
  return new MessageWriter(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)
    .rtmsgDefault(family)
    .attribute(RTA_GATEWAY, bytes)
    .linkIndex(RTA_OIF, name)
    .finish(`route replace default via ${gateway} dev ${name}`);
}
