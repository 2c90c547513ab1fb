import { it } from 'node:test';
import assert from 'node:assert/strict';
import { renderResolverRedirect } from '../../src/firewall/resolver-redirect.js';
import { reachedThroughContainer } from '../../src/dns/server.js';

it('renders the 127.0.0.11 redirect as one transaction that re-points by flushing its chains', () => {
  assert.equal(
    renderResolverRedirect('172.20.0.1', '172.20.0.5'),
    [
      'add table ip skiff_dns',
      'add chain ip skiff_dns output { type nat hook output priority -100; policy accept; }',
      'add chain ip skiff_dns postrouting { type nat hook postrouting priority 100; policy accept; }',
      'flush chain ip skiff_dns output',
      'flush chain ip skiff_dns postrouting',
      'add rule ip skiff_dns output ip daddr 127.0.0.11 udp dport 53 dnat to 172.20.0.1:53',
      'add rule ip skiff_dns output ip daddr 127.0.0.11 tcp dport 53 dnat to 172.20.0.1:53',
      'add rule ip skiff_dns postrouting ip saddr 127.0.0.0/8 ip daddr 172.20.0.1 udp dport 53 snat to 172.20.0.5',
      'add rule ip skiff_dns postrouting ip saddr 127.0.0.0/8 ip daddr 172.20.0.1 tcp dport 53 snat to 172.20.0.5',
      '',
    ].join('\n'),
  );
});

it("sends the server's questions for a container's loopback upstream on to its loopback", () => {
  const script = renderResolverRedirect('172.20.0.1', '172.20.0.5', [{ address: '127.0.0.1', port: 53 }]);
  assert.match(script, /^add chain ip skiff_dns prerouting \{ type nat hook prerouting priority -100; policy accept; \}$/m);
  assert.match(script, /^add rule ip skiff_dns prerouting ip saddr 172\.20\.0\.1 ip daddr 172\.20\.0\.5 udp dport 53 dnat to 127\.0\.0\.1:53$/m);
  assert.match(script, /^add rule ip skiff_dns prerouting ip saddr 172\.20\.0\.1 ip daddr 172\.20\.0\.5 tcp dport 53 dnat to 127\.0\.0\.1:53$/m);
});

it("asks a container's loopback upstream at the container's own address, others as they are", () => {
  assert.deepEqual(
    reachedThroughContainer(
      [
        { address: '127.0.0.1', port: 53, family: 4 },
        { address: '192.0.2.53', port: 53, family: 4 },
      ],
      '172.20.0.5',
    ),
    [
      { address: '172.20.0.5', port: 53, family: 4 },
      { address: '192.0.2.53', port: 53, family: 4 },
    ],
  );
});
