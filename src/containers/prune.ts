/**
 * docker container/image/volume/builder prune as pure decisions (Docker
 * 20.10's daemon/prune.go and daemon/images/image_prune.go): which objects
 * go, with the keys each prune accepts and Docker's errors for the rest.
 */
import { invalid, SkiffError } from '../errors.js';
import type { ContainerRecord } from '../model/container.js';
import type { ListFilters } from '../model/filters.js';
import type { Image } from '../model/image.js';
import { checkFilterKeys, pruneLabelsMatch, pruneUntil } from '../model/prune-filters.js';
import { millisecondsOf, parseGoDuration } from '../model/timestamps.js';

/**
 * Stopped containers created before `until` whose labels match. A container
 * waiting out its restart back-off counts as running, as Docker's
 * "restarting" one does.
 */
export function containersToPrune(
  records: Iterable<ContainerRecord>,
  filters: ListFilters,
  nowMs: number,
  isRestarting: (record: ContainerRecord) => boolean,
): ContainerRecord[] {
  checkFilterKeys(filters, ['label', 'label!', 'until']);
  const until = pruneUntil(filters, nowMs);
  return [...records].filter(
    (record) =>
      // Stopped ones only: a running (or paused) container stays, as Docker's IsRunning keeps it.
      (record.state.status === 'created' || record.state.status === 'exited') &&
      !isRestarting(record) &&
      (until === undefined || millisecondsOf(record.created) <= until) &&
      pruneLabelsMatch(filters, record.config.labels),
  );
}

/** One step of an image prune: remove the reference (a tag, or the id of an untagged image). */
export interface ImagePruneStep {
  image: Image;
  reference: string;
}

/**
 * The removals an image prune tries, in Docker's order. Without
 * `dangling=false` only untagged images; with it every image, each tag
 * removed in turn (lexical order). The caller skips a removal that would
 * delete an image a container uses, as Docker's conflict skips it: with two
 * tags, the first is untagged and the image stays under the second.
 */
export function imagePrunePlan(images: readonly Image[], filters: ListFilters, nowMs: number): ImagePruneStep[] {
  checkFilterKeys(filters, ['dangling', 'label', 'label!', 'until']);
  const dangling = filters.get('dangling');
  let danglingOnly = true;
  if (dangling !== undefined) {
    if (dangling.includes('false') || dangling.includes('0')) danglingOnly = false;
    else if (!dangling.includes('true') && !dangling.includes('1')) throw invalid(`Invalid filter 'dangling=[${dangling.join(' ')}]'`);
  }
  const until = pruneUntil(filters, nowMs);
  return images
    .filter((image) => (until === undefined || millisecondsOf(image.created) <= until) && pruneLabelsMatch(filters, image.config.labels))
    .flatMap((image) => {
      if (image.repoTags.length === 0) return [{ image, reference: image.id }];
      if (danglingOnly) return [];
      return [...image.repoTags].sort().map((reference) => ({ image, reference }));
    });
}

/** docker volume prune (20.10): `label` and `label!` only; volumes no container mounts. */
export function volumesToPrune<V extends { name: string; labels: Record<string, string> }>(
  volumes: readonly V[],
  filters: ListFilters,
  inUse: (name: string) => boolean,
): V[] {
  checkFilterKeys(filters, ['label', 'label!']);
  return volumes.filter((volume) => !inUse(volume.name) && pruneLabelsMatch(filters, volume.labels));
}

const BUILD_CACHE_FILTERS = ['description', 'id', 'inuse', 'label', 'label!', 'parent', 'private', 'shared', 'type', 'unused-for', 'until'];

/**
 * docker builder prune (and the last step of docker system prune): skiff
 * builds nothing, so there is never a cache to remove; the query is still
 * checked as dockerd's BuildKit checks it.
 */
export function checkBuildCachePrune(filters: ListFilters, keepStorage: string | null): void {
  if (keepStorage !== null && keepStorage !== '' && !/^[-+]?\d+$/.test(keepStorage))
    throw new SkiffError(
      'internal',
      `keep-storage is in bytes and expects an integer, got ${keepStorage}: strconv.Atoi: parsing "${keepStorage}": invalid syntax`,
    );
  for (const [key, values] of filters) {
    if (!BUILD_CACHE_FILTERS.includes(key)) throw invalid(`failed to prune build cache: Invalid filter '${key}'`);
    if (values.length > 1) throw invalid('failed to prune build cache: filters expect only one value');
  }
  for (const key of ['until', 'unused-for']) {
    const value = filters.get(key)?.[0];
    if (value !== undefined && parseGoDuration(value) === undefined)
      throw new SkiffError(
        'internal',
        `failed to prune build cache: "${key}" filter expects a duration (e.g., '24h'): time: invalid duration ${JSON.stringify(value)}`,
      );
  }
}
