/**
 * docker rmi and the removals of docker image prune, as Docker 20.10 decides
 * them (moby daemon/images/image_delete.go): which tags go, whether the
 * image goes, and the conflicts a container using the image raises. The
 * decision is pure; `removeImage` carries it out on the store.
 */
import { conflict, SkiffError } from '../errors.js';
import type { ContainerRecord } from '../model/container.js';
import type { ListFilters } from '../model/filters.js';
import type { Image } from '../model/image.js';
import { normalizeRepoTag, type ImageStore } from '../runtime/images.js';
import { imagePrunePlan } from './prune.js';

/** A container standing on the image. */
export interface ImageUser {
  id: string;
  running: boolean;
}

export interface ImageRemoval {
  /** Tags taken off, in order (each an `Untagged:` line). */
  untag: string[];
  /** Whether the image itself goes (a `Deleted:` line). */
  deleted: boolean;
}

const id12 = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);

/** Which containers stand on the image; paused ones and those waiting out a restart back-off run, as Docker's IsRunning has them. */
export function imageUsers(records: Iterable<ContainerRecord>, imageId: string, isRestarting: (record: ContainerRecord) => boolean): ImageUser[] {
  return [...records]
    .filter((record) => record.imageId === imageId)
    .map((record) => ({ id: record.id, running: record.state.status === 'running' || isRestarting(record) }));
}

interface DeleteConflict {
  error: SkiffError;
  /** A container uses the image (not merely another tag names it). */
  used: boolean;
}

/** Docker's checkImageDeleteConflict: hard ones (a running user) always, soft ones (tags, a stopped user) unless forced. */
function deleteConflict(image: Image, remainingTags: number, users: readonly ImageUser[], force: boolean): DeleteConflict | undefined {
  const refused = (forceable: boolean, message: string) =>
    conflict(`conflict: unable to delete ${id12(image.id)} (${forceable ? 'must be forced' : 'cannot be forced'}) - ${message}`);
  const running = users.find((user) => user.running);
  if (running !== undefined) return { error: refused(false, `image is being used by running container ${id12(running.id)}`), used: true };
  if (force) return undefined;
  if (remainingTags > 0) return { error: refused(true, 'image is referenced in multiple repositories'), used: false };
  const stopped = users.find((user) => !user.running);
  if (stopped !== undefined) return { error: refused(true, `image is being used by stopped container ${id12(stopped.id)}`), used: true };
  return undefined;
}

/**
 * What removing `reference` (the name it was asked by; `image` is what it
 * resolved to) does, or Docker's conflict. By tag: that tag goes, and the
 * image only with its last tag; the last tag of an image a container uses
 * needs force, and even forced a running user keeps the image (untagged).
 * By id: an image with one tag loses it and goes; with several tags, or a
 * user, only forced, and never under a running container.
 */
export function imageRemoval(image: Image, reference: string, users: readonly ImageUser[], force: boolean): ImageRemoval {
  const repoTag = normalizeRepoTag(reference);
  const byTag = image.repoTags.includes(repoTag) && !image.id.startsWith(`sha256:${reference.replace(/^sha256:/, '')}`);
  if (byTag) {
    if (!force && image.repoTags.length === 1 && users.length > 0)
      throw conflict(
        `conflict: unable to remove repository reference "${reference}" (must force) - container ${id12(users[0]!.id)} is using its referenced image ${id12(image.id)}`,
      );
    if (image.repoTags.length > 1) return { untag: [repoTag], deleted: false };
    const found = deleteConflict(image, 0, users, force);
    if (found === undefined) return { untag: [repoTag], deleted: true };
    // The tag is gone already; a user's conflict then only keeps the image, as Docker's quiet delete does.
    if (found.used) return { untag: [repoTag], deleted: false };
    throw found.error;
  }
  // By id, a single tag goes with the image; several are a conflict of their own.
  const found = deleteConflict(image, image.repoTags.length === 1 ? 0 : image.repoTags.length, users, force);
  if (found !== undefined) throw found.error;
  return { untag: [...image.repoTags], deleted: true };
}

/**
 * Carries out `imageRemoval` on the store: the `Untagged:` / `Deleted:`
 * lines and the bytes freed. A deleted image a stopped container still
 * stands on keeps its files until that container goes.
 */
export async function removeImage(
  images: ImageStore,
  records: Iterable<ContainerRecord>,
  reference: string,
  force: boolean,
  isRestarting: (record: ContainerRecord) => boolean,
): Promise<{ lines: string[]; bytesFreed: number }> {
  const image = images.resolveReference(reference);
  const users = imageUsers(records, image.id, isRestarting);
  const removal = imageRemoval(image, reference, users, force);
  for (const tag of removal.untag) images.untag(image, tag);
  const lines = removal.untag.map((tag) => `Untagged: ${tag}`);
  if (!removal.deleted) return { lines, bytesFreed: 0 };
  const bytesFreed = await images.delete(image, { keepFiles: users.length > 0 });
  return { lines: [...lines, `Deleted: ${image.id}`], bytesFreed };
}

/**
 * docker image prune: each removal of the plan (prune.ts) that Docker's
 * conflicts allow, without force; the space reclaimed is what the deleted
 * images' directories held (an untag frees nothing).
 */
export async function pruneImages(
  images: ImageStore,
  records: Iterable<ContainerRecord>,
  filters: ListFilters,
  nowMs: number,
  isRestarting: (record: ContainerRecord) => boolean,
): Promise<{ lines: string[]; spaceReclaimed: number }> {
  const containers = [...records];
  const lines: string[] = [];
  let spaceReclaimed = 0;
  for (const { image, reference } of imagePrunePlan(images.list(), filters, nowMs)) {
    if (images.find(image.id) === undefined) continue;
    try {
      const removed = await removeImage(images, containers, reference, false, isRestarting);
      lines.push(...removed.lines);
      spaceReclaimed += removed.bytesFreed;
    } catch (error) {
      if (!(error instanceof SkiffError && error.kind === 'conflict')) throw error;
    }
  }
  return { lines, spaceReclaimed };
}
