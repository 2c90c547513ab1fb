/**
 * docker diff from a container's overlay upper directory: what is there was
 * added or changed, a whiteout (a 0:0 character device) was deleted, and an
 * opaque directory hides what the image had under it.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';

export type ChangeKind = 'modified' | 'added' | 'deleted';

export interface Change {
  path: string;
  kind: ChangeKind;
}

/**
 * Paths the runtime itself makes in the writable layer as mount points (as
 * Docker keeps them in a container's init layer, apart from its changes).
 */
export const RUNTIME_MOUNT_POINTS = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev', '/proc', '/sys']);

/** What the walk found at one path of the upper directory, and what the image has there. */
export interface UpperEntry {
  path: string;
  whiteout: boolean;
  directory: boolean;
  /** The image's entry at that path, or undefined. */
  inImage: { directory: boolean; mode: number; uid: number; gid: number } | undefined;
  mode: number;
  uid: number;
  gid: number;
  /** Children the image has under this directory that the merged view no longer shows (an opaque directory). */
  hiddenImageChildren: string[];
}

/**
 * The changes, sorted by path: a directory that exists in the image counts
 * as changed only when something under it changed or its owner or mode did
 * (overlayfs copies a directory up for a change under it).
 */
export function classifyChanges(entries: readonly UpperEntry[]): Change[] {
  const changes: Change[] = [];
  // Deepest first, so that a directory knows whether anything under it changed.
  const kept = entries.filter((entry) => !RUNTIME_MOUNT_POINTS.has(entry.path)).sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
  for (const entry of kept) {
    for (const child of entry.hiddenImageChildren) changes.push({ path: posix.join(entry.path, child), kind: 'deleted' });
    if (entry.whiteout) {
      if (entry.inImage !== undefined) changes.push({ path: entry.path, kind: 'deleted' });
    } else if (entry.inImage === undefined) changes.push({ path: entry.path, kind: 'added' });
    else {
      const metadataChanged = entry.mode !== entry.inImage.mode || entry.uid !== entry.inImage.uid || entry.gid !== entry.inImage.gid;
      const changedUnder = changes.some((change) => change.path.startsWith(`${entry.path}/`));
      if (!entry.directory || !entry.inImage.directory || metadataChanged || changedUnder) changes.push({ path: entry.path, kind: 'modified' });
    }
  }
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined; // not in that layer
  }
}

/** Walks the upper directory (the I/O half of docker diff); merged is the mounted rootfs, lower the image's. */
export function readUpper(upper: string, lower: string, merged: string): UpperEntry[] {
  const entries: UpperEntry[] = [];
  const visit = (relative: string) => {
    for (const name of readdirSync(join(upper, relative))) {
      const path = posix.join('/', relative, name);
      const stats = lstatSync(join(upper, path));
      const image = lstatOrUndefined(join(lower, path));
      const whiteout = stats.isCharacterDevice() && stats.rdev === 0;
      const directory = stats.isDirectory();
      const hidden =
        directory && image?.isDirectory() === true
          ? readdirSync(join(lower, path)).filter(
              (child) => lstatOrUndefined(join(merged, path, child)) === undefined && lstatOrUndefined(join(upper, path, child)) === undefined,
            )
          : [];
      entries.push({
        path,
        whiteout,
        directory,
        inImage: image === undefined ? undefined : { directory: image.isDirectory(), mode: image.mode, uid: image.uid, gid: image.gid },
        mode: stats.mode,
        uid: stats.uid,
        gid: stats.gid,
        hiddenImageChildren: hidden,
      });
      if (directory) visit(path);
    }
  };
  visit('/');
  return entries;
}
