/** /networks routes: parse, call one engine method, format. */
import type { Engine } from '../../engine/engine.js';
import type { Network } from '../../model/network.js';
import { PREDEFINED_NETWORKS } from '../../model/options.js';
import { invalid } from '../../errors.js';
import { parseFilters, readJson, sendJson, sendNoContent, type Router } from '../http.js';
import { networkCreateFromWire, networkToWire } from '../wire/networks.js';

const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

function labelMatches(network: Network, wanted: string): boolean {
  const [key, value] = wanted.split('=', 2) as [string, string | undefined];
  if (!(key in network.labels)) return false;
  return value === undefined || network.labels[key] === value;
}

/** Docker's network filters: name and id match substrings/prefixes, the rest exactly; values of one key are OR'ed, keys AND'ed. */
export function networkMatches(network: Network, filters: Map<string, string[]>, endpointCount: number): boolean {
  const isPredefined = (PREDEFINED_NETWORKS as readonly string[]).includes(network.name);
  const checks: Record<string, (value: string) => boolean> = {
    name: (value) => network.name.includes(value),
    id: (value) => network.id.startsWith(value),
    driver: (value) => network.driver === value,
    scope: (value) => network.scope === value,
    label: (value) => labelMatches(network, value),
    type: (value) => {
      if (value !== 'custom' && value !== 'builtin') throw invalid(`invalid filter: 'type'='${value}'`);
      return value === 'builtin' ? isPredefined : !isPredefined;
    },
    dangling: (value) => {
      const dangling = value === 'true' || value === '1';
      if (!['true', '1', 'false', '0'].includes(value)) throw invalid(`invalid filter 'dangling=${value}'`);
      return dangling === (endpointCount === 0 && !isPredefined);
    },
  };
  for (const [key, values] of filters) {
    const check = checks[key];
    if (check === undefined) throw invalid(`invalid filter '${key}'`);
    if (!values.some(check)) return false;
  }
  return true;
}

export function addNetworkRoutes(router: Router, engine: Engine): void {
  const wire = (network: Network) => networkToWire(network, engine.endpointsOfNetwork(network.id));

  router.add('GET', '/networks', (request, response) => {
    const filters = parseFilters(request.query.get('filters'));
    for (const key of filters.keys()) if (!LIST_FILTERS.includes(key)) throw invalid(`invalid filter '${key}'`);
    const networks = engine.listNetworks().filter((network) => networkMatches(network, filters, engine.endpointsOfNetwork(network.id).length));
    sendJson(response, 200, networks.map(wire));
  });

  router.add('GET', '/networks/{id}', (request, response) => {
    sendJson(response, 200, wire(engine.getNetwork(request.params['id']!)));
  });

  // skiff's own: the kernel checked against what skiff believes (not a Docker route).
  router.add('GET', '/networks/{id}/diagnose', async (request, response) => {
    sendJson(response, 200, await engine.diagnoseNetwork(request.params['id']!));
  });

  router.add('POST', '/networks/create', async (request, response) => {
    const network = await engine.createNetwork(networkCreateFromWire(await readJson(request.raw)));
    sendJson(response, 201, { Id: network.id, Warning: '' });
  });

  router.add('DELETE', '/networks/{id}', async (request, response) => {
    await engine.deleteNetwork(request.params['id']!);
    sendNoContent(response);
  });

  router.add('POST', '/networks/prune', async (request, response) => {
    const filters = parseFilters(request.query.get('filters'));
    for (const key of filters.keys()) if (key !== 'label' && key !== 'label!' && key !== 'until') throw invalid(`invalid filter '${key}'`);
    const keep = (network: Network) => {
      const labels = filters.get('label');
      const notLabels = filters.get('label!');
      if (labels !== undefined && !labels.every((label) => labelMatches(network, label))) return true;
      if (notLabels !== undefined && notLabels.some((label) => labelMatches(network, label))) return true;
      return false;
    };
    const removed = await engine.pruneNetworks(keep);
    sendJson(response, 200, { NetworksDeleted: removed });
  });
}
