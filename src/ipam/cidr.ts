import { createRequire } from 'node:module';
/**
 * Addresses and CIDRs as bigints, so IPv4 and IPv6 share every computation.
 * Parsing follows Go's net.ParseIP / net.ParseCIDR (what Docker uses): dotted
 * quads only, no zone ids, host bits allowed in a CIDR and masked off.
 */
import { invalid } from '../errors.js';

import type { IpFamily } from '../model/address.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');

export type { IpFamily };

export interface Cidr {
  family: IpFamily;
  /** The network address: the given address with its host bits cleared. */
  network: bigint;
  prefix: number;
  /** Number of addresses, network and broadcast included. */
  size: bigint;
  /** Canonical form, as Go's IPNet.String() prints it: "10.1.0.0/16", "fd00::/64". */
  text: string;
}

export interface Address {
  family: IpFamily;
  value: bigint;
}

const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);

/** The address, or undefined when Go's net.ParseIP would return nil. */
function tryParseAddress(text: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    return { family: 4, value: bytesToBigint(ipaddr.IPv4.parse(text).toByteArray()) };
  }
  // ipaddr.js also accepts zone ids ("fe80::1%eth0"); Go does not.
  if (!text.includes('%') && ipaddr.IPv6.isValid(text)) {
    return { family: 6, value: bytesToBigint(ipaddr.IPv6.parse(text).toByteArray()) };
  }
  return undefined;
}

function bytesToBigint(bytes: number[]): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

export function parseAddress(text: string): Address {
  const address = tryParseAddress(text);
  if (address === undefined) throw invalid(`invalid IP address: ${text}`);
  return address;
}

/** The address, or undefined for text that is not an IP address. */
export function parseAddressOrUndefined(text: string): Address | undefined {
  return tryParseAddress(text);
}

export function formatAddress(family: IpFamily, value: bigint): string {
  const byteCount = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let index = byteCount - 1; index >= 0; index--) bytes.push(Number((value >> BigInt(index * 8)) & 0xffn));
  const address = ipaddr.fromByteArray(bytes);
  return address instanceof ipaddr.IPv6 ? address.toRFC5952String() : address.toString();
}

/** Parses "ADDRESS/PREFIX"; throws Go's "invalid CIDR address: TEXT" otherwise. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? undefined : tryParseAddress(text.slice(0, slash));
  const prefixText = slash < 0 ? '' : text.slice(slash + 1);
  if (address === undefined || !/^[0-9]{1,3}$/.test(prefixText)) throw invalid(`invalid CIDR address: ${text}`);
  const prefix = Number(prefixText);
  const bits = bitsOf(address.family);
  if (prefix > bits) throw invalid(`invalid CIDR address: ${text}`);
  const hostBits = BigInt(bits - prefix);
  const size = 1n << hostBits;
  const network = (address.value >> hostBits) << hostBits;
  return { family: address.family, network, prefix, size, text: `${formatAddress(address.family, network)}/${prefix}` };
}

/** Whether the address (of the CIDR's family) lies inside the CIDR. */
export function cidrContains(cidr: Cidr, address: bigint): boolean {
  return address >= cidr.network && address < cidr.network + cidr.size;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && (cidrContains(a, b.network) || cidrContains(b, a.network));
}

/** Whether inner lies entirely inside outer. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

/** The IPv4 broadcast address, the last of the CIDR. */
export function lastAddress(cidr: Cidr): bigint {
  return cidr.network + cidr.size - 1n;
}
