/**
 * `skiff network diagnose`: what Docker cannot tell you — whether the kernel
 * still matches what skiff believes about a network. Each check reads the
 * kernel (links, addresses, sysctls, nftables elements, the sandboxes'
 * interfaces; on an overlay network also the VXLAN device, the lease and the
 * remote entries, see diagnose-overlay.ts) and says what it found; nothing is
 * changed. Links and addresses are read by netlink dumps the daemon sends
 * itself: one of its own namespace for the bridge and every host end, one
 * of each sandbox's, and no program per endpoint (beside 1,000 containers
 * two `ip` runs an endpoint took seconds).
 */
import { readInterfaces, type InterfaceState } from '../kernel/links.js';
import { isMountPoint } from '../kernel/netns.js';
import { readIpv4InterfaceSysctl, readSysctl } from '../kernel/sysctl.js';
import { hasElement, listChain } from '../firewall/index.js';
import { bridgeMac, isolatesEndpoints } from '../drivers/bridge.js';
import { overlayBridgeMac } from '../drivers/overlay.js';
import { cidrOf, type InterfaceAddress } from '../model/address.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { firewallNetworkOf } from './firewall-state.js';
import { diagnoseOverlay, type OverlayContext } from './diagnose-overlay.js';
import type { PublishedBindingState } from './published-ports.js';
import { mapBounded } from './bounded-map.js';

export interface DiagnosisCheck {
  what: string;
  ok: boolean;
  detail: string;
}

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

const listed = (addresses: readonly InterfaceAddress[]) => addresses.map(cidrOf).join(', ') || 'none';

/** route_localnet is safe only with the input rule that keeps containers off the host's 127.0.0.0/8. */
async function loopbackGuardCheck(firewallTable: string): Promise<DiagnosisCheck> {
  const what = `nft ${firewallTable} input drops new connections to 127.0.0.0/8 from outside lo (containers cannot reach the host's loopback services)`;
  const chain = await listChain(firewallTable, 'input');
  if (chain === undefined) return { what, ok: false, detail: 'no input chain: restart the daemon to restore it' };
  const guarded = /iifname != "lo" ip daddr 127\.0\.0\.0\/8 .*drop/.test(chain);
  return { what, ok: guarded, detail: guarded ? 'present' : 'rule missing: restart the daemon to restore it' };
}

/** The links of the daemon's namespace, by name: read once for the bridge and every endpoint's host end. */
type HostLinks = ReadonlyMap<string, InterfaceState>;

async function bridgeChecks(network: Network, firewallTable: string, expectedMac: string, hostLinks: HostLinks): Promise<DiagnosisCheck[]> {
  const bridgeName = network.bridge!.bridgeName;
  const link = hostLinks.get(bridgeName);
  const checks: DiagnosisCheck[] = [
    { what: `bridge ${bridgeName} exists and is up`, ok: link?.up === true, detail: link === undefined ? 'no such link' : `state ${link.operstate}` },
  ];
  if (link === undefined) return checks;
  for (const pool of network.ipam.pools) {
    const [, prefix] = pool.subnet.split('/');
    const held = link.addresses.some((address) => address.address === pool.gateway && String(address.prefix) === prefix);
    checks.push({ what: `gateway ${pool.gateway}/${prefix} on ${bridgeName}`, ok: held, detail: held ? 'present' : `addresses: ${listed(link.addresses)}` });
  }
  checks.push({
    what: `${bridgeName} keeps its own MAC`,
    ok: link.mac === expectedMac,
    detail: `${link.mac ?? '?'} (expected ${expectedMac}; a changing MAC leaves neighbours' ARP entries stale)`,
  });
  const localnet = (await readIpv4InterfaceSysctl(bridgeName, 'route_localnet')) ?? '?';
  checks.push({ what: `route_localnet on ${bridgeName} (published ports from 127.0.0.1)`, ok: localnet === '1', detail: localnet });
  checks.push(await loopbackGuardCheck(firewallTable));
  for (const { set, element, present } of expectedFirewallElements(network)) {
    const found = await hasElement(firewallTable, set, element);
    checks.push({
      what: `nft ${firewallTable} ${set} ${present ? 'holds' : 'does not hold'} ${element}`,
      ok: found === present,
      detail: found ? 'present' : 'absent',
    });
  }
  return checks;
}

/** Each published port: its DNAT element in the kernel's map (IPv4 and IPv6 alike), and the daemon's socket on it (for IPv6, the relay). */
async function publishedPortChecks(firewallTable: string, published: readonly PublishedBindingState[]): Promise<DiagnosisCheck[]> {
  const checks: DiagnosisCheck[] = [];
  for (const { binding, dnat, relayed, held } of published) {
    const where = `${binding.hostIp.includes(':') ? `[${binding.hostIp}]` : binding.hostIp}:${binding.hostPort}/${binding.protocol} -> ${binding.containerIp} port ${binding.containerPort}`;
    if (dnat !== undefined) {
      // The map's key as nft lists it: the protocol by name ("tcp . 8080"), where skiff renders its number.
      const key = dnat.element.split(' : ')[0]!.replace(/^\d+/, binding.protocol);
      const found = await hasElement(firewallTable, dnat.map, key, 'map');
      checks.push({
        what: `published ${where}: nft ${firewallTable} ${dnat.map} holds ${dnat.element}`,
        ok: found,
        detail: found ? 'present' : 'absent: restart the daemon to restore it',
      });
    }
    if (binding.protocol === 'sctp') continue;
    checks.push({
      what: `published ${where}: the daemon ${relayed ? 'relays' : 'holds'} the host port`,
      ok: held,
      detail: held ? 'listening' : 'no socket: restart the daemon to restore it',
    });
  }
  return checks;
}

/** ICC off is the ports' isolation: a port that lost it reaches its neighbours whatever the firewall holds. */
export function isolationCheck(network: Network, endpoint: Endpoint, isolated: boolean): DiagnosisCheck {
  const wanted = isolatesEndpoints(network);
  return {
    what: `${endpointLabel(endpoint)}: ${endpoint.hostIfName} is ${wanted ? '' : 'not '}an isolated bridge port (ICC ${wanted ? 'off' : 'on'})`,
    ok: isolated === wanted,
    detail: `isolated ${isolated ? 'on' : 'off'}${isolated === wanted ? '' : wanted ? ': restart the daemon to restore it' : `: bridge link set dev ${endpoint.hostIfName} isolated off`}`,
  };
}

const endpointLabel = (endpoint: Endpoint) => `endpoint ${endpoint.name} (${(endpoint.ipv4 ?? endpoint.ipv6)?.address ?? 'no address'})`;

/** The sandbox's links by name, or why its namespace could not be read (a container that ended meanwhile). */
async function sandboxLinks(netnsPath: string): Promise<ReadonlyMap<string, InterfaceState> | Error> {
  try {
    return await readInterfaces(netnsPath);
  } catch (error) {
    return error as Error;
  }
}

async function endpointChecks(network: Network, endpoint: Endpoint, sandbox: Sandbox | undefined, hostLinks: HostLinks): Promise<DiagnosisCheck[]> {
  const who = endpointLabel(endpoint);
  if (sandbox === undefined) return [{ what: `${who}: its sandbox is known`, ok: false, detail: `sandbox ${endpoint.sandboxId} missing` }];
  const mounted = isMountPoint(sandbox.netnsPath);
  const checks: DiagnosisCheck[] = [{ what: `${who}: namespace ${sandbox.netnsPath} is bound`, ok: mounted, detail: mounted ? 'bound' : 'not a mount point' }];
  if (!mounted) return checks;
  if (network.driver === 'bridge' || network.driver === 'overlay') {
    const hostSide = hostLinks.get(endpoint.hostIfName);
    checks.push({
      what: `${who}: ${endpoint.hostIfName} is a port of ${network.bridge!.bridgeName}`,
      ok: hostSide?.master === network.bridge!.bridgeName,
      detail: hostSide === undefined ? 'no such link' : `master ${hostSide.master ?? 'none'}`,
    });
    if (hostSide !== undefined) checks.push(isolationCheck(network, endpoint, hostSide.isolated === true));
  }
  const links = await sandboxLinks(sandbox.netnsPath);
  const inside = links instanceof Error ? undefined : links.get(endpoint.ifName);
  const expected = [endpoint.ipv4, endpoint.ipv6].filter((address): address is InterfaceAddress => address !== undefined);
  const held = expected.every((address) => inside?.addresses.some((present) => cidrOf(present) === cidrOf(address)));
  checks.push({
    what: `${who}: ${endpoint.ifName} inside holds ${listed(expected)}`,
    ok: inside !== undefined && held,
    detail: links instanceof Error ? links.message : inside === undefined ? 'no such interface' : listed(inside.addresses),
  });
  return checks;
}

/**
 * Endpoints whose checks run at once: each reads its namespace on a thread
 * of the addon's own (netlink-dump.c), which waits on the kernel; a few
 * overlap those waits without starting hundreds of threads at once.
 */
export const ENDPOINT_CHECKS_AT_ONCE = 16;

/** overlay is undefined when the daemon runs without --cluster-store. */
export async function diagnoseNetwork(
  network: Network,
  endpoints: Endpoint[],
  sandboxes: Map<string, Sandbox>,
  firewallTable: string,
  overlay: OverlayContext | undefined,
  published: readonly PublishedBindingState[] = [],
): Promise<DiagnosisCheck[]> {
  const forwarding = (await readSysctl('net.ipv4.ip_forward')) ?? '?';
  const hostLinks = await readInterfaces();
  const checks: DiagnosisCheck[] = [{ what: 'net.ipv4.ip_forward is on', ok: forwarding === '1', detail: forwarding }];
  if (network.driver === 'bridge' && network.bridge !== undefined) {
    checks.push(...(await bridgeChecks(network, firewallTable, bridgeMac(network.id), hostLinks)));
    checks.push(...(await publishedPortChecks(firewallTable, published)));
  }
  if (network.driver === 'overlay') {
    if (overlay === undefined) {
      checks.push({
        what: 'the daemon runs with --cluster-store (overlay networks need it)',
        ok: false,
        detail: 'no cluster store: restart the daemon with --cluster-store and --cluster-advertise',
      });
    } else {
      checks.push(...(await bridgeChecks(network, firewallTable, overlayBridgeMac(network.id, overlay.underlay.address), hostLinks)));
      checks.push(...(await diagnoseOverlay(network, endpoints, overlay)));
    }
  }
  const perEndpoint = await mapBounded(endpoints, ENDPOINT_CHECKS_AT_ONCE, (endpoint) =>
    endpointChecks(network, endpoint, sandboxes.get(endpoint.sandboxId), hostLinks),
  );
  return [...checks, ...perEndpoint.flat()];
}
