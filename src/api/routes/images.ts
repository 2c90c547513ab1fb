/** /images routes: docker import, images, history, tag, rmi, image inspect. */
import type { Containers } from '../../containers/controller.js';
import type { ImageStore } from '../../runtime/images.js';
import { historyToWire, imageDeleteLinesToWire, imageSummaryToWire, imageToWire } from '../wire/images.js';
import { imageHistory } from '../../runtime/image-history.js';
import { notFound } from '../../errors.js';
import { parseFilters, sendJson, type Router } from '../http.js';
import { filterImages } from '../../runtime/image-filters.js';

export function addImageRoutes(router: Router, images: ImageStore, containers: Containers): void {
  router.add(
    'POST',
    '/images/create',
    async (request, response) => {
      const fromSrc = request.query.get('fromSrc');
      if (fromSrc !== '-') {
        const image = request.query.get('fromImage') ?? fromSrc ?? '';
        throw notFound(`pull access denied for ${image}, repository does not exist or may require 'docker login': skiff has no registry; use docker import`);
      }
      const repo = request.query.get('repo') ?? '';
      const tag = request.query.get('tag') ?? '';
      const image = await images.importTar(request.raw, {
        repoTag: repo === '' ? undefined : tag === '' ? repo : `${repo}:${tag}`,
        changes: request.query.getAll('changes'),
        message: request.query.get('message') ?? undefined,
      });
      sendJson(response, 200, { status: image.id });
    },
    { streamsBody: true },
  );

  router.add('GET', '/images/json', (request, response) => {
    const shown = filterImages(images.list(), parseFilters(request.query.get('filters')), (reference) => images.resolve(reference));
    sendJson(response, 200, shown.map(imageSummaryToWire));
  });

  router.add('GET', '/images/{name}/json', (request, response) => {
    sendJson(response, 200, imageToWire(images.resolve(request.params['name']!)));
  });

  router.add('GET', '/images/{name}/history', (request, response) => {
    const image = images.resolveReference(request.params['name']!);
    sendJson(response, 200, historyToWire(imageHistory(image, (id) => images.find(id))));
  });

  router.add('POST', '/images/{name}/tag', (request, response) => {
    const repo = request.query.get('repo') ?? '';
    const tag = request.query.get('tag') ?? '';
    images.tag(request.params['name']!, tag === '' ? repo : `${repo}:${tag}`);
    response.writeHead(201);
    response.end();
  });

  router.add('DELETE', '/images/{name}', async (request, response) => {
    const lines = await containers.removeImage(request.params['name']!, request.query.get('force') === '1' || request.query.get('force') === 'true');
    sendJson(response, 200, imageDeleteLinesToWire(lines));
  });
}
