/** The bridge-nf-call-iptables plan: what skiff turns off, which other bridges it keeps on first, and dockerd's way. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planBridgeNetfilter } from '../../src/firewall/bridge-netfilter.js';

test('on by default: the other bridges are kept on one by one, then the namespace goes off', () => {
  const plan = planBridgeNetfilter({ iptables: true, ip6tables: true, foreignBridges: ['docker0', 'virbr0'] }, false);
  assert.deepEqual(plan.pin, [
    { bridge: 'docker0', nfCallIptables: true, nfCallIp6tables: true },
    { bridge: 'virbr0', nfCallIptables: true, nfCallIp6tables: true },
  ]);
  assert.deepEqual(plan.sysctls, [
    { key: 'net.bridge.bridge-nf-call-iptables', value: '0' },
    { key: 'net.bridge.bridge-nf-call-ip6tables', value: '0' },
  ]);
  assert.match(plan.summary, /kept on for the bridges skiff did not make \(docker0, virbr0\)/);
});

test('only what is on is kept on and turned off; nothing at all when both are off', () => {
  const plan = planBridgeNetfilter({ iptables: true, ip6tables: false, foreignBridges: ['lxcbr0'] }, false);
  assert.deepEqual(plan.pin, [{ bridge: 'lxcbr0', nfCallIptables: true }]);
  assert.deepEqual(plan.sysctls, [{ key: 'net.bridge.bridge-nf-call-iptables', value: '0' }]);
  const off = planBridgeNetfilter({ iptables: false, ip6tables: false, foreignBridges: ['lxcbr0'] }, false);
  assert.deepEqual([off.pin, off.sysctls], [[], []], 'a bridge that had the firewall off keeps it off');
});

test('without br_netfilter there is nothing to change, either way', () => {
  for (const keepOn of [false, true]) {
    const plan = planBridgeNetfilter({ foreignBridges: ['docker0'] }, keepOn);
    assert.deepEqual([plan.pin, plan.sysctls], [[], []]);
    assert.match(plan.summary, /br_netfilter is not loaded/);
  }
});

test("--bridge-nf-call-iptables: dockerd's way, the namespace's switches on and no bridge touched", () => {
  const plan = planBridgeNetfilter({ iptables: false, ip6tables: true, foreignBridges: ['docker0'] }, true);
  assert.deepEqual(plan.pin, []);
  assert.deepEqual(plan.sysctls, [{ key: 'net.bridge.bridge-nf-call-iptables', value: '1' }]);
});
