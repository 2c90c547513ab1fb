/** The prune routes docker container/image/builder/system prune call: parse, one call, format as Docker 20.10. */
import type { Containers } from '../../containers/controller.js';
import { checkBuildCachePrune } from '../../containers/prune.js';
import { parseFilters, sendJson, type Router } from '../http.js';
import { imageDeleteLinesToWire } from '../wire/images.js';

export function addPruneRoutes(router: Router, containers: Containers): void {
  router.add('POST', '/containers/prune', async (request, response) => {
    const { ids, spaceReclaimed } = await containers.pruneContainers(parseFilters(request.query.get('filters')));
    // Docker's report holds a nil list when nothing went.
    sendJson(response, 200, { ContainersDeleted: ids.length > 0 ? ids : null, SpaceReclaimed: spaceReclaimed });
  });

  router.add('POST', '/images/prune', async (request, response) => {
    const { lines, spaceReclaimed } = await containers.pruneImages(parseFilters(request.query.get('filters')));
    sendJson(response, 200, { ImagesDeleted: lines.length > 0 ? imageDeleteLinesToWire(lines) : null, SpaceReclaimed: spaceReclaimed });
  });

  // skiff builds no images: there is never a build cache, and docker system prune goes on past this step.
  router.add('POST', '/build/prune', (request, response) => {
    checkBuildCachePrune(parseFilters(request.query.get('filters')), request.query.get('keep-storage'));
    sendJson(response, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });
}
