/**
 * Docker's option names, as the CLI and compose send them (`-o KEY=VALUE`):
 * shared by the planning that reads them and the drivers that act on them.
 */

export const BRIDGE_OPTION = {
  name: 'com.docker.network.bridge.name',
  enableIcc: 'com.docker.network.bridge.enable_icc',
  enableIpMasquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBindingIpv4: 'com.docker.network.bridge.host_binding_ipv4',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
  mtu: 'com.docker.network.driver.mtu',
} as const;

export const MACVLAN_OPTION = { parent: 'parent', mode: 'macvlan_mode' } as const;

export const PREDEFINED_NETWORKS = ['bridge', 'host', 'none'] as const;
export type PredefinedNetworkName = (typeof PREDEFINED_NETWORKS)[number];

export const DEFAULT_MTU = 1500;
