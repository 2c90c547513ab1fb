/**
 * Network namespaces bound to files (<exec-root>/netns/<id12>), made by
 * skiff's addon on a thread of its own (native/sandbox.c) so no Node thread
 * ever changes namespace, and no program is started: each would cost the
 * daemon a fork of itself, more the bigger it has grown.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import { loadAddon } from './addon.js';
import { isMountPoint, unmount } from './mounts.js';

export { isMountPoint };

/**
 * Makes a network namespace bound to path, with ignore_routes_with_linkdown
 * set inside at birth: a disconnected interface loses its carrier at once but
 * is deleted after the answer, and its routes must not draw traffic meanwhile
 * (from an interface that joined the same network again). With loopbackUp,
 * lo comes up too (a first join's batch can do it instead). A failure leaves
 * neither the file nor a mount.
 */
export async function createNetnsFile(path: string, options: { loopbackUp: boolean } = { loopbackUp: true }): Promise<void> {
  await writeFile(path, '', { flag: 'wx' });
  try {
    await loadAddon().createNetns(path, options.loopbackUp);
  } catch (error) {
    const failure = new SkiffError('unavailable', `failed to create netns "${path}": ${(error as Error).message}`, { cause: error });
    try {
      await removeNetnsFile(path);
    } catch (undoError) {
      throw new SkiffError('unavailable', `${failure.message}; then removing "${path}" failed too: ${(undoError as Error).message}`, { cause: error });
    }
    throw failure;
  }
}

/** Unbinds and removes a namespace file; a missing one is success. */
export async function removeNetnsFile(path: string): Promise<void> {
  if (isMountPoint(path)) await unmount(path, { lazy: true });
  await rm(path, { force: true });
}

export async function listNetnsFiles(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  return (await readdir(dir)).map((name) => join(dir, name));
}
