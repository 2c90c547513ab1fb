/**
 * `skiff network diagnose`: what Docker cannot tell you — whether the kernel
 * still matches what skiff believes about a network. Each check reads the
 * kernel (links, addresses, sysctls, nftables elements, the sandboxes'
 * interfaces) and says what it found; nothing is changed.
 */
import { readFile } from 'node:fs/promises';
import { run, runInNetns } from '../kernel/exec.js';
import { isMountPoint } from '../kernel/netns.js';
import { bridgeMac } from '../drivers/bridge.js';
import type { Endpoint, Network, Sandbox } from './model.js';
import { firewallNetworkOf } from './firewall-state.js';

export interface DiagnosisCheck {
  what: string;
  ok: boolean;
  detail: string;
}

interface IpAddrLink { ifname: string; address?: string; operstate: string; master?: string; flags?: string[]; addr_info: Array<{ local: string; prefixlen: number }> }

/** The nftables elements a network's firewall state must hold (pure). */
export function expectedFirewallElements(network: Network): Array<{ set: string; element: string; present: boolean }> {
  const projected = firewallNetworkOf(network);
  if (projected === undefined) return [];
  const bridge = `"${projected.bridgeName}"`;
  return [
    { set: 'bridges', element: bridge, present: true },
    { set: 'icc_bridges', element: `${bridge} . ${bridge}`, present: projected.icc },
    { set: 'internal_bridges', element: bridge, present: projected.internal },
    ...projected.subnets4.map((subnet) => ({ set: 'masq_subnets4', element: subnet, present: projected.masquerade })),
  ];
}

async function linkState(ifname: string, netnsPath?: string): Promise<IpAddrLink | undefined> {
  const args = ['-json', 'addr', 'show', 'dev', ifname];
  try {
    const { stdout } = netnsPath === undefined ? await run('ip', args) : await runInNetns(netnsPath, 'ip', args);
    return (JSON.parse(stdout) as IpAddrLink[])[0];
  } catch {
    return undefined;
  }
}

async function elementPresent(table: string, set: string, element: string): Promise<boolean> {
  try {
    await run('nft', ['get', 'element', 'inet', table, set, `{ ${element} }`]);
    return true;
  } catch {
    return false;
  }
}

/** route_localnet is safe only with the input rule that keeps containers off the host's 127.0.0.0/8. */
async function loopbackGuardCheck(firewallTable: string): Promise<DiagnosisCheck> {
  const what = `nft ${firewallTable} input drops new connections to 127.0.0.0/8 from outside lo (containers cannot reach the host's loopback services)`;
  try {
    const { stdout } = await run('nft', ['list', 'chain', 'inet', firewallTable, 'input']);
    const guarded = /iifname != "lo" ip daddr 127\.0\.0\.0\/8 .*drop/.test(stdout);
    return { what, ok: guarded, detail: guarded ? 'present' : 'rule missing: restart the daemon to restore it' };
  } catch (error) {
    return { what, ok: false, detail: `no input chain: ${(error as Error).message.split('\n')[0]}` };
  }
}

async function bridgeChecks(network: Network, firewallTable: string): Promise<DiagnosisCheck[]> {
  const bridgeName = network.bridge!.bridgeName;
  const link = await linkState(bridgeName);
  const checks: DiagnosisCheck[] = [{ what: `bridge ${bridgeName} exists and is up`, ok: link !== undefined && link.flags?.includes('UP') === true, detail: link === undefined ? 'no such link' : `state ${link.operstate}` }];
  if (link === undefined) return checks;
  for (const pool of network.ipam.pools) {
    const [, prefix] = pool.subnet.split('/');
    const held = link.addr_info.some((address) => address.local === pool.gateway && String(address.prefixlen) === prefix);
    checks.push({ what: `gateway ${pool.gateway}/${prefix} on ${bridgeName}`, ok: held, detail: held ? 'present' : `addresses: ${link.addr_info.map((a) => `${a.local}/${a.prefixlen}`).join(', ') || 'none'}` });
  }
  checks.push({ what: `${bridgeName} keeps its own MAC`, ok: link.address === bridgeMac(network.id), detail: `${link.address ?? '?'} (expected ${bridgeMac(network.id)}; a changing MAC leaves neighbours' ARP entries stale)` });
  const localnet = (await readFile(`/proc/sys/net/ipv4/conf/${bridgeName}/route_localnet`, 'utf8').catch(() => '?')).trim();
  checks.push({ what: `route_localnet on ${bridgeName} (published ports from 127.0.0.1)`, ok: localnet === '1', detail: localnet });
  checks.push(await loopbackGuardCheck(firewallTable));
  for (const { set, element, present } of expectedFirewallElements(network)) {
    const found = await elementPresent(firewallTable, set, element);
    checks.push({ what: `nft ${firewallTable} ${set} ${present ? 'holds' : 'does not hold'} ${element}`, ok: found === present, detail: found ? 'present' : 'absent' });
  }
  return checks;
}

async function endpointChecks(network: Network, endpoint: Endpoint, sandbox: Sandbox | undefined): Promise<DiagnosisCheck[]> {
  const who = `endpoint ${endpoint.name} (${endpoint.ipv4 ?? endpoint.ipv6 ?? 'no address'})`;
  if (sandbox === undefined) return [{ what: `${who}: its sandbox is known`, ok: false, detail: `sandbox ${endpoint.sandboxId} missing` }];
  const mounted = isMountPoint(sandbox.netnsPath);
  const checks: DiagnosisCheck[] = [{ what: `${who}: namespace ${sandbox.netnsPath} is bound`, ok: mounted, detail: mounted ? 'bound' : 'not a mount point' }];
  if (!mounted) return checks;
  if (network.driver === 'bridge') {
    const hostSide = await linkState(endpoint.hostIfName);
    checks.push({ what: `${who}: ${endpoint.hostIfName} is a port of ${network.bridge!.bridgeName}`, ok: hostSide?.master === network.bridge!.bridgeName, detail: hostSide === undefined ? 'no such link' : `master ${hostSide.master ?? 'none'}` });
  }
  const inside = await linkState(endpoint.ifName, sandbox.netnsPath);
  const expected = [endpoint.ipv4, endpoint.ipv6].filter((address): address is string => address !== undefined);
  const held = expected.every((address) => inside?.addr_info.some((a) => `${a.local}/${a.prefixlen}` === address));
  checks.push({ what: `${who}: ${endpoint.ifName} inside holds ${expected.join(', ') || 'no address'}`, ok: inside !== undefined && held, detail: inside === undefined ? 'no such interface' : inside.addr_info.map((a) => `${a.local}/${a.prefixlen}`).join(', ') });
  return checks;
}

export async function diagnoseNetwork(network: Network, endpoints: Endpoint[], sandboxes: Map<string, Sandbox>, firewallTable: string): Promise<DiagnosisCheck[]> {
  const forwarding = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
  const checks: DiagnosisCheck[] = [{ what: 'net.ipv4.ip_forward is on', ok: forwarding === '1', detail: forwarding }];
  if (network.driver === 'bridge' && network.bridge !== undefined) checks.push(...(await bridgeChecks(network, firewallTable)));
  for (const endpoint of endpoints) checks.push(...(await endpointChecks(network, endpoint, sandboxes.get(endpoint.sandboxId))));
  return checks;
}
