import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { SkiffError } from '../errors.js';
import { loadAddon } from './addon.js';

/**
 * What mount(2) takes of its options: one page with its last byte made the
 * end. The kernel cuts a longer string short unseen (mount(8) passes the
 * same page, with the same confusing outcome), so it is refused up front.
 */
const MOUNT_OPTIONS_BYTES = 4095;

/** A container's rootfs: its image's files under its own writable layer. */
export interface OverlayLayers {
  lowerDir: string;
  upperDir: string;
  workDir: string;
}

/**
 * `mount -t overlay overlay -o lowerdir=…,upperdir=…,workdir=… target`, by
 * mount(2) from skiff's addon: a program start costs the daemon a fork of
 * itself, more the bigger it has grown.
 */
export async function mountOverlay(target: string, layers: OverlayLayers): Promise<void> {
  const options = `lowerdir=${layers.lowerDir},upperdir=${layers.upperDir},workdir=${layers.workDir}`;
  const bytes = Buffer.byteLength(options);
  if (bytes > MOUNT_OPTIONS_BYTES) {
    throw new SkiffError(
      'unavailable',
      `mount overlay on ${target}: its options are ${bytes} bytes, more than the ${MOUNT_OPTIONS_BYTES} the kernel takes (${options})`,
    );
  }
  try {
    await loadAddon().mount('overlay', target, 'overlay', options);
  } catch (error) {
    throw new SkiffError('unavailable', `mount overlay on ${target}: ${(error as Error).message} (${options})`, { cause: error });
  }
}

/** umount2(2) of target; lazy detaches it now and lets it go when its last user does (`umount --lazy`). */
export async function unmount(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  try {
    await loadAddon().unmount(target, options.lazy === true);
  } catch (error) {
    throw new SkiffError('unavailable', `unmount ${target}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Whether a filesystem of its own is mounted at path (a bound namespace
 * file: nsfs; a container's overlay rootfs). Told by the device of path
 * differing from its directory's, not by reading the mount table: that
 * table holds two lines a container, and reading it once per container made
 * a restart beside 1,000 of them take 14 s and each `rm` 15–25 ms more.
 */
export function isMountPoint(path: string): boolean {
  try {
    const mounted = statSync(path, { throwIfNoEntry: false });
    const parent = statSync(dirname(path), { throwIfNoEntry: false });
    return mounted !== undefined && parent !== undefined && mounted.dev !== parent.dev;
  } catch {
    return false; // a path through a file, say: nothing is mounted there
  }
}
