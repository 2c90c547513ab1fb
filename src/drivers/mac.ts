/** Docker's MAC for an endpoint: 02:42 followed by the four bytes of its IPv4 address. */
export function macFromIpv4(address: string): string {
  const bytes = address.split('.').map((part) => Number(part).toString(16).padStart(2, '0'));
  return ['02', '42', ...bytes].join(':');
}

/** A locally administered unicast MAC for endpoints without IPv4. */
export function randomMac(randomBytes: Uint8Array): string {
  const bytes = Array.from(randomBytes.slice(0, 6));
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
