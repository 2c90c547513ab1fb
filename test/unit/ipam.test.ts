import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SkiffError } from '../../src/errors.js';
import {
  DEFAULT_BRIDGE_SUBNET,
  DEFAULT_LOCAL_POOLS,
  cidrContains,
  cidrsOverlap,
  formatAddress,
  parseAddress,
  parseCidr,
  pickDefaultPool,
  planNetworkIpam,
  type IpamRequest,
} from '../../src/ipam/index.js';

function rejects(action: () => unknown, message: string, kind: SkiffError['kind'] = 'invalid'): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof SkiffError, `not a SkiffError: ${String(error)}`);
    assert.equal(error.message, message);
    assert.equal(error.kind, kind);
    return true;
  });
}

const plan = (requests: IpamRequest[], usedSubnets: string[] = [], enableIPv6 = false) =>
  planNetworkIpam({ requests, enableIPv6, usedSubnets, networkName: 'mynet' });

describe('cidr', () => {
  it('canonicalises host bits away, as libnetwork keys pools', () => {
    const cidr = parseCidr('10.1.2.3/16');
    assert.equal(cidr.text, '10.1.0.0/16');
    assert.equal(cidr.family, 4);
    assert.equal(cidr.prefix, 16);
    assert.equal(cidr.size, 65536n);
    assert.equal(formatAddress(4, cidr.network), '10.1.0.0');
  });

  it('prints IPv6 in RFC 5952 form', () => {
    assert.equal(parseCidr('FD00:0:0:0::1/64').text, 'fd00::/64');
    assert.equal(parseCidr('2001:db8::/32').size, 1n << 96n);
    assert.equal(formatAddress(6, parseAddress('2001:0db8::0001').value), '2001:db8::1');
  });

  it("rejects what Go's net.ParseCIDR rejects, with Go's words", () => {
    for (const text of ['foo', '10.1.0.0', '10.1/16', '10.1.0.0/33', '10.1.0.0/-1', 'fe80::1%eth0/64', '::/129', '']) {
      rejects(() => parseCidr(text), `invalid CIDR address: ${text}`);
    }
  });

  it('parses addresses of both families', () => {
    assert.deepEqual(parseAddress('10.0.0.1'), { family: 4, value: 0x0a000001n });
    assert.deepEqual(parseAddress('::1'), { family: 6, value: 1n });
    rejects(() => parseAddress('10.0.0'), 'invalid IP address: 10.0.0');
  });

  it('tests containment and overlap', () => {
    const big = parseCidr('10.0.0.0/8');
    const small = parseCidr('10.200.0.0/16');
    assert.ok(cidrContains(big, parseAddress('10.255.255.255').value));
    assert.ok(!cidrContains(big, parseAddress('11.0.0.0').value));
    assert.ok(cidrsOverlap(big, small) && cidrsOverlap(small, big));
    assert.ok(!cidrsOverlap(small, parseCidr('10.201.0.0/16')));
    assert.ok(!cidrsOverlap(parseCidr('0.0.0.0/0'), parseCidr('::/0')));
  });
});

describe('default pools', () => {
  it("follows Docker's sequence: 172.17-31 /16, then 192.168 in /20s", () => {
    assert.equal(DEFAULT_BRIDGE_SUBNET, '172.17.0.0/16');
    assert.equal(DEFAULT_LOCAL_POOLS.length, 31);
    assert.deepEqual(DEFAULT_LOCAL_POOLS.slice(0, 3), ['172.17.0.0/16', '172.18.0.0/16', '172.19.0.0/16']);
    assert.deepEqual(DEFAULT_LOCAL_POOLS.slice(14, 17), ['172.31.0.0/16', '192.168.0.0/20', '192.168.16.0/20']);
    assert.equal(DEFAULT_LOCAL_POOLS.at(-1), '192.168.240.0/20');
  });

  it('picks the first pool overlapping no used subnet', () => {
    assert.equal(pickDefaultPool([], 4), '172.17.0.0/16');
    assert.equal(pickDefaultPool([DEFAULT_BRIDGE_SUBNET], 4), '172.18.0.0/16');
    assert.equal(pickDefaultPool(['172.17.0.0/16', '172.18.5.0/24', 'fd00::/64'], 4), '172.19.0.0/16');
    assert.equal(pickDefaultPool(['172.16.0.0/12'], 4), '192.168.0.0/20');
    assert.equal(pickDefaultPool(['172.16.0.0/12', '192.168.0.0/19'], 4), '192.168.32.0/20');
  });

  it('walks every default, then is exhausted', () => {
    const used: string[] = [];
    for (const expected of DEFAULT_LOCAL_POOLS) {
      const subnet = plan([], used)[0]?.subnet;
      assert.equal(subnet, expected);
      used.push(expected);
    }
    rejects(() => pickDefaultPool(used, 4), 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
    rejects(() => plan([], used), 'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  });

  it('has no IPv6 defaults (Docker 20.10)', () => {
    rejects(() => pickDefaultPool([], 6), 'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network');
  });
});

describe('planNetworkIpam', () => {
  it('picks a default IPv4 pool, gateway .1, not user-configured', () => {
    assert.deepEqual(plan([], [DEFAULT_BRIDGE_SUBNET]), [{ subnet: '172.18.0.0/16', gateway: '172.18.0.1', auxAddresses: {}, userConfigured: false }]);
  });

  it('avoids host routes only for a default pool', () => {
    const input = { enableIPv6: false, usedSubnets: [DEFAULT_BRIDGE_SUBNET], hostSubnets: ['172.18.0.0/24'] };
    assert.equal(planNetworkIpam({ ...input, requests: [] })[0]?.subnet, '172.19.0.0/16');
    assert.equal(planNetworkIpam({ ...input, requests: [{ subnet: '172.18.0.0/16' }] })[0]?.subnet, '172.18.0.0/16');
  });

  it('fills the gateway with the first usable address and canonicalises the subnet', () => {
    assert.deepEqual(plan([{ subnet: '10.1.2.3/16' }]), [{ subnet: '10.1.0.0/16', gateway: '10.1.0.1', auxAddresses: {}, userConfigured: true }]);
  });

  it('keeps a given gateway, ip-range and aux addresses', () => {
    assert.deepEqual(plan([{ subnet: '172.28.0.0/16', ipRange: '172.28.5.0/24', gateway: '172.28.5.254', auxAddresses: { host: '172.28.1.5' } }]), [
      { subnet: '172.28.0.0/16', ipRange: '172.28.5.0/24', gateway: '172.28.5.254', auxAddresses: { host: '172.28.1.5' }, userConfigured: true },
    ]);
  });

  it('takes a default gateway from the ip-range, as libnetwork requests it from the sub-pool', () => {
    assert.equal(plan([{ subnet: '172.28.0.0/16', ipRange: '172.28.5.0/24' }])[0]?.gateway, '172.28.5.0');
    assert.equal(plan([{ subnet: '172.28.0.0/16', ipRange: '172.28.0.0/24' }])[0]?.gateway, '172.28.0.1');
  });

  it('handles several subnets and IPv6 with --ipv6', () => {
    const pools = plan([{ subnet: 'fd00:1::/64' }, { subnet: '10.1.0.0/24' }, { subnet: '10.2.0.0/24', gateway: '10.2.0.254' }], [], true);
    assert.deepEqual(
      pools.map((pool) => [pool.subnet, pool.gateway]),
      [
        ['10.1.0.0/24', '10.1.0.1'],
        ['10.2.0.0/24', '10.2.0.254'],
        ['fd00:1::/64', 'fd00:1::1'],
      ],
    );
  });

  it('with only an IPv6 subnet and --ipv6, still picks a default IPv4 pool', () => {
    const pools = plan([{ subnet: 'fd00::/64' }], [DEFAULT_BRIDGE_SUBNET], true);
    assert.deepEqual(
      pools.map((pool) => [pool.subnet, pool.userConfigured]),
      [
        ['172.18.0.0/16', false],
        ['fd00::/64', true],
      ],
    );
  });

  it('ignores IPv6 subnets without --ipv6, as Docker 20.10 does', () => {
    assert.deepEqual(
      plan([{ subnet: '10.1.0.0/24' }, { subnet: 'fd00::/64' }]).map((pool) => pool.subnet),
      ['10.1.0.0/24'],
    );
  });

  it('--ipv6 without an IPv6 subnet fails: Docker 20.10 has no IPv6 defaults', () => {
    rejects(() => plan([], [], true), 'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network');
  });

  it('rejects an invalid subnet, or a request without one, with the daemon words', () => {
    rejects(() => plan([{ subnet: '10.1.0.0/33' }]), 'Invalid subnet 10.1.0.0/33 : invalid CIDR address: 10.1.0.0/33');
    rejects(() => plan([{ gateway: '10.1.0.1' }]), 'Invalid subnet  : invalid CIDR address: ');
    rejects(() => plan([{ ipRange: '10.1.0.0/24' }]), 'Invalid subnet  : invalid CIDR address: ');
  });

  it('rejects overlaps with other networks and between the requests', () => {
    rejects(() => plan([{ subnet: '172.17.5.0/24' }], [DEFAULT_BRIDGE_SUBNET]), 'Pool overlaps with other one on this address space', 'forbidden');
    rejects(() => plan([{ subnet: '10.0.0.0/8' }], ['10.9.0.0/16']), 'Pool overlaps with other one on this address space', 'forbidden');
    rejects(() => plan([{ subnet: '10.1.0.0/16' }, { subnet: '10.1.2.0/24' }]), 'Pool overlaps with other one on this address space', 'forbidden');
    rejects(() => plan([{ subnet: 'fd00::/48' }, { subnet: 'fd00::/64' }], [], true), 'Pool overlaps with other one on this address space', 'forbidden');
  });

  it('rejects a bad gateway', () => {
    rejects(() => plan([{ subnet: '10.1.0.0/16', gateway: 'nope' }]), 'invalid gateway address nope in Ipam configuration');
    rejects(() => plan([{ subnet: '10.1.0.0/16', gateway: '10.1.0.1/16' }]), 'invalid gateway address 10.1.0.1/16 in Ipam configuration');
    rejects(() => plan([{ subnet: '10.1.0.0/16', gateway: '10.2.0.1' }]), 'failed to allocate gateway (10.2.0.1): Requested address is out of range');
    rejects(() => plan([{ subnet: '10.1.0.0/16', gateway: '10.1.0.0' }]), 'failed to allocate gateway (10.1.0.0): Address already in use', 'forbidden');
    rejects(() => plan([{ subnet: '10.1.0.0/16', gateway: '10.1.255.255' }]), 'failed to allocate gateway (10.1.255.255): Address already in use', 'forbidden');
    rejects(() => plan([{ subnet: '10.1.0.0/31' }]), 'failed to allocate gateway (): No available addresses on this pool', 'unavailable');
  });

  it('rejects a bad ip-range', () => {
    rejects(
      () => plan([{ subnet: '10.1.0.0/16', ipRange: 'bad' }]),
      'failed to parse pool request for address space "LocalDefault" pool "10.1.0.0/16" subpool "bad": Invalid Address SubPool',
    );
    rejects(() => plan([{ subnet: '10.1.0.0/16', ipRange: '10.2.0.0/24' }]), 'no matching subnet for range 10.2.0.0/24');
    rejects(() => plan([{ subnet: '10.1.0.0/16', ipRange: '10.0.0.0/8' }]), 'no matching subnet for range 10.0.0.0/8');
  });

  it('rejects bad aux addresses', () => {
    rejects(() => plan([{ subnet: '10.1.0.0/16', auxAddresses: { host: 'x' } }]), 'non parsable secondary ip address (host:x) passed for network mynet');
    rejects(
      () => plan([{ subnet: '10.1.0.0/16', auxAddresses: { host: '10.2.0.5' } }]),
      'auxilairy address: (host:10.2.0.5) must belong to the master pool: 10.1.0.0/16',
      'forbidden',
    );
    rejects(
      () => plan([{ subnet: '10.1.0.0/16', auxAddresses: { router: '10.1.0.1' } }]),
      'failed to allocate secondary ip address (router:10.1.0.1): Address already in use',
      'forbidden',
    );
    rejects(
      () => plan([{ subnet: '10.1.0.0/16', auxAddresses: { a: '10.1.0.9', b: '10.1.0.9' } }]),
      'failed to allocate secondary ip address (b:10.1.0.9): Address already in use',
      'forbidden',
    );
  });

  it('accepts an aux address outside the ip-range but inside the subnet', () => {
    const [pool] = plan([{ subnet: '10.1.0.0/16', ipRange: '10.1.1.0/24', gateway: '10.1.0.1', auxAddresses: { DefaultGatewayIPv4: '10.1.0.254' } }]);
    assert.deepEqual(pool?.auxAddresses, { DefaultGatewayIPv4: '10.1.0.254' });
  });
});
