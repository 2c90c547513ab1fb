/**
 * docker history as Docker 20.10 answers it (moby daemon/images/image_history.go):
 * the image's steps newest first; the newest carries the image's id and tags,
 * the next its parent's (a commit's parent), and so on while the parents are
 * still there; the rest are "<missing>". Pure.
 */
import type { Image, ImageHistoryEntry } from '../model/image.js';

export interface HistoryItem {
  /** An image id, or "<missing>" for a step no local image stands for. */
  id: string;
  step: ImageHistoryEntry;
  /** The tags of the image `id` names (empty for "<missing>" and untagged images). */
  tags: string[];
}

/** The steps an image made before skiff kept them had: one, the image itself. */
export function historyOf(image: Image): ImageHistoryEntry[] {
  return image.history ?? [{ created: image.created, createdBy: '', comment: image.comment, size: image.size, emptyLayer: false }];
}

export function imageHistory(image: Image, findById: (id: string) => Image | undefined): HistoryItem[] {
  const items: HistoryItem[] = historyOf(image)
    .map((step) => ({ id: '<missing>', step, tags: [] as string[] }))
    .reverse();
  let current: Image | undefined = image;
  for (const item of items) {
    if (current === undefined) break;
    item.id = current.id;
    item.tags = current.repoTags;
    current = current.parent === undefined ? undefined : findById(current.parent);
  }
  return items;
}
