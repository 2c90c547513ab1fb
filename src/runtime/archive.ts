/**
 * Files in and out of a container's filesystem, as docker cp, export and
 * load reach them. A path is resolved as the container sees it (moby's
 * FollowSymlinkInScope): symlinks are followed inside the container's root,
 * ".." and absolute targets stop at that root, and a path under a mount
 * reaches the mount's source. Archives go out through tar(1); they come in
 * through a staging directory that GNU tar fills (it refuses "..", and never
 * follows a symlink the archive itself made) and then a merge that follows
 * no symlink of the container's: the merge is what Docker's chroot gives.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  chmodSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  linkSync,
  type Stats,
} from 'node:fs';
import { posix, join } from 'node:path';
import type { Readable } from 'node:stream';
import { invalid, SkiffError } from '../errors.js';
import { run } from '../kernel/exec.js';

export interface MountView {
  destination: string;
  source: string;
  readOnly: boolean;
}

/** A container's filesystem as the host reaches it: its merged root and what is mounted over it. */
export interface FilesystemView {
  rootfs: string;
  mounts: readonly MountView[];
}

/** Linux's limit on symlinks followed in one lookup (ELOOP after it). */
const MAX_SYMLINKS = 40;

/** The mount a clean absolute container path lies under (the deepest; on one path, the last mounted), if any. */
export function mountOf(mounts: readonly MountView[], containerPath: string): MountView | undefined {
  let found: MountView | undefined;
  for (const mount of mounts) {
    const inside = containerPath === mount.destination || containerPath.startsWith(`${mount.destination}/`);
    if (inside && (found === undefined || mount.destination.length >= found.destination.length)) found = mount;
  }
  return found;
}

/** Where a clean absolute container path is on the host. */
export function hostPathOf(view: FilesystemView, containerPath: string): string {
  const mount = mountOf(view.mounts, containerPath);
  if (mount === undefined) return join(view.rootfs, containerPath);
  return join(mount.source, containerPath.slice(mount.destination.length));
}

/**
 * The clean absolute path `path` names in the container, every symlink
 * followed in the container's scope. readLink answers, for a clean absolute
 * container path, the symlink's target, or undefined when it is no symlink.
 */
export function resolveInScope(path: string, readLink: (containerPath: string) => string | undefined): string {
  const pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let resolved = '/';
  let followed = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved = posix.dirname(resolved);
      continue;
    }
    const candidate = posix.join(resolved, part);
    const target = readLink(candidate);
    if (target === undefined) {
      resolved = candidate;
      continue;
    }
    if (++followed > MAX_SYMLINKS) throw invalid(`too many levels of symbolic links resolving ${path}`);
    if (target.startsWith('/')) resolved = '/';
    pending.unshift(...target.split('/').filter((step) => step !== '' && step !== '.'));
  }
  return resolved;
}

/**
 * A request's path as moby splits it (archive.PreserveTrailingDotOrSeparator
 * and filepath.Split): the absolute path, the directory resolved in scope,
 * and the last element, which is followed only when the path ends in "/"
 * (then base is '') and which is "." for "dir/.".
 */
export function splitRequestPath(path: string): { absPath: string; dir: string; base: string } {
  let absPath = posix.join('/', path);
  if (/\/\.$/.test(path) && !absPath.endsWith('/.')) absPath = absPath === '/' ? '/.' : `${absPath}/.`;
  else if (path.endsWith('/') && !absPath.endsWith('/')) absPath = `${absPath}/`;
  const cut = absPath.lastIndexOf('/') + 1;
  return { absPath, dir: absPath.slice(0, cut), base: absPath.slice(cut) };
}

/** Go's filepath.Base: the last element, trailing slashes ignored; "/" for the root. */
export function goBase(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

const S_IFMT = 0o170000;
const GO_MODE = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
};

/** A stat mode as Go's os.FileMode, which Docker's X-Docker-Container-Path-Stat carries. */
export function goFileMode(mode: number): number {
  let result = mode & 0o777;
  const type = mode & S_IFMT;
  if (type === 0o040000) result += GO_MODE.dir;
  else if (type === 0o120000) result += GO_MODE.symlink;
  else if (type === 0o060000) result += GO_MODE.device;
  else if (type === 0o020000) result += GO_MODE.device + GO_MODE.charDevice;
  else if (type === 0o010000) result += GO_MODE.namedPipe;
  else if (type === 0o140000) result += GO_MODE.socket;
  if (mode & 0o4000) result += GO_MODE.setuid;
  if (mode & 0o2000) result += GO_MODE.setgid;
  if (mode & 0o1000) result += GO_MODE.sticky;
  return result;
}

/** A time as Go's RFC 3339 with nanoseconds, trailing zeros dropped (how a time.Time marshals). */
export function goTime(nanoseconds: bigint): string {
  const seconds = nanoseconds / 1_000_000_000n;
  const fraction = (nanoseconds % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const whole = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d+Z$/, '');
  return `${whole}${fraction === '' ? '' : `.${fraction}`}Z`;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function readLinkIn(view: FilesystemView): (containerPath: string) => string | undefined {
  return (containerPath) => {
    const host = hostPathOf(view, containerPath);
    return lstatOrUndefined(host)?.isSymbolicLink() === true ? readlinkSync(host) : undefined;
  };
}

/** The container path a request path resolves to; followLast also follows a final symlink (docker cp's destination). */
export function resolveContainerPath(view: FilesystemView, path: string, followLast: boolean): string {
  const readLink = readLinkIn(view);
  if (followLast) return resolveInScope(path, readLink);
  const { dir, base } = splitRequestPath(path);
  const resolvedDir = resolveInScope(dir, readLink);
  return base === '' || base === '.' ? resolvedDir : posix.join(resolvedDir, base);
}

export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** docker cp's stat of a path (moby's StatPath); undefined when nothing is there. */
export function statPath(view: FilesystemView, path: string): { stat: PathStat; containerPath: string } | undefined {
  const containerPath = resolveContainerPath(view, path, false);
  const host = hostPathOf(view, containerPath);
  if (lstatOrUndefined(host) === undefined) return undefined;
  const found = lstatSync(host, { bigint: true });
  const { absPath } = splitRequestPath(path);
  const linkTarget = found.isSymbolicLink() ? resolveInScope(absPath, readLinkIn(view)) : '';
  const stat = { name: goBase(absPath), size: Number(found.size), mode: goFileMode(Number(found.mode)), mtime: goTime(found.mtimeNs), linkTarget };
  return { stat, containerPath };
}

/** A sed regex matching `text` literally, for GNU tar's --transform (delimiter ",", escaped too). */
function literalPattern(text: string): string {
  return text.replace(/[\\.[\]*^$,]/g, (char) => `\\${char}`);
}

function literalReplacement(text: string): string {
  return text.replace(/[\\&,]/g, (char) => `\\${char}`);
}

/** A tar(1) writing to its stdout, as a stream; a failure of tar ends the stream with an error. */
function tarOut(args: string[]): Readable {
  const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.on('close', (code) => {
    if (code !== 0 && code !== 1) child.stdout.destroy(new SkiffError('unavailable', `tar ${args.join(' ')}: ${stderr.trim() || `exit status ${code}`}`));
  });
  return child.stdout;
}

/**
 * The tar of one resolved container path, its top entry named as the
 * request's last element (moby's TarResourceRebaseOpts): "dir/." gives the
 * directory's contents, "/" entries named "/", "/bin", … as dockerd names
 * them. What is mounted under the path (volumes, binds, the /etc files) is
 * in it too, as dockerd mounts it before it archives.
 */
export function archivePath(view: FilesystemView, path: string, containerPath: string): Readable {
  const { absPath } = splitRequestPath(path);
  const rebase = goBase(absPath) === '/' ? '/' : goBase(absPath);
  const nested = view.mounts.filter(
    (mount) => (containerPath === '/' ? mount.destination !== '/' : mount.destination.startsWith(`${containerPath}/`)) && existsSync(mount.source),
  );
  // Members by their host paths from "/", each renamed by a transform anchored on its whole name; the nested mounts' first.
  const members = [
    ...nested.map((mount) => ({ host: mount.source, name: posix.join(rebase, mount.destination.slice(containerPath === '/' ? 0 : containerPath.length)) })),
    { host: hostPathOf(view, containerPath), name: rebase },
  ];
  // S: never in symlink targets, which are the container's own text.
  const transforms = members.map(({ host, name }) =>
    name === '/'
      ? `--transform=s,^${literalPattern(host.slice(1))}/\\?,/,S`
      : `--transform=s,^${literalPattern(host.slice(1))}\\(/\\|$\\),${literalReplacement(name)}\\1,S`,
  );
  const absolute = rebase === '/' ? ['-P'] : [];
  return tarOut(['-c', '-f', '-', '--numeric-owner', ...absolute, '-C', '/', ...transforms, '--', ...members.map(({ host }) => host.slice(1)).reverse()]);
}

/** The whole directory as a tar whose entries have no "./" prefix, as Docker's export and layer tars. */
export function archiveDirectory(dir: string): Readable {
  const entries = readdirSync(dir).sort();
  return tarOut(['-c', '-f', '-', '--numeric-owner', '--sort=name', '-C', dir, '--', ...entries]);
}

/** A directory to stage an archive in, removed by the caller. */
export function stagingDir(parent: string): string {
  const dir = join(parent, `.staging-${randomBytes(8).toString('hex')}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export interface MergeOptions {
  /** docker cp's noOverwriteDirNonDir: a directory never replaces a non-directory, nor the other way round. */
  noOverwriteDirNonDir: boolean;
  /** Layer whiteouts (.wh.NAME removes NAME, .wh..wh..opq empties the directory) are applied, as docker load applies a layer. */
  whiteouts: boolean;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Moves what a staging directory holds into the container's directory
 * `containerDir` (resolved, clean). Each entry's parent was made or checked
 * a real directory before, and an entry's own name is replaced, never
 * followed; a path under a mount reaches its source.
 */
export function mergeInto(view: FilesystemView, staging: string, containerDir: string, options: MergeOptions): void {
  const linked = new Map<string, string>();
  const directories: Array<{ host: string; stats: Stats }> = [];
  const visit = (stagingDir: string, containerParent: string) => {
    const names = readdirSync(stagingDir).sort();
    if (options.whiteouts) {
      if (names.includes(OPAQUE)) for (const child of readdirSync(hostPathOf(view, containerParent))) removeIn(view, posix.join(containerParent, child));
      for (const name of names)
        if (name.startsWith(WHITEOUT_PREFIX) && name !== OPAQUE) removeIn(view, posix.join(containerParent, name.slice(WHITEOUT_PREFIX.length)));
    }
    for (const name of names) {
      if (options.whiteouts && name.startsWith(WHITEOUT_PREFIX)) continue;
      const source = join(stagingDir, name);
      const containerPath = posix.join(containerParent, name);
      const target = hostPathOf(view, containerPath);
      if (mountOf(view.mounts, containerPath)?.readOnly === true) throw new SkiffError('unavailable', 'mounted volume is marked read-only');
      const stats = lstatSync(source);
      const existing = lstatOrUndefined(target);
      if (existing !== undefined && options.noOverwriteDirNonDir) {
        if (existing.isDirectory() && !stats.isDirectory())
          throw new SkiffError('unavailable', `cannot overwrite directory ${JSON.stringify(containerPath)} with non-directory ${JSON.stringify(containerDir)}`);
        if (!existing.isDirectory() && stats.isDirectory())
          throw new SkiffError('unavailable', `cannot overwrite non-directory ${JSON.stringify(containerPath)} with directory ${JSON.stringify(containerDir)}`);
      }
      if (existing !== undefined && !(existing.isDirectory() && stats.isDirectory())) rmSync(target, { recursive: true, force: true });
      if (stats.isDirectory()) {
        if (existing === undefined || !existing.isDirectory()) mkdirSync(target, { mode: 0o700 });
        visit(source, containerPath);
        directories.push({ host: target, stats });
        continue;
      }
      const key = `${stats.dev}:${stats.ino}`;
      const first = stats.nlink > 1 ? linked.get(key) : undefined;
      if (first !== undefined) linkSync(first, target);
      else placeEntry(source, target, stats);
      if (stats.nlink > 1 && first === undefined) linked.set(key, target);
    }
  };
  visit(staging, containerDir);
  // Directories last, deepest first: filling them changed their times.
  for (const { host, stats } of directories.reverse()) applyMetadata(host, stats);
}

/** One non-directory entry: moved when on the same filesystem, else copied; its owner, mode and times as archived. */
function placeEntry(source: string, target: string, stats: Stats): void {
  try {
    renameSync(source, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
  }
  if (stats.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
  else if (stats.isFile()) copyFileSync(source, target, 1 /* COPYFILE_EXCL: never through a symlink put there meanwhile */);
  else {
    // A device, FIFO or socket: cp(1) makes it anew (mknod never follows a symlink at the target).
    execFileSync('cp', ['-a', '-T', '--', source, target], { stdio: ['ignore', 'ignore', 'pipe'] });
    return;
  }
  applyMetadata(target, stats);
}

function applyMetadata(path: string, stats: Stats): void {
  lchownSync(path, stats.uid, stats.gid);
  if (!stats.isSymbolicLink()) chmodSync(path, stats.mode & 0o7777);
  lutimesSync(path, stats.atime, stats.mtime);
}

/** Removes a container path (whatever it is, never following its last element); a parent symlink is followed in scope. */
function removeIn(view: FilesystemView, containerPath: string): void {
  const parent = resolveInScope(posix.dirname(containerPath), readLinkIn(view));
  rmSync(hostPathOf(view, posix.join(parent, posix.basename(containerPath))), { recursive: true, force: true });
}

/** Bytes a directory tree takes (du -sb); 0 when it is not there. */
export async function diskUsage(path: string): Promise<number> {
  if (lstatOrUndefined(path) === undefined) return 0;
  const { stdout } = await run('du', ['-sb', path]);
  return Number(stdout.split('\t')[0]);
}
