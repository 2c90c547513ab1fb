/**
 * Golden tests of the nftables rendering: every combination of a network's
 * options (icc × internal × masquerade × host binding address, with one
 * published port) rendered to text and compared with test/golden/firewall/.
 * UPDATE_GOLDEN=1 rewrites the files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  renderTable,
  renderNetworkAdded,
  renderNetworkRemoved,
  renderPortsAdded,
  renderPortsRemoved,
  type FirewallNetwork,
  type FirewallPort,
} from '../../src/firewall/index.js';
import { SkiffError } from '../../src/errors.js';

const goldenDir = fileURLToPath(new URL('../../../test/golden/firewall/', import.meta.url));
const updating = process.env['UPDATE_GOLDEN'] === '1';

function golden(name: string, actual: string): void {
  const path = join(goldenDir, name);
  if (updating) {
    mkdirSync(goldenDir, { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${path} is missing: run the test with UPDATE_GOLDEN=1`);
  assert.equal(actual, readFileSync(path, 'utf8'), `rendering differs from ${name}`);
}

/** A network, with the host address its ports are published on by default (a property of the ports, not of the firewall's network). */
function network(
  options: Pick<FirewallNetwork, 'icc' | 'internal' | 'masquerade'> & { hostBindingIpv4: string },
): FirewallNetwork & { hostBindingIpv4: string } {
  return {
    id: '0123456789ab0123456789ab0123456789ab0123456789ab0123456789ab0123',
    bridgeName: 'br-0123456789ab',
    subnets4: ['172.18.0.0/16'],
    subnets6: ['fd00:18::/64'],
    ...options,
  };
}

function portOn(n: FirewallNetwork & { hostBindingIpv4: string }): FirewallPort {
  return { protocol: 'tcp', hostIp: n.hostBindingIpv4, hostPort: 8080, containerIp: '172.18.0.2', containerPort: 80, bridgeName: n.bridgeName };
}

const onOff = (flag: boolean) => (flag ? 'on' : 'off');

for (const icc of [true, false]) {
  for (const internal of [true, false]) {
    for (const masquerade of [true, false]) {
      for (const hostBindingIpv4 of ['0.0.0.0', '127.0.0.1']) {
        const name = `icc-${onOff(icc)}_internal-${onOff(internal)}_masquerade-${onOff(masquerade)}_bind-${hostBindingIpv4}.nft`;
        test(`renderTable golden ${name}`, () => {
          const n = network({ icc, internal, masquerade, hostBindingIpv4 });
          golden(name, renderTable({ networks: [n], ports: [portOn(n)] }));
        });
      }
    }
  }
}

const second: FirewallNetwork = {
  id: 'fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210',
  bridgeName: 'skiff0',
  subnets4: ['172.17.0.0/16'],
  subnets6: [],
  icc: true,
  internal: false,
  masquerade: true,
};
const ports: FirewallPort[] = [
  { protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 80, containerIp: '172.17.0.2', containerPort: 8080, bridgeName: 'skiff0' },
  { protocol: 'udp', hostIp: '192.0.2.1', hostPort: 5353, containerIp: '172.17.0.3', containerPort: 53, bridgeName: 'skiff0' },
  { protocol: 'sctp', hostIp: '::', hostPort: 9000, containerIp: 'fd00:18::2', containerPort: 9000, bridgeName: 'br-0123456789ab' },
  { protocol: 'tcp', hostIp: 'fd00:ffff::1', hostPort: 443, containerIp: 'fd00:18::2', containerPort: 8443, bridgeName: 'br-0123456789ab' },
];

test('renderTable golden: two networks and ports of every kind', () => {
  const n = network({ icc: false, internal: false, masquerade: true, hostBindingIpv4: '0.0.0.0' });
  golden('two-networks-ports.nft', renderTable({ networks: [n, second], ports }));
});

test('element scripts golden: network and ports added and removed', () => {
  golden('network-added.nft', renderNetworkAdded(second));
  golden('network-removed.nft', renderNetworkRemoved(second));
  golden('ports-added.nft', renderPortsAdded(ports));
  golden('ports-removed.nft', renderPortsRemoved(ports));
});

test('renderTable golden: IPv6 ports as a plain -p makes them (0.0.0.0 and ::), a host address, and UDP', () => {
  const n = network({ icc: true, internal: false, masquerade: true, hostBindingIpv4: '0.0.0.0' });
  const v6: FirewallPort[] = [
    { protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerIp: '172.18.0.2', containerPort: 80, bridgeName: n.bridgeName },
    { protocol: 'tcp', hostIp: '::', hostPort: 8080, containerIp: 'fd00:18::2', containerPort: 80, bridgeName: n.bridgeName },
    { protocol: 'udp', hostIp: '::', hostPort: 5353, containerIp: 'fd00:18::2', containerPort: 53, bridgeName: n.bridgeName },
    { protocol: 'tcp', hostIp: '2001:db8::1', hostPort: 8443, containerIp: 'fd00:18::3', containerPort: 443, bridgeName: n.bridgeName },
  ];
  golden('ipv6-ports.nft', renderTable({ networks: [n], ports: v6 }));
  golden('ipv6-ports-added.nft', renderPortsAdded(v6));
  golden('ipv6-ports-removed.nft', renderPortsRemoved(v6));
});

test("renderTable: the host's own [::1] is never DNAT'ed (no route_localnet for IPv6): output returns before the published chain", () => {
  const lines = renderTable({ networks: [second], ports }).split('\n');
  const ret = lines.indexOf('add rule inet skiff output ip6 daddr ::1 return');
  const jump = lines.indexOf('add rule inet skiff output fib daddr type local jump published');
  assert.ok(ret >= 0 && jump > ret, 'output: ::1 returns first');
  assert.ok(lines.includes('add rule inet skiff prerouting ip6 daddr ::1 return'));
});

test('renderTable: the user chain is declared and jumped to first but never flushed or written', () => {
  const text = renderTable({ networks: [second], ports }, 'skifftest');
  const lines = text.split('\n');
  assert.ok(lines.includes('add chain inet skifftest user'));
  assert.ok(!lines.some((line) => /^flush chain inet skifftest user$/.test(line)));
  assert.ok(!lines.some((line) => line.startsWith('add rule inet skifftest user ')));
  const forwardRules = lines.filter((line) => line.startsWith('add rule inet skifftest forward '));
  assert.equal(forwardRules[0], 'add rule inet skifftest forward jump user');
});

test('renderTable: rules never name a network; an extra network only adds elements', () => {
  const rulesOf = (text: string) => text.split('\n').filter((line) => line.startsWith('add rule '));
  const one = renderTable({ networks: [second], ports: [] });
  const two = renderTable({ networks: [second, network({ icc: true, internal: true, masquerade: false, hostBindingIpv4: '0.0.0.0' })], ports });
  assert.deepEqual(rulesOf(one), rulesOf(two));
  assert.ok(!rulesOf(two).some((line) => line.includes('skiff0') || line.includes('172.17.')));
});

test('renderTable: internal networks are never masqueraded', () => {
  const text = renderTable({ networks: [network({ icc: true, internal: true, masquerade: true, hostBindingIpv4: '0.0.0.0' })], ports: [] });
  assert.ok(!text.includes('add element inet skiff masq_subnets4'));
  assert.ok(text.includes('add element inet skiff internal_bridges { "br-0123456789ab" }'));
});

test('element scripts are empty when there is nothing to change', () => {
  assert.equal(renderPortsAdded([]), '');
  assert.equal(renderPortsRemoved([]), '');
});

test('removal scripts add before deleting, so removing what is gone succeeds', () => {
  const lines = renderPortsRemoved([ports[0]!]).trim().split('\n');
  assert.deepEqual(lines, [
    'add element inet skiff ports4_any { 6 . 80 : 172.17.0.2 . 8080 }',
    'delete element inet skiff ports4_any { 6 . 80 : 172.17.0.2 . 8080 }',
  ]);
});

test('bad input is refused with a SkiffError naming it', () => {
  const refused = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (error: unknown) => error instanceof SkiffError && error.kind === 'invalid' && pattern.test(error.message));
  refused(() => renderTable({ networks: [], ports: [] }, 'bad table;'), /invalid nftables table name "bad table;"/);
  refused(() => renderNetworkAdded({ ...second, bridgeName: 'br"; flush ruleset' }), /invalid bridge name/);
  refused(() => renderPortsAdded([{ ...ports[0]!, hostIp: '::' }]), /different IP families/);
  refused(() => renderPortsAdded([{ ...ports[0]!, hostPort: 0 }]), /invalid port mapping 0\.0\.0\.0:0\/tcp/);
});
