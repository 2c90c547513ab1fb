import { createRequire } from 'node:module';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');
/**
 * Addresses as the model holds them: parsed once where they enter (the API,
 * the store's older rows), then passed around as values that know their
 * family, instead of strings split on '/' and tested for ':' everywhere.
 */

export type IpFamily = 4 | 6;

/** An address on an interface with its subnet's prefix length, e.g. 172.18.0.2/16. */
export interface InterfaceAddress {
  readonly family: IpFamily;
  /** The address alone, in canonical text: "172.18.0.2", "fd00::2". */
  readonly address: string;
  readonly prefix: number;
}

/** The family of an IP address, or undefined when the text is none (dotted quads only for IPv4, as Go's net.ParseIP). */
export function familyOf(address: string): IpFamily | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return 4;
  if (!address.includes('%') && ipaddr.IPv6.isValid(address)) return 6;
  return undefined;
}

/** The family of a CIDR such as "172.18.0.0/16" or "fd00::/64". */
export function familyOfCidr(cidr: string): IpFamily | undefined {
  const slash = cidr.indexOf('/');
  return familyOf(slash < 0 ? cidr : cidr.slice(0, slash));
}

export function isIpv4(address: string): boolean {
  return familyOf(address) === 4;
}

/** "172.18.0.2" and 16, or undefined when the address is no IP address or the prefix does not fit its family. */
export function interfaceAddress(address: string, prefix: number): InterfaceAddress | undefined {
  const family = familyOf(address);
  if (family === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  return { family, address: family === 6 ? ipaddr.IPv6.parse(address).toString() : address, prefix };
}

/** "172.18.0.2/16" as an InterfaceAddress; undefined for anything else. */
export function parseInterfaceAddress(text: string): InterfaceAddress | undefined {
  const [address, prefix, extra] = text.split('/');
  if (address === undefined || prefix === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefix)) return undefined;
  return interfaceAddress(address, Number(prefix));
}

/** "172.18.0.2/16": the form iproute2 takes. */
export function cidrOf(address: InterfaceAddress): string {
  return `${address.address}/${address.prefix}`;
}

/**
 * An IPAMConfig.LinkLocalIPs entry as the interface gets it: IPv4 in
 * 169.254.0.0/16 with prefix 16, IPv6 in fe80::/10 with prefix 64 (libnetwork's
 * link-local masks); undefined for anything else.
 */
export function linkLocalAddress(text: string): InterfaceAddress | undefined {
  const family = familyOf(text);
  if (family === undefined) return undefined;
  const parsed = ipaddr.parse(text);
  if (parsed.range() !== 'linkLocal') return undefined;
  return interfaceAddress(text, family === 4 ? 16 : 64);
}
