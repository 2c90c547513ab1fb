/** docker commit, save, load and system df: parse, one call, format. */
import type { ServerResponse } from 'node:http';
import type { Containers } from '../../containers/controller.js';
import { invalid, notFound, SkiffError } from '../../errors.js';
import type { ImageArchive } from '../../runtime/image-archive.js';
import type { ImageStore } from '../../runtime/images.js';
import { readBody, sendJson, type Router } from '../http.js';
import { diskUsageToWire } from '../wire/df.js';
import { commitOverridesFromWire, loadMessagesToWire } from '../wire/image-io.js';
import { sendTar } from './archive.js';

/** repo[:tag] of docker commit, checked as Docker checks a reference's repository. */
function commitRepoTag(query: URLSearchParams): string | undefined {
  const repo = query.get('repo') ?? '';
  const tag = query.get('tag') ?? '';
  if (repo === '') {
    if (tag !== '') throw invalid('invalid reference format: a tag needs a repository');
    return undefined;
  }
  if (repo !== repo.toLowerCase()) throw invalid('invalid reference format: repository name must be lowercase');
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repo)) throw invalid('invalid reference format');
  if (tag !== '' && !/^[\w][\w.-]{0,127}$/.test(tag)) throw invalid('invalid reference format');
  return tag === '' ? repo : `${repo}:${tag}`;
}

export function addImageIoRoutes(router: Router, containers: Containers, images: ImageStore, dataRoot: string, log: (message: string) => void): void {
  // These modules (commit, save/load, df) are loaded on their first request, not at start.
  let made: ImageArchive | undefined;
  const archive = async () => (made ??= new (await import('../../runtime/image-archive.js')).ImageArchive(images, dataRoot));

  router.add('POST', '/commit', async (request, response) => {
    const container = request.query.get('container') ?? '';
    if (container === '') throw notFound('No such container: ');
    const repoTag = commitRepoTag(request.query);
    const { commitContainer } = await import('../../containers/commit.js');
    const image = await commitContainer(containers, images, {
      container,
      ...(repoTag === undefined ? {} : { repoTag }),
      comment: request.query.get('comment') ?? '',
      author: request.query.get('author') ?? '',
      changes: request.query.getAll('changes'),
      // Docker's BoolValue, true when absent (API ≥ 1.13).
      pause: !['0', 'no', 'false', 'none'].includes((request.query.get('pause') ?? 'true').trim().toLowerCase()),
      overrides: commitOverridesFromWire((await readBody(request.raw)).toString('utf8')),
    });
    sendJson(response, 201, { Id: image.id });
  });

  const save = async (references: string[], response: ServerResponse) => {
    if (references.length === 0) throw invalid('no images to save: name at least one');
    let tar;
    try {
      tar = await (await archive()).save(references);
    } catch (error) {
      if (error instanceof SkiffError && error.kind === 'notFound') throw notFound('reference does not exist');
      throw error;
    }
    sendTar(response, tar, `save of ${references.join(', ')}`, log);
  };
  router.add('GET', '/images/get', (request, response) => save(request.query.getAll('names'), response));
  router.add('GET', '/images/{name}/get', (request, response) => save([request.params['name']!], response));

  router.add(
    'POST',
    '/images/load',
    async (request, response) => {
      const text = loadMessagesToWire(await (await archive()).load(request.raw));
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      response.end(text);
    },
    { streamsBody: true },
  );

  router.add('GET', '/system/df', async (_request, response) => {
    const { diskUsageOf } = await import('../../containers/disk-usage.js');
    sendJson(response, 200, diskUsageToWire(containers, await diskUsageOf(containers, images)));
  });
}
