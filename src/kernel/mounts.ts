import { statSync } from 'node:fs';
import { dirname } from 'node:path';

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
