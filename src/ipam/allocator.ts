/**
 * Per-pool address bookkeeping, as libnetwork's bitmap allocator does it:
 * the network address, the IPv4 broadcast, the gateway and the aux addresses
 * are reserved; dynamic addresses come from the ip-range (or the subnet) in
 * order, starting after the last one handed out and wrapping ("serial"
 * allocation), so a freed address is not reused at once.
 *
 * The bitmap is sparse: 32-address words kept in a Map, absent words are free.
 * A search skips whole full words and stops at the first absent one, so it
 * costs O(1) while addresses are handed out in order, even in a /8 or an
 * IPv6 /64, and never walks a list of used addresses.
 */
import { SkiffError, forbidden, invalid } from '../errors.js';
import type { InterfaceAddress } from '../model/address.js';
import type { IpamPool } from '../model/network.js';
import { cidrContains, formatAddress, lastAddress, parseAddressOrUndefined, parseCidr, type Cidr, type IpFamily } from './cidr.js';

/** libnetwork ipamapi errors, Docker 20.10 wording. */
export const IPAM_ERRORS = {
  noAvailableIps: 'No available addresses on this pool',
  alreadyAllocated: 'Address already in use',
  outOfRange: 'Requested address is out of range',
} as const;

const noAvailableIps = () => new SkiffError('unavailable', IPAM_ERRORS.noAvailableIps);
const alreadyAllocated = () => forbidden(IPAM_ERRORS.alreadyAllocated);
const outOfRange = () => invalid(IPAM_ERRORS.outOfRange);

const WORD_BITS = 32n;
const FULL_WORD = 0xffffffff;

export class AddressAllocator {
  readonly pool: IpamPool;
  readonly subnet: Cidr;
  readonly family: IpFamily;
  /** Offsets from the network address, inclusive, dynamic allocations stay within. */
  private readonly rangeFirst: bigint;
  private readonly rangeLast: bigint;
  private readonly reservedOffsets = new Set<bigint>();
  private readonly usedWords = new Map<bigint, number>();
  private usedInSubnet = 0n;
  private usedInRange = 0n;
  /** Where the next search starts: just after the last dynamic allocation. */
  private cursor: bigint;

  constructor(pool: IpamPool) {
    this.pool = pool;
    this.subnet = parseCidr(pool.subnet);
    this.family = this.subnet.family;
    const range = pool.ipRange === undefined ? this.subnet : parseCidr(pool.ipRange);
    this.rangeFirst = range.network - this.subnet.network;
    this.rangeLast = lastAddress(range) - this.subnet.network;
    this.cursor = this.rangeFirst;

    this.reserve(0n);
    if (this.family === 4) this.reserve(this.subnet.size - 1n);
    for (const address of [pool.gateway, ...Object.values(pool.auxAddresses)]) {
      const offset = this.offsetOf(address);
      if (offset !== undefined) this.reserve(offset);
    }
  }

  /** The next free address of the ip-range (or subnet), without prefix. */
  allocate(): string {
    if (this.usedInSubnet === this.subnet.size || this.usedInRange === this.rangeLast - this.rangeFirst + 1n) {
      throw noAvailableIps();
    }
    const start = this.cursor >= this.rangeFirst && this.cursor <= this.rangeLast ? this.cursor : this.rangeFirst;
    // The counts above promise a free offset in the range, so one of the searches finds it.
    const offset = this.firstFree(start, this.rangeLast) ?? this.firstFree(this.rangeFirst, start - 1n);
    if (offset === undefined) throw noAvailableIps();
    this.mark(offset);
    this.cursor = offset + 1n;
    return formatAddress(this.family, this.subnet.network + offset);
  }

  /** Takes a static address (docker run --ip): anywhere in the subnet, not only the ip-range. */
  claim(address: string): void {
    const offset = this.offsetOf(address);
    if (offset === undefined) throw outOfRange();
    if (this.usedInSubnet === this.subnet.size) throw noAvailableIps();
    if (this.isSet(offset)) throw alreadyAllocated();
    this.mark(offset);
  }

  /** Marks an address recorded in the store as used; reserved or already marked is fine. */
  restore(address: string): void {
    const offset = this.offsetOf(address);
    if (offset === undefined) throw outOfRange();
    if (!this.isSet(offset)) this.mark(offset);
  }

  /** Gives an address back; reserved addresses stay reserved, releasing twice is harmless. */
  release(address: string): void {
    const offset = this.offsetOf(address);
    if (offset === undefined) throw outOfRange();
    if (this.reservedOffsets.has(offset) || !this.isSet(offset)) return;
    this.unmark(offset);
  }

  /** Whether the address is handed out or reserved. */
  isAllocated(address: string): boolean {
    const offset = this.offsetOf(address);
    return offset !== undefined && this.isSet(offset);
  }

  contains(address: string): boolean {
    return this.offsetOf(address) !== undefined;
  }

  private offsetOf(address: string): bigint | undefined {
    const parsed = parseAddressOrUndefined(address);
    if (parsed === undefined || parsed.family !== this.family || !cidrContains(this.subnet, parsed.value)) return undefined;
    return parsed.value - this.subnet.network;
  }

  private reserve(offset: bigint): void {
    this.reservedOffsets.add(offset);
    if (!this.isSet(offset)) this.mark(offset);
  }

  private isSet(offset: bigint): boolean {
    const word = this.usedWords.get(offset / WORD_BITS) ?? 0;
    return ((word >>> Number(offset % WORD_BITS)) & 1) === 1;
  }

  private mark(offset: bigint): void {
    const index = offset / WORD_BITS;
    const word = (this.usedWords.get(index) ?? 0) | (1 << Number(offset % WORD_BITS));
    this.usedWords.set(index, word >>> 0);
    this.count(offset, 1n);
  }

  private unmark(offset: bigint): void {
    const index = offset / WORD_BITS;
    const word = ((this.usedWords.get(index) ?? 0) & ~(1 << Number(offset % WORD_BITS))) >>> 0;
    if (word === 0) this.usedWords.delete(index);
    else this.usedWords.set(index, word);
    this.count(offset, -1n);
  }

  private count(offset: bigint, delta: bigint): void {
    this.usedInSubnet += delta;
    if (offset >= this.rangeFirst && offset <= this.rangeLast) this.usedInRange += delta;
  }

  private firstFree(from: bigint, to: bigint): bigint | undefined {
    let offset = from;
    while (offset <= to) {
      const word = this.usedWords.get(offset / WORD_BITS);
      if (word === undefined) return offset;
      if (word === FULL_WORD) {
        offset = (offset / WORD_BITS + 1n) * WORD_BITS;
        continue;
      }
      if (((word >>> Number(offset % WORD_BITS)) & 1) === 0) return offset;
      offset += 1n;
    }
    return undefined;
  }
}

/** The network whose pools are allocated from, named in Docker's network-level errors. */
export interface NetworkRef {
  name: string;
  id: string;
}

/**
 * All pools of one network, as libnetwork's endpoint address assignment sees
 * them: a dynamic address comes from the first pool of the family with room
 * (the next subnet once one is full); a static one from the pool that
 * contains it. Addresses come back with their subnet's prefix length.
 */
export class NetworkAllocators {
  readonly allocators: readonly AddressAllocator[];
  private readonly network: NetworkRef;

  constructor(pools: readonly IpamPool[], network: NetworkRef) {
    this.allocators = pools.map((pool) => new AddressAllocator(pool));
    this.network = network;
  }

  /** The next address of the family, or undefined when the network has no pool of it. */
  allocate(family: IpFamily): InterfaceAddress | undefined {
    const candidates = this.allocators.filter((allocator) => allocator.family === family);
    if (candidates.length === 0) return undefined;
    for (const allocator of candidates) {
      try {
        return withPrefix(allocator.allocate(), allocator);
      } catch (error) {
        if (!(error instanceof SkiffError && error.message === IPAM_ERRORS.noAvailableIps)) throw error;
      }
    }
    throw new SkiffError('unavailable', `no available IPv${family} addresses on this network's address pools: ${this.network.name} (${this.network.id})`);
  }

  /** Takes a static address (docker run --ip) from the pool that contains it. */
  claim(address: string): InterfaceAddress {
    const allocator = this.poolOf(address);
    allocator.claim(address);
    return withPrefix(address, allocator);
  }

  /** Whether the user gave a subnet of this family (static addresses are allowed only then, as in Docker). */
  hasUserConfiguredPool(family: IpFamily): boolean {
    return this.allocators.some((allocator) => allocator.family === family && allocator.pool.userConfigured);
  }

  restore(address: string): void {
    this.poolOf(address).restore(address);
  }

  release(address: string): void {
    this.allocators.find((allocator) => allocator.contains(address))?.release(address);
  }

  isAllocated(address: string): boolean {
    return this.allocators.some((allocator) => allocator.isAllocated(address));
  }

  /** The pool (with its subnet, for the prefix length) an address belongs to, if any. */
  allocatorOf(address: string): AddressAllocator | undefined {
    return this.allocators.find((allocator) => allocator.contains(address));
  }

  private poolOf(address: string): AddressAllocator {
    const allocator = this.allocatorOf(address);
    if (allocator === undefined) throw invalid(`Invalid address ${address}: It does not belong to any of this network's subnets`);
    return allocator;
  }
}

function withPrefix(address: string, allocator: AddressAllocator): InterfaceAddress {
  return { family: allocator.family, address, prefix: allocator.subnet.prefix };
}
