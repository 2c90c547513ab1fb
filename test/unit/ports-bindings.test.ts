/**
 * Which host addresses a -p binds and how each is served, as Docker 20.10
 * decides it (seen on dockerd 20.10.24 with "ipv6": true and on a user
 * network made with --ipv6 --subnet): a plain -p is 0.0.0.0 and ::, an
 * IPv6 host address on a container without IPv6 is relayed to its IPv4
 * address, and IPv6 addresses conflict only with themselves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bindingTargets, canonicalHostIp, HostPortAllocator, isDnatBinding, isRelayedBinding } from '../../src/ports/index.js';

const dual = { ipv4: '172.18.0.2', ipv6: 'fd00:1::2' };
const v4only = { ipv4: '172.19.0.2' };

test('a -p without host address binds 0.0.0.0 and ::, the IPv6 one to the IPv6 address, or relayed to IPv4 without one', () => {
  assert.deepEqual(bindingTargets('', '0.0.0.0', dual, true), [
    { hostIp: '0.0.0.0', containerIp: '172.18.0.2' },
    { hostIp: '::', containerIp: 'fd00:1::2' },
  ]);
  assert.deepEqual(bindingTargets('', '0.0.0.0', v4only, true), [
    { hostIp: '0.0.0.0', containerIp: '172.19.0.2' },
    { hostIp: '::', containerIp: '172.19.0.2' },
  ]);
  assert.deepEqual(bindingTargets('', '0.0.0.0', dual, false), [{ hostIp: '0.0.0.0', containerIp: '172.18.0.2' }], 'a host without IPv6: IPv4 only');
});

test('a network default other than 0.0.0.0 binds that address alone', () => {
  assert.deepEqual(bindingTargets('', '127.0.0.1', dual, true), [{ hostIp: '127.0.0.1', containerIp: '172.18.0.2' }]);
  assert.deepEqual(bindingTargets('', 'fd00:ffff::1', dual, true), [{ hostIp: 'fd00:ffff::1', containerIp: 'fd00:1::2' }]);
});

test('an explicit host address binds only itself', () => {
  assert.deepEqual(bindingTargets('0.0.0.0', '0.0.0.0', dual, true), [{ hostIp: '0.0.0.0', containerIp: '172.18.0.2' }]);
  assert.deepEqual(bindingTargets('::', '0.0.0.0', dual, true), [{ hostIp: '::', containerIp: 'fd00:1::2' }]);
  assert.deepEqual(bindingTargets('0:0::1', '0.0.0.0', dual, true), [{ hostIp: '::1', containerIp: 'fd00:1::2' }], 'canonical text');
  assert.deepEqual(bindingTargets('::1', '0.0.0.0', v4only, true), [{ hostIp: '::1', containerIp: '172.19.0.2' }]);
  assert.deepEqual(bindingTargets('::', '0.0.0.0', dual, false), [{ hostIp: '::', containerIp: 'fd00:1::2' }], 'asked for: tried even so');
  assert.throws(() => bindingTargets('127.0.0.1', '0.0.0.0', { ipv6: 'fd00::2' }, true), /no IPv4 address/);
});

test('DNAT carries one-family bindings but ::1; every IPv6 host address has a relay', () => {
  assert.equal(isDnatBinding({ hostIp: '0.0.0.0', containerIp: '172.18.0.2' }), true);
  assert.equal(isDnatBinding({ hostIp: '127.0.0.1', containerIp: '172.18.0.2' }), true, 'route_localnet carries IPv4 loopback');
  assert.equal(isDnatBinding({ hostIp: '::', containerIp: 'fd00:1::2' }), true);
  assert.equal(isDnatBinding({ hostIp: 'fd00:ffff::1', containerIp: 'fd00:1::2' }), true);
  assert.equal(isDnatBinding({ hostIp: '::1', containerIp: 'fd00:1::2' }), false, 'no route_localnet for IPv6');
  assert.equal(isDnatBinding({ hostIp: '::', containerIp: '172.19.0.2' }), false, 'across families only the relay');
  assert.equal(isRelayedBinding({ hostIp: '::' }), true);
  assert.equal(isRelayedBinding({ hostIp: '::1' }), true);
  assert.equal(isRelayedBinding({ hostIp: '0.0.0.0' }), false);
  assert.equal(canonicalHostIp('0000::0'), '::');
  assert.equal(canonicalHostIp('0.0.0.0'), '0.0.0.0');
});

test("host ports: 0.0.0.0 and :: are separate, IPv6 addresses conflict only with themselves (Docker's texts)", () => {
  const allocator = new HostPortAllocator([40000, 40002]);
  const request = (hostIp: string, port: number) => ({ protocol: 'tcp' as const, containerPort: 80, hostIp, hostPortRange: [port, port] as [number, number] });
  assert.equal(allocator.allocate(request('0.0.0.0', 8083)).hostPort, 8083);
  assert.equal(allocator.allocate(request('::', 8083)).hostPort, 8083);
  assert.throws(() => allocator.allocate(request('::', 8083)), { message: 'Bind for :::8083 failed: port is already allocated' });
  assert.equal(allocator.allocate(request('::1', 8083)).hostPort, 8083, "left to the kernel's bind, as Docker leaves it to docker-proxy's");
  assert.throws(() => allocator.allocate(request('::1', 8083)), { message: 'Bind for ::1:8083 failed: port is already allocated' });
  assert.equal(allocator.allocate(request('127.0.0.1', 8084)).hostPort, 8084);
  assert.equal(allocator.allocate(request('::1', 8084)).hostPort, 8084, 'another family');
  assert.throws(() => allocator.allocate(request('0.0.0.0', 8084)), { message: 'Bind for 0.0.0.0:8084 failed: port is already allocated' });
});
