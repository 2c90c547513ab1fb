/** The firewall's view of the engine's state: a pure projection. */
import type { FirewallNetwork, FirewallPort, FirewallState } from '../firewall/index.js';
import type { Network } from '../model/network.js';

export function firewallNetworkOf(network: Network): FirewallNetwork | undefined {
  if ((network.driver !== 'bridge' && network.driver !== 'overlay') || network.bridge === undefined) return undefined;
  const subnets = network.ipam.pools.map((pool) => pool.subnet);
  return {
    id: network.id,
    bridgeName: network.bridge.bridgeName,
    subnets4: subnets.filter((subnet) => !subnet.includes(':')),
    subnets6: subnets.filter((subnet) => subnet.includes(':')),
    icc: network.bridge.enableIcc,
    internal: network.internal,
    masquerade: network.bridge.enableIpMasquerade && !network.internal,
  };
}

export function firewallStateOf(networks: Iterable<Network>, ports: FirewallPort[]): FirewallState {
  const firewallNetworks: FirewallNetwork[] = [];
  for (const network of networks) {
    const projected = firewallNetworkOf(network);
    if (projected !== undefined) firewallNetworks.push(projected);
  }
  return { networks: firewallNetworks, ports };
}
