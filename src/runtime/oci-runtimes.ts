/**
 * Which OCI runtimes the daemon runs containers with, as dockerd chooses
 * them: runc (and containerd's two names for it) always, crun when it is
 * installed and can run here, the runtimes the configuration adds
 * (--add-runtime NAME=PATH, daemon.json "runtimes"), and a default
 * (--default-runtime). Without one, skiff takes crun (as Podman does: C, no
 * Go runtime to start on every call) when it can run containers on this
 * machine's cgroups, else runc.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalid, SkiffError } from '../errors.js';

export interface OciRuntime {
  name: string;
  path: string;
  /** Global options given before the command (daemon.json "runtimeArgs"). */
  args: string[];
  /**
   * Run through skiff-v1-cgroups: in a private mount namespace without the
   * host's cgroup2 mount (/sys/fs/cgroup/unified), where crun sees the
   * hybrid host as the pure v1 one it can run on (for the calls that make
   * cgroups or processes: see RuntimeCall). Kept in the container's bundle
   * with the rest, so a restarted daemon calls it the same way.
   */
  v1CgroupsView?: true;
}

/** A runtime as the configuration gives it (daemon.json's shape). */
export interface RuntimeConfig {
  path: string;
  runtimeArgs?: string[];
}

export const STOCK_RUNTIME = 'runc';
/** dockerd's built-in names, all of them runc ("path": "runc" in docker info). */
export const BUILTIN_RUNTIMES: readonly string[] = [STOCK_RUNTIME, 'io.containerd.runc.v2', 'io.containerd.runtime.v1.linux'];
/** Runtimes skiff lists by itself when the host has them (chooseRuntimes adds them), so a configuration may name them as its default. */
export const HOST_FOUND_RUNTIMES: readonly string[] = ['crun'];

const RUNC_PLACES = ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc'];
const CRUN_PLACES = ['/usr/bin/crun', '/usr/sbin/crun', '/usr/local/bin/crun', '/usr/local/sbin/crun'];

/** How the host mounts cgroups: v2 alone, v1 alone, or v1 with a v2 hierarchy beside it (with the controllers it holds). */
export type CgroupLayout = { mode: 'unified' } | { mode: 'legacy' } | { mode: 'hybrid'; unifiedControllers: string[] };

/**
 * Why crun cannot run containers on these cgroups, or undefined when it can.
 * crun (1.8) refuses a hybrid layout whose v2 hierarchy holds controllers
 * ("cgroups in hybrid mode not supported, drop all controllers from
 * cgroupv2"); pure v2, pure v1 and hybrid with an empty v2 hierarchy work.
 */
export function crunCgroupRefusal(layout: CgroupLayout): string | undefined {
  if (layout.mode !== 'hybrid' || layout.unifiedControllers.length === 0) return undefined;
  return `cgroups are hybrid (v1, and v2 at /sys/fs/cgroup/unified holding ${layout.unifiedControllers.join(' ')}), which crun refuses`;
}

const CGROUP2_MAGIC = 0x63677270;

/** This host's cgroup layout, from two statfs calls and one small file. */
export function cgroupLayout(root = '/sys/fs/cgroup'): CgroupLayout {
  const isCgroup2 = (path: string) => existsSync(path) && statfsSync(path).type === CGROUP2_MAGIC;
  if (isCgroup2(root)) return { mode: 'unified' };
  const unified = `${root}/unified`;
  if (!isCgroup2(unified)) return { mode: 'legacy' };
  const controllers = readFileSync(`${unified}/cgroup.controllers`, 'utf8').trim();
  return { mode: 'hybrid', unifiedControllers: controllers === '' ? [] : controllers.split(/\s+/) };
}

/** The program that runs a runtime with only the v1 cgroups in sight (src/runtime/shim/skiff-v1-cgroups.c). */
export const V1_CGROUPS_VIEW = fileURLToPath(new URL('../../skiff-v1-cgroups', import.meta.url));

/** What the daemon found on the host: runc's path, and crun's with how it can run here (or why not). */
export interface HostRuntimes {
  runcPath: string;
  crun?: { path: string; refusal?: string; v1CgroupsView?: true; refusedLayout?: string };
}

/**
 * How crun runs on this layout: as it is, through the v1 view (a hybrid
 * layout it refuses, when skiff-v1-cgroups can hide the v2 part), or not at
 * all (why, when the view is not available: viewFailure says what failed).
 */
export function crunOnLayout(path: string, layout: CgroupLayout, viewFailure: string | undefined): NonNullable<HostRuntimes['crun']> {
  const refusal = crunCgroupRefusal(layout);
  if (refusal === undefined) return { path };
  if (viewFailure !== undefined) return { path, refusal: `${refusal}, and ${viewFailure}` };
  return { path, v1CgroupsView: true, refusedLayout: refusal };
}

/** Why skiff-v1-cgroups cannot run crun here (not built, or no mount namespace for it), or undefined when it can. */
function v1ViewFailure(crunPath: string): string | undefined {
  if (!existsSync(V1_CGROUPS_VIEW)) return `${V1_CGROUPS_VIEW} (which would hide the v2 part from it) is missing: run npm run build`;
  try {
    execFileSync(V1_CGROUPS_VIEW, [crunPath, '--version'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `${V1_CGROUPS_VIEW} cannot hide the v2 part from it: ${stderr || (error as Error).message}`;
  }
}

export function findHostRuntimes(): HostRuntimes {
  const runcPath = RUNC_PLACES.find((path) => existsSync(path));
  if (runcPath === undefined) throw new SkiffError('unavailable', `runc not found in ${RUNC_PLACES.join(', ')}`);
  const crunPath = CRUN_PLACES.find((path) => existsSync(path));
  if (crunPath === undefined) return { runcPath };
  const layout = cgroupLayout();
  return { runcPath, crun: crunOnLayout(crunPath, layout, crunCgroupRefusal(layout) === undefined ? undefined : v1ViewFailure(crunPath)) };
}

/** The runtimes in force, the default one's name, and why it is the default (for the daemon's log). */
export interface RuntimeSet {
  runtimes: ReadonlyMap<string, OciRuntime>;
  defaultName: string;
  why?: string;
}

/**
 * The runtimes from the configuration and the host (checked by the
 * configuration already: no added runc, a default that exists when given).
 * crun is listed whenever it can run here; an empty default means "crun if
 * it can run here, else runc". A configured runtime that is crun (by its file
 * name) runs through the v1 view where the host's crun needs it.
 */
export function chooseRuntimes(configured: { defaultRuntime: string; runtimes: Record<string, RuntimeConfig> }, host: HostRuntimes): RuntimeSet {
  const runtimes = new Map<string, OciRuntime>();
  const crun = host.crun?.refusal === undefined ? host.crun : undefined;
  const view = (path: string): { v1CgroupsView?: true } => (crun?.v1CgroupsView === true && basename(path) === 'crun' ? { v1CgroupsView: true } : {});
  for (const name of BUILTIN_RUNTIMES) runtimes.set(name, { name, path: host.runcPath, args: [] });
  if (crun !== undefined && configured.runtimes['crun'] === undefined) runtimes.set('crun', { name: 'crun', path: crun.path, args: [], ...view(crun.path) });
  for (const [name, runtime] of Object.entries(configured.runtimes))
    runtimes.set(name, { name, path: runtime.path, args: runtime.runtimeArgs ?? [], ...view(runtime.path) });
  if (configured.defaultRuntime !== '') {
    if (!runtimes.has(configured.defaultRuntime))
      throw new SkiffError(
        'invalid',
        `specified default runtime '${configured.defaultRuntime}' cannot run here: ${host.crun === undefined ? `crun is not installed (looked in ${CRUN_PLACES.join(', ')})` : `${host.crun.path} is installed, but ${host.crun.refusal ?? 'refused'}`}`,
      );
    return { runtimes, defaultName: configured.defaultRuntime, why: 'the configuration names it (--default-runtime)' };
  }
  if (host.crun === undefined) return { runtimes, defaultName: STOCK_RUNTIME, why: `crun is not installed (looked in ${CRUN_PLACES.join(', ')})` };
  if (crun === undefined) return { runtimes, defaultName: STOCK_RUNTIME, why: `${host.crun.path} is installed, but ${host.crun.refusal}` };
  const why =
    crun.v1CgroupsView === true
      ? `crun is installed; ${crun.refusedLayout}, so skiff runs it in a private mount namespace without /sys/fs/cgroup/unified, where the cgroups are v1 alone`
      : 'crun is installed and runs on these cgroups';
  return { runtimes, defaultName: 'crun', why };
}

/** The runtime a container asks for ('' = the default), or Docker's error for a name that is not configured. */
export function runtimeNamed(set: RuntimeSet, requested: string): OciRuntime {
  const runtime = set.runtimes.get(requested === '' ? set.defaultName : requested);
  if (runtime === undefined) throw invalid(`Unknown runtime specified ${requested}`);
  return runtime;
}

/**
 * Which calls need the v1 view: those that make a container (create, run
 * through the shim) and those that start a process in it (exec). crun 1.8
 * refuses the hybrid layout only where it sets cgroups up; kill, delete,
 * pause, resume, update, ps and state work on what create recorded, and run
 * directly they skip the view's new mount namespace, whose cost grows with
 * the host's mount table (two mounts a container: `crun kill` beside 1,000
 * took 8.3 ms through the view, 3.0 beside 10).
 */
export type RuntimeCall = 'makes' | 'acts-on';

/**
 * The command line of one call of a runtime (its own options and state root
 * first, then the command's): the runtime itself, or skiff-v1-cgroups
 * running it where it needs the v1 view for that call, from a copy of the
 * daemon's lean view when its holder's pid file is given (see
 * skiff-v1-cgroups.c; without a live holder the call copies the caller's
 * mount namespace, as it did before there was one).
 */
export function runtimeInvocation(
  runtime: OciRuntime,
  globalArgs: string[],
  call: RuntimeCall,
  viewPath = V1_CGROUPS_VIEW,
  viewPidFile?: string,
): { program: string; args: string[] } {
  if (runtime.v1CgroupsView !== true || call !== 'makes') return { program: runtime.path, args: globalArgs };
  return { program: viewPath, args: [...(viewPidFile === undefined ? [] : ['--view', viewPidFile]), runtime.path, ...globalArgs] };
}

/** The file skiff-v1-cgroups reads in a bundle (the cwd of its create): what to carry into the lean view. */
export const V1_VIEW_MOUNTS_FILE = 'skiff-v1-view-mounts';

/** What of a container's config.json names host paths (runc's shape). */
export interface OciPaths {
  root?: { path?: string };
  mounts?: Array<{ type?: string; source?: string; options?: string[] }>;
  linux?: { namespaces?: Array<{ type?: string; path?: string }> };
}

/**
 * What a container's create needs from the daemon's mount namespace that the
 * lean view lacks (it holds none of the mounts under the exec root, and
 * whatever the host mounted after it was made): its rootfs, the namespaces
 * it joins by file (its netns) and its bind mounts' sources, one absolute
 * path a line. /proc paths (a process's namespace) are there in the view as
 * they are.
 */
export function v1ViewMounts(bundle: string, config: OciPaths): string {
  const rootfs = config.root?.path ?? 'rootfs';
  const isBind = (mount: { type?: string; options?: string[] }) =>
    mount.type === 'bind' || (mount.options ?? []).some((option) => option === 'bind' || option === 'rbind');
  const paths = [
    rootfs.startsWith('/') ? rootfs : join(bundle, rootfs),
    ...(config.linux?.namespaces ?? []).flatMap((namespace) => (namespace.path === undefined ? [] : [namespace.path])),
    ...(config.mounts ?? []).filter(isBind).flatMap((mount) => (mount.source === undefined ? [] : [mount.source])),
  ].filter((path) => path.startsWith('/') && !path.startsWith('/proc/'));
  return paths.map((path) => `${path}\n`).join('');
}

/**
 * Whether the runtime is crun (by its file name), whose 1.8 differs from runc
 * where skiff must follow: its exec takes --env as the process's whole
 * environment (runc adds it to the container's), and on cgroup v1 it cannot
 * write "no limit" for the CFS quota or pids (see crunV1Update).
 */
export function isCrun(runtime: OciRuntime): boolean {
  return basename(runtime.path) === 'crun';
}
