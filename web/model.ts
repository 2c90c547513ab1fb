/**
 * The topology as the page draws it, built from the daemon's own answers
 * (GET /networks and each running container's inspect): networks with the
 * endpoints on them, containers with their networks, published ports. Pure,
 * so the browser test can compare it with `docker network inspect`.
 */

export interface WireNetwork {
  Id: string;
  Name: string;
  Driver: string;
  Internal: boolean;
  IPAM: { Config: Array<{ Subnet?: string; Gateway?: string }> | null };
  Options: Record<string, string> | null;
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string }> | null;
}

export interface WireContainer {
  Id: string;
  Name: string;
  State: { Status: string };
  HostConfig: { NetworkMode: string };
  NetworkSettings: {
    Networks: Record<string, { NetworkID: string; IPAddress: string; MacAddress: string; Aliases: string[] | null }> | null;
    Ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> | null;
  };
}

export interface ModelEndpoint {
  containerId: string;
  name: string;
  ipv4: string;
  mac: string;
  aliases: string[];
}

export interface ModelNetwork {
  id: string;
  name: string;
  driver: string;
  subnet: string;
  gateway: string;
  bridge: string;
  internal: boolean;
  iccOff: boolean;
  endpoints: ModelEndpoint[];
}

export interface ModelContainer {
  id: string;
  name: string;
  /** bridge, a network name, host, none or container:<id>. */
  networkMode: string;
  /** Network ids it has an endpoint on. */
  networks: string[];
  ports: Array<{ hostIp: string; hostPort: string; containerPort: string }>;
}

export interface Topology {
  networks: ModelNetwork[];
  containers: ModelContainer[];
}

function bridgeOf(network: WireNetwork): string {
  if (network.Driver !== 'bridge') return '';
  return network.Options?.['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`;
}

export function buildTopology(networks: readonly WireNetwork[], containers: readonly WireContainer[]): Topology {
  const byId = new Map(containers.map((container) => [container.Id, container]));
  const modelNetworks = networks.map((network): ModelNetwork => {
    const pool = network.IPAM.Config?.find((config) => config.Subnet !== undefined && !config.Subnet.includes(':'));
    return {
      id: network.Id,
      name: network.Name,
      driver: network.Driver,
      subnet: pool?.Subnet ?? '',
      gateway: pool?.Gateway ?? '',
      bridge: bridgeOf(network),
      internal: network.Internal,
      iccOff: network.Options?.['com.docker.network.bridge.enable_icc'] === 'false',
      endpoints: Object.entries(network.Containers ?? {})
        .map(([containerId, endpoint]) => ({
          containerId,
          name: endpoint.Name,
          ipv4: endpoint.IPv4Address.split('/')[0] ?? '',
          mac: endpoint.MacAddress,
          // Docker adds the short id to the aliases: the page shows the ones a person gave.
          aliases: (byId.get(containerId)?.NetworkSettings.Networks?.[network.Name]?.Aliases ?? []).filter((alias) => alias !== containerId.slice(0, 12)),
        }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    };
  });
  const modelContainers = containers
    .filter((container) => container.State.Status === 'running')
    .map((container): ModelContainer => ({
      id: container.Id,
      name: container.Name.replace(/^\//, ''),
      networkMode: container.HostConfig.NetworkMode,
      networks: modelNetworks.filter((network) => network.endpoints.some((endpoint) => endpoint.containerId === container.Id)).map((network) => network.id),
      ports: Object.entries(container.NetworkSettings.Ports ?? {}).flatMap(([containerPort, bindings]) =>
        (bindings ?? []).map((binding) => ({ hostIp: binding.HostIp, hostPort: binding.HostPort, containerPort })),
      ),
    }));
  return { networks: modelNetworks, containers: modelContainers };
}
