import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SkiffError } from '../../src/errors.js';
import type { IpamPool } from '../../src/model/network.js';
import { AddressAllocator, NetworkAllocators } from '../../src/ipam/index.js';

const allocatorsFor = (pools: IpamPool[], network: { name: string; id: string }) => new NetworkAllocators(pools, network);

function rejects(action: () => unknown, message: string, kind: SkiffError['kind']): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof SkiffError, `not a SkiffError: ${String(error)}`);
    assert.equal(error.message, message);
    assert.equal(error.kind, kind);
    return true;
  });
}

const pool = (subnet: string, gateway: string, more: Partial<IpamPool> = {}): IpamPool => ({
  subnet,
  gateway,
  auxAddresses: {},
  userConfigured: true,
  ...more,
});

const take = (allocator: AddressAllocator, count: number) => Array.from({ length: count }, () => allocator.allocate());

describe('AddressAllocator', () => {
  it('hands out addresses in order after the gateway', () => {
    const allocator = new AddressAllocator(pool('172.18.0.0/16', '172.18.0.1'));
    assert.deepEqual(take(allocator, 3), ['172.18.0.2', '172.18.0.3', '172.18.0.4']);
  });

  it('never gives out the network, broadcast, gateway or aux addresses, and is exhausted after the rest', () => {
    const allocator = new AddressAllocator(pool('10.0.0.0/29', '10.0.0.3', { auxAddresses: { a: '10.0.0.5' } }));
    assert.deepEqual(take(allocator, 4), ['10.0.0.1', '10.0.0.2', '10.0.0.4', '10.0.0.6']);
    rejects(() => allocator.allocate(), 'No available addresses on this pool', 'unavailable');
    for (const reserved of ['10.0.0.0', '10.0.0.3', '10.0.0.5', '10.0.0.7']) assert.ok(allocator.isAllocated(reserved));
  });

  it('continues after the last address, wraps, and reuses released addresses only then', () => {
    const allocator = new AddressAllocator(pool('10.0.0.0/29', '10.0.0.1'));
    assert.deepEqual(take(allocator, 3), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    allocator.release('10.0.0.3');
    assert.deepEqual(take(allocator, 2), ['10.0.0.5', '10.0.0.6']);
    assert.equal(allocator.allocate(), '10.0.0.3');
    rejects(() => allocator.allocate(), 'No available addresses on this pool', 'unavailable');
    allocator.release('10.0.0.5');
    allocator.release('10.0.0.2');
    assert.deepEqual(take(allocator, 2), ['10.0.0.5', '10.0.0.2']);
  });

  it('stays inside the ip-range, whose own first and last addresses are usable', () => {
    const allocator = new AddressAllocator(pool('10.1.0.0/16', '10.1.0.1', { ipRange: '10.1.5.0/30' }));
    assert.deepEqual(take(allocator, 4), ['10.1.5.0', '10.1.5.1', '10.1.5.2', '10.1.5.3']);
    rejects(() => allocator.allocate(), 'No available addresses on this pool', 'unavailable');
    allocator.claim('10.1.9.9'); // static addresses may lie outside the range
    allocator.release('10.1.5.2');
    assert.equal(allocator.allocate(), '10.1.5.2');
  });

  it('skips reserved addresses inside the ip-range', () => {
    const allocator = new AddressAllocator(pool('10.1.0.0/16', '10.1.5.0', { ipRange: '10.1.5.0/24', auxAddresses: { x: '10.1.5.2' } }));
    assert.deepEqual(take(allocator, 2), ['10.1.5.1', '10.1.5.3']);
  });

  it('claims static addresses with Docker errors', () => {
    const allocator = new AddressAllocator(pool('10.1.0.0/24', '10.1.0.1', { auxAddresses: { router: '10.1.0.254' } }));
    allocator.claim('10.1.0.50');
    assert.ok(allocator.isAllocated('10.1.0.50'));
    rejects(() => allocator.claim('10.1.0.50'), 'Address already in use', 'forbidden');
    rejects(() => allocator.claim('10.1.0.1'), 'Address already in use', 'forbidden');
    rejects(() => allocator.claim('10.1.0.254'), 'Address already in use', 'forbidden');
    rejects(() => allocator.claim('10.1.0.255'), 'Address already in use', 'forbidden');
    rejects(() => allocator.claim('10.2.0.5'), 'Requested address is out of range', 'invalid');
    rejects(() => allocator.claim('fd00::5'), 'Requested address is out of range', 'invalid');
    // A claimed address is skipped by dynamic allocation.
    allocator.claim('10.1.0.2');
    assert.equal(allocator.allocate(), '10.1.0.3');
  });

  it('a full pool refuses a static address with the exhaustion error, as Docker checks that first', () => {
    const allocator = new AddressAllocator(pool('10.0.0.0/30', '10.0.0.1'));
    allocator.allocate();
    rejects(() => allocator.claim('10.0.0.2'), 'No available addresses on this pool', 'unavailable');
  });

  it('restores addresses from the store without complaint, and never releases reserved ones', () => {
    const allocator = new AddressAllocator(pool('10.1.0.0/24', '10.1.0.1'));
    allocator.restore('10.1.0.2');
    allocator.restore('10.1.0.2');
    allocator.restore('10.1.0.1');
    assert.equal(allocator.allocate(), '10.1.0.3');
    allocator.release('10.1.0.1');
    allocator.release('10.1.0.0');
    allocator.release('10.1.0.77'); // never given: harmless
    assert.ok(allocator.isAllocated('10.1.0.1') && allocator.isAllocated('10.1.0.0'));
    assert.ok(!allocator.isAllocated('10.1.0.77'));
  });

  it('allocates 100k addresses in a /8', () => {
    const allocator = new AddressAllocator(pool('10.0.0.0/8', '10.0.0.1'));
    const addresses = take(allocator, 100_000);
    assert.equal(addresses[0], '10.0.0.2');
    assert.equal(addresses.at(-1), '10.1.134.161');
    assert.equal(new Set(addresses).size, 100_000);
  });

  it('works in an IPv6 /64 (no broadcast reserved)', () => {
    const allocator = new AddressAllocator(pool('fd00:1::/64', 'fd00:1::1'));
    assert.deepEqual(take(allocator, 2), ['fd00:1::2', 'fd00:1::3']);
    allocator.claim('fd00:1::ffff:ffff:ffff:ffff');
    rejects(() => allocator.claim('fd00:1::ffff:ffff:ffff:ffff'), 'Address already in use', 'forbidden');
    assert.equal(take(allocator, 10_000).at(-1), 'fd00:1::2713');
  });

  it('wraps around a mostly full pool quickly by skipping full words', () => {
    const allocator = new AddressAllocator(pool('10.0.0.0/16', '10.0.0.1'));
    take(allocator, 65_533);
    rejects(() => allocator.allocate(), 'No available addresses on this pool', 'unavailable');
    allocator.release('10.0.128.7');
    assert.equal(allocator.allocate(), '10.0.128.7');
  });
});

describe('allocatorsFor', () => {
  const network = { name: 'mynet', id: 'abc123' };

  it('spills to the next pool of the family when one is full', () => {
    const allocators = allocatorsFor([pool('10.0.0.0/30', '10.0.0.1'), pool('10.0.1.0/30', '10.0.1.1'), pool('fd00::/64', 'fd00::1')], network);
    assert.deepEqual(
      [allocators.allocate(4), allocators.allocate(4), allocators.allocate(6)].map((allocated) => allocated?.address),
      ['10.0.0.2', '10.0.1.2', 'fd00::2'],
    );
    rejects(() => allocators.allocate(4), "no available IPv4 addresses on this network's address pools: mynet (abc123)", 'unavailable');
  });

  it('has no address of a family without a pool', () => {
    assert.equal(allocatorsFor([pool('10.0.0.0/24', '10.0.0.1')], network).allocate(6), undefined);
  });

  it('claims in the pool containing the address, or says it belongs to none', () => {
    const allocators = allocatorsFor([pool('10.0.0.0/24', '10.0.0.1'), pool('10.0.1.0/24', '10.0.1.1')], network);
    allocators.claim('10.0.1.9');
    assert.ok(allocators.isAllocated('10.0.1.9'));
    assert.equal(allocators.allocatorOf('10.0.1.9')?.subnet.prefix, 24);
    rejects(() => allocators.claim('10.0.1.9'), 'Address already in use', 'forbidden');
    rejects(() => allocators.claim('10.9.0.1'), "Invalid address 10.9.0.1: It does not belong to any of this network's subnets", 'invalid');
    allocators.release('10.0.1.9');
    assert.ok(!allocators.isAllocated('10.0.1.9'));
  });
});
