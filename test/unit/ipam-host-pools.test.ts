import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandPools, hostOverlaps, pickDefaultPool, planNetworkIpam } from '../../src/ipam/index.js';
import { interfaceNetworks, nameserverNetworks, routeDestinations } from '../../src/kernel/host-networks.js';

const CUSTOM = [{ base: '10.10.0.0/16', size: 24 }];

describe('default pools avoid the host', () => {
  // Each row: the host's networks (routes and addresses) and skiff's own networks → the pool chosen.
  const table: Array<{ name: string; host: string[]; used: string[]; pools?: typeof CUSTOM; expected: string }> = [
    { name: 'an empty host', host: [], used: [], expected: '172.17.0.0/16' },
    { name: "skiff's default bridge", host: [], used: ['172.17.0.0/16'], expected: '172.18.0.0/16' },
    {
      name: "a LAN on 172.18.5.0/24 and a VPN route to 172.19.0.0/16 (the issue's host)",
      host: ['172.18.5.0/24', '172.18.5.1/32', '172.19.0.0/16'],
      used: ['172.17.0.0/16'],
      expected: '172.20.0.0/16',
    },
    { name: 'a route covering all of 172.16.0.0/12', host: ['172.16.0.0/12'], used: [], expected: '192.168.0.0/20' },
    { name: 'a home LAN 192.168.1.0/24 after 172.16/12 is taken', host: ['172.16.0.0/12', '192.168.1.0/24'], used: [], expected: '192.168.16.0/20' },
    { name: 'a /32 host route inside a pool', host: ['172.17.3.4/32'], used: [], expected: '172.18.0.0/16' },
    { name: 'a route wider than the pools', host: ['172.0.0.0/8'], used: [], expected: '192.168.0.0/20' },
    { name: 'unrelated host networks', host: ['10.0.0.0/8', '192.0.2.0/24', '127.0.0.0/8'], used: [], expected: '172.17.0.0/16' },
    { name: 'custom pools, first /24 free', host: [], used: [], pools: CUSTOM, expected: '10.10.0.0/24' },
    { name: 'custom pools, host on 10.10.0.0/23', host: ['10.10.0.0/23'], used: ['10.10.2.0/24'], pools: CUSTOM, expected: '10.10.3.0/24' },
    { name: 'custom pools, a route over a larger span', host: ['10.10.0.0/17'], used: [], pools: CUSTOM, expected: '10.10.128.0/24' },
  ];
  for (const row of table) {
    it(row.name, () => {
      assert.equal(pickDefaultPool([...row.used, ...row.host], 4, row.pools), row.expected);
      const planned = planNetworkIpam({ requests: [], enableIPv6: false, usedSubnets: row.used, hostSubnets: row.host, defaultPools: row.pools });
      assert.equal(planned[0]?.subnet, row.expected);
    });
  }

  it("is exhausted with Docker's message when the host covers every pool", () => {
    assert.throws(() => pickDefaultPool(['10.10.0.0/16'], 4, CUSTOM), /could not find an available, non-overlapping IPv4 address pool among the defaults/);
  });

  it('walks a /8 cut in /24s without listing it, jumping over a blocked /9', () => {
    assert.equal(pickDefaultPool(['10.0.0.0/9'], 4, [{ base: '10.0.0.0/8', size: 24 }]), '10.128.0.0/24');
  });

  it('leaves a subnet the user names alone, only reporting the host networks it overlaps', () => {
    const planned = planNetworkIpam({ requests: [{ subnet: '172.19.1.0/24' }], enableIPv6: false, usedSubnets: [], hostSubnets: ['172.19.0.0/16'] });
    assert.equal(planned[0]?.subnet, '172.19.1.0/24');
    assert.deepEqual(hostOverlaps('172.19.1.0/24', ['172.19.0.0/16', '10.0.0.0/8']), ['172.19.0.0/16']);
  });

  it('cuts pools in order', () => {
    assert.deepEqual(
      expandPools(
        [
          { base: '10.10.0.0/16', size: 24 },
          { base: '10.20.0.0/23', size: 24 },
        ],
        3,
      ),
      ['10.10.0.0/24', '10.10.1.0/24', '10.10.2.0/24'],
    );
    assert.deepEqual(expandPools([{ base: '10.20.0.0/23', size: 24 }], 10), ['10.20.0.0/24', '10.20.1.0/24']);
  });
});

describe("reading the host's networks (pure parsers of ip -json)", () => {
  it('route destinations of every table but default routes', () => {
    const json = JSON.stringify([
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
      { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
      { dst: '172.19.0.0/16', gateway: '172.18.5.2', dev: 'lan0' },
      { type: 'local', dst: '172.18.5.1', dev: 'lan0', table: 'local' },
    ]);
    assert.deepEqual(routeDestinations(json), ['192.0.2.0/24', '172.19.0.0/16', '172.18.5.1/32']);
    assert.deepEqual(routeDestinations(''), []);
  });

  it('interface addresses with their prefix (noprefixroute addresses have no route)', () => {
    const json = JSON.stringify([
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
      {
        ifname: 'lan0',
        addr_info: [
          { family: 'inet', local: '172.18.5.1', prefixlen: 24 },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
        ],
      },
      { ifname: 'down0' },
    ]);
    assert.deepEqual(interfaceNetworks(json), ['127.0.0.1/8', '172.18.5.1/24']);
  });

  it('non-loopback IPv4 nameservers', () => {
    assert.deepEqual(nameserverNetworks('nameserver 127.0.0.53\nnameserver 172.20.0.2\nnameserver ::1\nsearch x\n'), ['172.20.0.2/32']);
  });
});
