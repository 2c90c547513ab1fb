/** /networks routes: parse, call one engine method, format. */
import type { Engine } from '../../engine/engine.js';
import type { Network } from '../../model/network.js';
import { networkMatches, pruneKeeps, validateNetworkFilters } from '../../engine/network-filters.js';
import { parseFilters, readJson, sendJson, sendNoContent, type Router } from '../http.js';
import { duplicateNameWarning } from '../../engine/network-plan.js';
import { networkCreateFromWire, networkToWire } from '../wire/networks.js';

export function addNetworkRoutes(router: Router, engine: Engine): void {
  const wire = (network: Network) => networkToWire(network, engine.endpointsOfNetwork(network.id));

  router.add('GET', '/networks', (request, response) => {
    const filters = parseFilters(request.query.get('filters'));
    validateNetworkFilters(filters);
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
    sendJson(response, 201, { Id: network.id, Warning: duplicateNameWarning(network, engine.listNetworks()) });
  });

  router.add('DELETE', '/networks/{id}', async (request, response) => {
    await engine.deleteNetwork(request.params['id']!);
    sendNoContent(response);
  });

  router.add('POST', '/networks/prune', async (request, response) => {
    const filters = parseFilters(request.query.get('filters'));
    // Checked before anything is removed: a bad filter changes nothing.
    const now = Date.now();
    for (const network of engine.listNetworks()) pruneKeeps(network, filters, now);
    const keep = (network: Network) => pruneKeeps(network, filters, now);
    const removed = await engine.pruneNetworks(keep);
    // Docker's report holds a nil list when nothing went.
    sendJson(response, 200, { NetworksDeleted: removed.length > 0 ? removed : null });
  });
}
