/**
 * Mounts as Docker reads them (pure, no I/O): `-v SOURCE:CTR[:OPTIONS]`
 * strings (HostConfig.Binds), `--mount` entries (HostConfig.Mounts) and
 * anonymous volumes (Config.Volumes) become one list of mount requests,
 * checked before anything is made, with Docker's messages.
 */
import { posix } from 'node:path';
import { invalid } from '../errors.js';
import type { MountRequest } from '../model/container.js';
import { checkVolumeName } from '../runtime/volumes.js';

const BIND_OPTIONS = new Set(['ro', 'rw', 'z', 'Z', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'nocopy']);

function checkTarget(kind: string, target: string): string {
  if (!posix.isAbsolute(target)) throw invalid(`invalid mount config for type "${kind}": invalid mount path: '${target}' mount path must be absolute`);
  const clean = posix.normalize(target);
  if (clean === '/') throw invalid(`invalid mount config for type "${kind}": invalid specification: destination can't be '/'`);
  return clean.replace(/\/$/, '');
}

/**
 * One `-v` string: an absolute host path is a bind (Docker creates a missing
 * source directory at start for these, unlike `--mount`, where it must
 * exist); anything else names a volume.
 */
export function parseBind(spec: string): MountRequest {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part === '')) throw invalid(`invalid volume specification: '${spec}'`);
  const [source = '', target = '', options = ''] = parts;
  const kind = posix.isAbsolute(source) ? 'bind' : 'volume';
  if (kind === 'volume') checkVolumeName(source);
  const modes = options === '' ? [] : options.split(',');
  if (modes.some((mode) => !BIND_OPTIONS.has(mode)) || (modes.includes('ro') && modes.includes('rw'))) throw invalid(`invalid mode: ${options}`);
  try {
    return {
      type: kind,
      source: kind === 'bind' ? posix.normalize(source) : source,
      target: checkTarget(kind, target),
      readOnly: modes.includes('ro'),
      createSource: true,
    };
  } catch (error) {
    throw invalid(`invalid volume specification: '${spec}': ${(error as Error).message}`);
  }
}

/** One `--mount` entry, as the wire layer read it. */
export function checkMount(mount: { type: string; source: string; target: string; readOnly: boolean }): MountRequest {
  if (mount.type === 'volume') {
    if (mount.source !== '') checkVolumeName(mount.source);
    if (mount.target === '') throw invalid('invalid mount config for type "volume": field Target must not be empty');
    return { type: 'volume', source: mount.source, target: checkTarget('volume', mount.target), readOnly: mount.readOnly, createSource: false };
  }
  if (mount.type !== 'bind') throw invalid(`skiff does not support mounts of type "${mount.type}" (--mount type=${mount.type}): only bind mounts and volumes`);
  if (mount.source === '') throw invalid('invalid mount config for type "bind": field Source must not be empty');
  if (mount.target === '') throw invalid('invalid mount config for type "bind": field Target must not be empty');
  if (!posix.isAbsolute(mount.source)) throw invalid(`invalid mount config for type "bind": invalid mount path: '${mount.source}' mount path must be absolute`);
  return { type: 'bind', source: posix.normalize(mount.source), target: checkTarget('bind', mount.target), readOnly: mount.readOnly, createSource: false };
}

/** Config.Volumes ({"/data": {}}): an anonymous volume on each path no other mount takes. */
export function anonymousVolumes(paths: readonly string[], mounts: readonly MountRequest[]): MountRequest[] {
  const taken = new Set(mounts.map((mount) => mount.target));
  return paths
    .map((path) => ({ type: 'volume' as const, source: '', target: checkTarget('volume', path), readOnly: false, createSource: false }))
    .filter((mount) => !taken.has(mount.target));
}

/** Two mounts on one path are refused, as Docker refuses them. */
export function checkDistinctTargets(mounts: readonly MountRequest[]): void {
  const seen = new Set<string>();
  for (const mount of mounts) {
    if (seen.has(mount.target)) throw invalid(`Duplicate mount point: ${mount.target}`);
    seen.add(mount.target);
  }
}
