import { readFileSync } from 'node:fs';

/** Whether something is mounted at path (a bound namespace file, a container's overlay rootfs). */
export function isMountPoint(path: string): boolean {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === path);
}
