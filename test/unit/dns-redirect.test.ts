import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseResolverRedirect, renderResolverRedirect } from '../../src/firewall/resolver-redirect.js';
import { redirectStep } from '../../src/engine/name-service.js';

it("renders the 127.0.0.11 redirect to the resolver's ports: one transaction, the table made afresh, stateless port rewrites before conntrack", () => {
  assert.equal(
    renderResolverRedirect({ udp: 40001, tcp: 40002 }),
    [
      'add table ip skiff_dns',
      'delete table ip skiff_dns',
      'add table ip skiff_dns',
      'add chain ip skiff_dns resolver { type filter hook output priority raw; policy accept; }',
      'add rule ip skiff_dns resolver ip daddr 127.0.0.11 udp dport 53 notrack udp dport set 40001',
      'add rule ip skiff_dns resolver ip saddr 127.0.0.11 udp sport 40001 notrack udp sport set 53',
      'add rule ip skiff_dns resolver ip daddr 127.0.0.11 tcp dport 53 notrack tcp dport set 40002',
      'add rule ip skiff_dns resolver ip saddr 127.0.0.11 tcp sport 40002 notrack tcp sport set 53',
      '',
    ].join('\n'),
  );
});

it('reads the ports back from nft list table (a restarted daemon takes them again)', () => {
  const listing = [
    'table ip skiff_dns {',
    '\tchain resolver {',
    '\t\ttype filter hook output priority raw; policy accept;',
    '\t\tip daddr 127.0.0.11 udp dport 53 notrack udp dport set 40001',
    '\t\tip saddr 127.0.0.11 udp sport 40001 notrack udp sport set 53',
    '\t\tip daddr 127.0.0.11 tcp dport 53 notrack tcp dport set 40002',
    '\t\tip saddr 127.0.0.11 tcp sport 40002 notrack tcp sport set 53',
    '\t}',
    '}',
  ].join('\n');
  assert.deepEqual(parseResolverRedirect(listing), { udp: 40001, tcp: 40002 });
  assert.equal(parseResolverRedirect('table ip skiff_dns {\n\tchain resolver {\n\t}\n}'), undefined, 'an emptied table');
  assert.equal(parseResolverRedirect('ip daddr 127.0.0.11 udp dport 53 dnat to 172.20.0.1:53'), undefined, "an older skiff's redirect to a gateway");
});

it("a restarted daemon keeps a sandbox's redirect that names the ports its resolver took back; the record is never left naming other ports", () => {
  const was = { udp: 40001, tcp: 40002 };
  const taken = { udp: 41001, tcp: 41002 };
  // The record and the kernel agree and the ports were free again: no program at all.
  assert.equal(redirectStep(was, was, was), 'keep');
  // A data root from before records kept the ports: the kernel was read, the record learns them.
  assert.equal(redirectStep(undefined, was, was), 'record');
  // The ports were taken meanwhile: the kernel's redirect is rewritten (the record dropped until it is).
  assert.equal(redirectStep(was, was, taken), 'rewrite');
  // A first join, or a namespace with no redirect: written.
  assert.equal(redirectStep(undefined, undefined, taken), 'rewrite');
  assert.equal(redirectStep(undefined, { udp: 40001, tcp: 41002 }, taken), 'rewrite');
});
