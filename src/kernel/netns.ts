/**
 * Network namespaces bound to files (<exec-root>/netns/<id12>), made with
 * util-linux `unshare --net=FILE` so no Node thread ever changes namespace.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SkiffError } from '../errors.js';
import { run, runInNetns } from './exec.js';
import { isMountPoint } from './mounts.js';

export { isMountPoint };

/**
 * Makes a network namespace bound to path, with ignore_routes_with_linkdown
 * set inside at birth (the one process that makes it runs sysctl there): a
 * disconnected interface loses its carrier at once but is deleted after the
 * answer, and its routes must not draw traffic meanwhile (from an interface
 * that joined the same network again). With loopbackUp, lo comes up too (a
 * second process; a first join's batch can do it instead).
 */
export async function createNetnsFile(path: string, options: { loopbackUp: boolean } = { loopbackUp: true }): Promise<void> {
  await writeFile(path, '', { flag: 'wx' });
  try {
    await run('unshare', [`--net=${path}`, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.ignore_routes_with_linkdown=1']);
    if (options.loopbackUp) await runInNetns(path, 'ip', ['link', 'set', 'lo', 'up']);
  } catch (error) {
    try {
      await removeNetnsFile(path);
    } catch (undoError) {
      throw new SkiffError('unavailable', `${(error as Error).message}; then removing "${path}" failed too: ${(undoError as Error).message}`, { cause: error });
    }
    throw error;
  }
}

/** Unbinds and removes a namespace file; a missing one is success. */
export async function removeNetnsFile(path: string): Promise<void> {
  if (isMountPoint(path)) await run('umount', ['--lazy', path]);
  await rm(path, { force: true });
}

export async function listNetnsFiles(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  return (await readdir(dir)).map((name) => join(dir, name));
}
