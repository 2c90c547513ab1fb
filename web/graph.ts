/**
 * The topology as Cytoscape elements: each network a box (compound node)
 * with its driver, subnet, gateway, bridge and flags; a container on one
 * network inside its box, a container on several outside them with an edge
 * to its endpoint in each; host-mode containers and the published ports in
 * the host's box, each port an arrow to its container; none-mode containers
 * in none's box; container:<id> joiners linked to the container whose
 * namespace they share.
 */
import type { ElementDefinition } from 'cytoscape';
import type { ModelEndpoint, ModelNetwork, Topology } from './model.js';

const lines = (...parts: Array<string | false | undefined>) =>
  parts.filter((part): part is string => part !== false && part !== undefined && part !== '').join('\n');

function box(network: ModelNetwork): ElementDefinition {
  const flags = [network.internal && 'internal', network.iccOff && 'ICC off'].filter(Boolean).join(', ');
  const details =
    network.driver === 'bridge'
      ? `${network.subnet} gw ${network.gateway} · ${network.bridge}`
      : network.driver === 'host'
        ? "the host's own network stack"
        : network.driver === 'null'
          ? 'loopback only'
          : network.subnet;
  return { data: { id: `net:${network.id}`, label: lines(`${network.name} (${network.driver})`, details, flags) }, classes: `network ${network.driver}` };
}

const endpointLabel = (endpoint: ModelEndpoint) => lines(endpoint.ipv4, endpoint.mac, endpoint.aliases.length > 0 && `aliases: ${endpoint.aliases.join(', ')}`);

export function topologyElements(topology: Topology): ElementDefinition[] {
  const elements: ElementDefinition[] = topology.networks.map(box);
  const hostBox = topology.networks.find((network) => network.driver === 'host');
  const noneBox = topology.networks.find((network) => network.driver === 'null');
  for (const container of topology.containers) {
    const node = `ctr:${container.id}`;
    const endpoints = topology.networks.flatMap((network) =>
      network.endpoints.filter((endpoint) => endpoint.containerId === container.id).map((endpoint) => ({ network, endpoint })),
    );
    if (endpoints.length === 1) {
      const { network, endpoint } = endpoints[0]!;
      elements.push({
        data: { id: node, parent: `net:${network.id}`, label: lines(container.name, endpointLabel(endpoint)), name: container.name },
        classes: 'container',
      });
    } else {
      const parent = container.networkMode === 'host' ? hostBox : container.networkMode === 'none' ? noneBox : undefined;
      const mode = container.networkMode.startsWith('container:') ? container.networkMode : endpoints.length === 0 ? `--network ${container.networkMode}` : '';
      elements.push({
        data: {
          id: node,
          parent: endpoints.length === 0 && parent !== undefined ? `net:${parent.id}` : undefined,
          label: lines(container.name, mode),
          name: container.name,
        },
        classes: endpoints.length > 1 ? 'container multi' : 'container',
      });
      for (const { network, endpoint } of endpoints) {
        const id = `ep:${container.id}:${network.id}`;
        elements.push({ data: { id, parent: `net:${network.id}`, label: endpointLabel(endpoint) }, classes: 'endpoint' });
        elements.push({ data: { id: `link:${id}`, source: node, target: id }, classes: 'attachment' });
      }
    }
    if (container.networkMode.startsWith('container:')) {
      const shared = container.networkMode.slice('container:'.length);
      const owner = topology.containers.find((other) => other.id === shared || other.name === shared);
      if (owner !== undefined)
        elements.push({ data: { id: `shares:${container.id}`, source: node, target: `ctr:${owner.id}`, label: 'shares its namespace' }, classes: 'shares' });
    }
    for (const port of container.ports) {
      const id = `port:${port.hostIp}:${port.hostPort}/${port.containerPort.split('/')[1] ?? 'tcp'}`;
      elements.push({
        data: {
          id,
          parent: hostBox === undefined ? undefined : `net:${hostBox.id}`,
          label: `${port.hostIp.includes(':') ? `[${port.hostIp}]` : port.hostIp}:${port.hostPort}`,
        },
        classes: 'port',
      });
      elements.push({ data: { id: `publish:${id}:${container.id}`, source: id, target: node, label: port.containerPort }, classes: 'published' });
    }
  }
  return elements;
}
