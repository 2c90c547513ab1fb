/** /volumes routes: parse, one call, format. */
import type { Containers } from '../../containers/controller.js';
import { invalid } from '../../errors.js';
import { parseFilters, readJson, sendJson, sendNoContent, type Router } from '../http.js';
import { volumeCreateFromWire, volumeToWire } from '../wire/volumes.js';

export function addVolumeRoutes(router: Router, containers: Containers): void {
  const toWire = (name: string) => volumeToWire(containers.volumes.get(name), containers.volumes.dataPath(name));

  router.add('GET', '/volumes', (request, response) => {
    if (parseFilters(request.query.get('filters')).size > 0) throw invalid('skiff does not support filters of docker volume ls');
    sendJson(response, 200, { Volumes: containers.volumes.list().map((volume) => toWire(volume.name)), Warnings: null });
  });

  router.add('POST', '/volumes/create', async (request, response) => {
    const { name, labels } = volumeCreateFromWire(await readJson(request.raw));
    const volume = await containers.createVolume(name, labels);
    sendJson(response, 201, toWire(volume.name));
  });

  router.add('GET', '/volumes/{name}', (request, response) => {
    sendJson(response, 200, toWire(request.params['name']!));
  });

  router.add('DELETE', '/volumes/{name}', async (request, response) => {
    await containers.removeVolume(request.params['name']!);
    sendNoContent(response);
  });

  router.add('POST', '/volumes/prune', async (request, response) => {
    const { names, spaceReclaimed } = await containers.pruneVolumes(parseFilters(request.query.get('filters')));
    sendJson(response, 200, { VolumesDeleted: names, SpaceReclaimed: spaceReclaimed });
  });
}
