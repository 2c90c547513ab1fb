import { it } from 'node:test';
import assert from 'node:assert/strict';
import { renderResolverRedirect } from '../../src/dns/resolver-redirect.js';

it('renders the 127.0.0.11 redirect as one replacing nft transaction', () => {
  assert.equal(renderResolverRedirect('172.20.0.1', '172.20.0.5'), [
    'add table ip skiff_dns',
    'delete table ip skiff_dns',
    'table ip skiff_dns {',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    '    ip daddr 127.0.0.11 udp dport 53 dnat to 172.20.0.1:53',
    '    ip daddr 127.0.0.11 tcp dport 53 dnat to 172.20.0.1:53',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    '    ip saddr 127.0.0.0/8 ip daddr 172.20.0.1 udp dport 53 snat to 172.20.0.5',
    '    ip saddr 127.0.0.0/8 ip daddr 172.20.0.1 tcp dport 53 snat to 172.20.0.5',
    '  }',
    '}',
    '',
  ].join('\n'));
});
