/**
 * A set's elements as `nft -j list set` shows them, in the element text skiff
 * renders (without the quotes nft puts around interface names), so "does the
 * kernel hold this element" is answered from the kernel's own listing.
 *
 * Not `nft get element`: nftables 1.0.6 (Debian 12) answers "No such file or
 * directory" for an element of an interval set whose neighbours touch it on
 * both sides — 172.18.0.0/16 between 172.17.0.0/16 and 172.19.0.0/16, the
 * default pools' order — although `nft list set` shows it and packets match
 * it. skiff's subnet sets are such sets, so diagnose reported outbound NAT
 * lost where it was not.
 */

type NftElement =
  string | number | { prefix: { addr: string; len: number } } | { range: [string, string] } | { concat: NftElement[] } | { elem: { val: NftElement } };

interface NftSetListing {
  nftables?: Array<{ set?: { elem?: NftElement[] } } | { map?: { elem?: Array<[NftElement, NftElement]> } }>;
}

function elementText(element: NftElement): string {
  if (typeof element === 'string' || typeof element === 'number') return String(element);
  if ('prefix' in element) return `${element.prefix.addr}/${element.prefix.len}`;
  if ('range' in element) return `${element.range[0]}-${element.range[1]}`;
  if ('concat' in element) return element.concat.map(elementText).join(' . ');
  return elementText(element.elem.val);
}

/** The elements of the one set (or the keys of the one map) in `nft -j list set|map` output. */
export function parseSetListing(json: string): string[] {
  const listing = JSON.parse(json) as NftSetListing;
  for (const entry of listing.nftables ?? []) {
    if ('set' in entry && entry.set !== undefined) return (entry.set.elem ?? []).map(elementText);
    if ('map' in entry && entry.map !== undefined) return (entry.map.elem ?? []).map(([key]) => elementText(key));
  }
  return [];
}

/**
 * Element text as skiff renders it, in the listing's form: interface names
 * unquoted, a single address for a full-length prefix (nft shows 10.0.0.5,
 * not 10.0.0.5/32).
 */
export function normalizedElement(element: string): string {
  return element
    .split(' . ')
    .map((part) =>
      part
        .replace(/^"(.*)"$/, '$1')
        .replace(/^([0-9.]+)\/32$/, '$1')
        .replace(/^([0-9a-fA-F:]+)\/128$/, '$1'),
    )
    .join(' . ');
}
