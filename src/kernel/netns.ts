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
 * (from an interface that joined the same network again). IPv6 starts off,
 * on lo and on every interface made in it later, as in Docker's sandboxes
 * (setInterfaceIpv6 turns it on for an endpoint with an IPv6 address): an
 * interface without it sends no duplicate-address probes or multicast
 * reports, which a bridge floods to every port. With loopbackUp, lo comes up
 * too (a first join's batch can do it instead). A failure leaves neither the
 * file nor a mount.
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

/** Turns IPv6 on or off for one interface (lo too) of the namespace bound at path. */
export async function setInterfaceIpv6(path: string, ifName: string, enabled: boolean): Promise<void> {
  try {
    await loadAddon().setNetnsSysctl(path, `net/ipv6/conf/${ifName}/disable_ipv6`, enabled ? '0' : '1');
  } catch (error) {
    throw new SkiffError('unavailable', `failed to turn IPv6 ${enabled ? 'on' : 'off'} for ${ifName} in netns "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Writes sysctls (keys as paths under /proc/sys/net, e.g. net/ipv4/ip_forward) inside the namespace bound at path, in order; the first refused stops. */
export async function setNetnsSysctls(path: string, entries: ReadonlyArray<{ key: string; value: string }>): Promise<void> {
  for (const { key, value } of entries) {
    if (Buffer.byteLength(key) > 250 || Buffer.byteLength(value) > 250)
      throw new SkiffError('invalid', `sysctl "${key}": the name and the value must each be under 250 bytes`);
    await loadAddon().setNetnsSysctl(path, key, value);
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
