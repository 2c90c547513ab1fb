/**
 * Mounts as Docker reads them (pure, no I/O): `-v SOURCE:CTR[:OPTIONS]`
 * strings (HostConfig.Binds), `--mount` entries (HostConfig.Mounts) and
 * anonymous volumes (Config.Volumes) become one list of mount requests,
 * checked before anything is made, with Docker's messages.
 */
import { posix } from 'node:path';
import { invalid, SkiffError } from '../errors.js';
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
export function checkMount(mount: {
  type: string;
  source: string;
  target: string;
  readOnly: boolean;
  tmpfs?: { sizeBytes: number; mode: number };
}): MountRequest {
  const config = `invalid mount config for type "${mount.type}"`;
  if (mount.type === 'tmpfs') {
    if (mount.target === '') throw invalid(`${config}: field Target must not be empty`);
    if (mount.source !== '') throw invalid(`${config}: field Source must not be specified`);
    const target = checkTarget('tmpfs', mount.target);
    return { type: 'tmpfs', source: '', target, readOnly: mount.readOnly, createSource: false, ...(mount.tmpfs === undefined ? {} : { tmpfs: mount.tmpfs }) };
  }
  if (mount.tmpfs !== undefined && (mount.type === 'bind' || mount.type === 'volume')) throw invalid(`${config}: field TmpfsOptions must not be specified`);
  if (mount.type === 'volume') {
    if (mount.source !== '') checkVolumeName(mount.source);
    if (mount.target === '') throw invalid(`${config}: field Target must not be empty`);
    return { type: 'volume', source: mount.source, target: checkTarget('volume', mount.target), readOnly: mount.readOnly, createSource: false };
  }
  if (mount.type !== 'bind') throw invalid(`skiff does not support mounts of type "${mount.type}" (--mount type=${mount.type}): only bind, volume and tmpfs`);
  if (mount.source === '') throw invalid(`${config}: field Source must not be empty`);
  if (mount.target === '') throw invalid(`${config}: field Target must not be empty`);
  if (!posix.isAbsolute(mount.source)) throw invalid(`${config}: invalid mount path: '${mount.source}' mount path must be absolute`);
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

/** HostConfig.Tmpfs paths, checked at create as Docker checks them (its options are checked when mounted). */
export function checkTmpfsPaths(tmpfs: Readonly<Record<string, string>>, binds: readonly MountRequest[]): void {
  for (const path of Object.keys(tmpfs)) {
    if (path === '/') throw invalid("invalid specification: destination can't be '/'");
    if (!posix.isAbsolute(path)) throw invalid(`invalid mount path: '${path}' mount path must be absolute`);
    if (binds.some((bind) => bind.target === checkTarget('tmpfs', path))) throw invalid(`Duplicate mount point: ${path}`);
  }
}

/** mount.MergeTmpfsOptions's vocabulary: flags (keyed by what they set, so `exec` after `noexec` replaces it) and data options. */
const TMPFS_FLAGS: Record<string, string> = {
  ro: 'rdonly',
  rw: 'rdonly',
  suid: 'nosuid',
  nosuid: 'nosuid',
  dev: 'nodev',
  nodev: 'nodev',
  exec: 'noexec',
  noexec: 'noexec',
  sync: 'sync',
  async: 'sync',
  dirsync: 'dirsync',
  remount: 'remount',
  mand: 'mand',
  nomand: 'mand',
  atime: 'noatime',
  noatime: 'noatime',
  diratime: 'nodiratime',
  nodiratime: 'nodiratime',
  bind: 'bind',
  rbind: 'rbind',
  relatime: 'relatime',
  norelatime: 'relatime',
  strictatime: 'strictatime',
  nostrictatime: 'strictatime',
  // One propagation mode.
  private: 'propagation',
  rprivate: 'propagation',
  shared: 'propagation',
  rshared: 'propagation',
  slave: 'propagation',
  rslave: 'propagation',
  unbindable: 'propagation',
  runbindable: 'propagation',
};
const TMPFS_DATA = new Set(['size', 'mode', 'uid', 'gid', 'nr_inodes', 'nr_blocks', 'mpol']);

/**
 * The OCI options of a tmpfs mount as dockerd makes them: Docker's defaults
 * (noexec, nosuid, nodev, rprivate) then the user's, a later option replacing
 * an earlier one of its kind; an unknown one gets Docker's error (at start,
 * as dockerd checks them).
 */
export function tmpfsMountOptions(data: string): string[] {
  const options = ['noexec', 'nosuid', 'nodev', 'rprivate', ...(data === '' ? [] : data.split(','))];
  const seen = new Set<string>();
  const merged: string[] = [];
  for (const option of options.reverse()) {
    if (option === 'defaults') continue;
    const flag = TMPFS_FLAGS[option];
    const separator = option.indexOf('=');
    const key = flag ?? (separator > 0 && TMPFS_DATA.has(option.slice(0, separator)) ? `data:${option.slice(0, separator)}` : undefined);
    if (key === undefined) {
      const parts = separator < 0 ? [option] : [option.slice(0, separator), option.slice(separator + 1)];
      throw new SkiffError('internal', `invalid tmpfs option [${parts.map((part) => JSON.stringify(part)).join(' ')}]`);
    }
    if (seen.has(key)) continue;
    seen.add(key);
    merged.unshift(option);
  }
  return merged;
}

/** --mount type=tmpfs's options as the data string dockerd makes of them (ConvertTmpfsOptions: the size in the largest unit that divides it). */
export function tmpfsDataOf(mount: MountRequest): string {
  const options = mount.readOnly ? ['ro'] : [];
  const { sizeBytes = 0, mode = 0 } = mount.tmpfs ?? {};
  if (mode !== 0) options.push(`mode=${mode.toString(8)}`);
  if (sizeBytes !== 0) {
    const unit = (
      [
        ['g', 2 ** 30],
        ['m', 2 ** 20],
        ['k', 2 ** 10],
      ] as const
    ).find(([, divisor]) => sizeBytes % divisor === 0);
    options.push(unit === undefined ? `size=${sizeBytes}` : `size=${sizeBytes / unit[1]}${unit[0]}`);
  }
  return options.join(',');
}

/** One --volumes-from entry: the container it names and whether its mounts are made read-only (ParseVolumesFrom). */
export function parseVolumesFrom(spec: string): { container: string; readOnly: boolean } {
  if (spec === '') throw invalid('volumes-from specification cannot be an empty string');
  const separator = spec.indexOf(':');
  const container = separator < 0 ? spec : spec.slice(0, separator);
  const mode = separator < 0 ? '' : spec.slice(separator + 1);
  const options = mode === '' ? [] : mode.split(',');
  // At most one of ro/rw and one of z/Z; propagation and nocopy are refused for volumes-from.
  const valid =
    options.every((option) => ['ro', 'rw', 'z', 'Z'].includes(option)) &&
    options.filter((option) => option === 'ro' || option === 'rw').length <= 1 &&
    options.filter((option) => option === 'z' || option === 'Z').length <= 1;
  if (!valid) throw invalid(`invalid mode: ${mode}`);
  if (container === '') throw invalid('invalid name or ID supplied: ""');
  return { container, readOnly: options.includes('ro') };
}

/**
 * What --volumes-from takes of another container: its binds and volumes
 * (tmpfs mounts are its own), read-only when either side says so. Docker
 * keeps the copies, not the reference: they stay when the other container goes.
 */
export function copyMounts(source: { id: string; hostConfig: { mounts: readonly MountRequest[] } }, readOnly: boolean): MountRequest[] {
  return source.hostConfig.mounts
    .filter((mount) => mount.type !== 'tmpfs')
    .map((mount) => ({
      type: mount.type,
      source: mount.source,
      target: mount.target,
      readOnly: mount.readOnly || readOnly,
      createSource: false,
      copiedFrom: source.id,
    }));
}

/**
 * A container's own mounts with the copied ones: the container's -v and
 * --mount win on a path both have, and a copied mount wins over an
 * anonymous volume of Config.Volumes (Docker skips a path already mounted).
 */
export function withCopiedMounts(own: readonly MountRequest[], copied: readonly MountRequest[], anonymousPaths: readonly string[]): MountRequest[] {
  const isAnonymous = (mount: MountRequest) => mount.type === 'volume' && mount.source === '' && anonymousPaths.includes(mount.target);
  const ownTargets = new Set(own.filter((mount) => !isAnonymous(mount)).map((mount) => mount.target));
  const byTarget = new Map<string, MountRequest>();
  for (const mount of copied) if (!ownTargets.has(mount.target)) byTarget.set(mount.target, mount);
  return [...byTarget.values(), ...own.filter((mount) => !(isAnonymous(mount) && byTarget.has(mount.target)))];
}

/** The tmpfs mounts of a container at start: --tmpfs, then --mount type=tmpfs (mounted over a --tmpfs of the same path, as dockerd does). */
export function tmpfsMounts(hostConfig: {
  tmpfs: Readonly<Record<string, string>>;
  mounts: readonly MountRequest[];
}): Array<{ destination: string; options: string[] }> {
  return [
    ...Object.entries(hostConfig.tmpfs).map(([path, data]) => ({ destination: checkTarget('tmpfs', path), options: tmpfsMountOptions(data) })),
    ...hostConfig.mounts
      .filter((mount) => mount.type === 'tmpfs')
      .map((mount) => ({ destination: mount.target, options: tmpfsMountOptions(tmpfsDataOf(mount)) })),
  ];
}
