/**
 * Network namespaces bound to files (<exec-root>/netns/<id12>), made with
 * util-linux `unshare --net=FILE` so no Node thread ever changes namespace.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';

/**
 * Makes a network namespace bound to path. route_localnet is set inside at
 * birth (the one process that makes it runs sysctl there): the 127.0.0.11
 * resolver redirect needs it, and setting it now saves a process per join.
 */
export async function createNetnsFile(path: string): Promise<void> {
  await writeFile(path, '', { flag: 'wx' });
  try {
    await run('unshare', [`--net=${path}`, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
}

export function isMountPoint(path: string): boolean {
  const mounts = readFileSync('/proc/self/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === path);
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
