import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResolverRedirect, renderResolverRedirect } from '../../src/firewall/resolver-redirect.js';

it("renders the 127.0.0.11 redirect to the resolver's ports as one transaction that re-points by flushing the table", () => {
  assert.equal(
    renderResolverRedirect({ udp: 40001, tcp: 40002 }),
    [
      'add table ip skiff_dns',
      'add chain ip skiff_dns output { type nat hook output priority -100; policy accept; }',
      'flush table ip skiff_dns',
      'add rule ip skiff_dns output ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001',
      'add rule ip skiff_dns output ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002',
      '',
    ].join('\n'),
  );
});

it('reads the ports back from nft list table (a restarted daemon takes them again)', () => {
  const listing = [
    'table ip skiff_dns {',
    '\tchain output {',
    '\t\ttype nat hook output priority -100; policy accept;',
    '\t\tip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001',
    '\t\tip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002',
    '\t}',
    '}',
  ].join('\n');
  assert.deepEqual(parseResolverRedirect(listing), { udp: 40001, tcp: 40002 });
  assert.deepEqual(parseResolverRedirect(listing.replaceAll('dnat to', 'dnat ip to')), { udp: 40001, tcp: 40002 });
  assert.equal(parseResolverRedirect('table ip skiff_dns {\n\tchain output {\n\t}\n}'), undefined, 'an emptied table');
  assert.equal(parseResolverRedirect('ip daddr 127.0.0.11 udp dport 53 dnat to 172.20.0.1:53'), undefined, "an older skiff's redirect to a gateway");
});
