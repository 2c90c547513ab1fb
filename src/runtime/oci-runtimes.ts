/**
 * Which OCI runtimes the daemon runs containers with, as dockerd chooses
 * them: runc (and containerd's two names for it) always, the runtimes the
 * configuration adds (--add-runtime NAME=PATH, daemon.json "runtimes"), and a
 * default (--default-runtime). Without one, skiff takes crun when it is
 * installed and can run containers on this machine's cgroups, else runc.
 */
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { invalid, SkiffError } from '../errors.js';

export interface OciRuntime {
  name: string;
  path: string;
  /** Global options given before the command (daemon.json "runtimeArgs"). */
  args: string[];
}

/** A runtime as the configuration gives it (daemon.json's shape). */
export interface RuntimeConfig {
  path: string;
  runtimeArgs?: string[];
}

export const STOCK_RUNTIME = 'runc';
/** dockerd's built-in names, all of them runc ("path": "runc" in docker info). */
export const BUILTIN_RUNTIMES: readonly string[] = [STOCK_RUNTIME, 'io.containerd.runc.v2', 'io.containerd.runtime.v1.linux'];

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

/** What the daemon found on the host: runc's path, and crun's with the reason it cannot be used here (if any). */
export interface HostRuntimes {
  runcPath: string;
  crun?: { path: string; refusal?: string };
}

export function findHostRuntimes(): HostRuntimes {
  const runcPath = RUNC_PLACES.find((path) => existsSync(path));
  if (runcPath === undefined) throw new SkiffError('unavailable', `runc not found in ${RUNC_PLACES.join(', ')}`);
  const crunPath = CRUN_PLACES.find((path) => existsSync(path));
  if (crunPath === undefined) return { runcPath };
  const refusal = crunCgroupRefusal(cgroupLayout());
  return { runcPath, crun: refusal === undefined ? { path: crunPath } : { path: crunPath, refusal } };
}

/** The runtimes in force and the default one's name. */
export interface RuntimeSet {
  runtimes: ReadonlyMap<string, OciRuntime>;
  defaultName: string;
}

/**
 * The runtimes from the configuration and the host (checked by the
 * configuration already: no added runc, a default that exists when given).
 * An empty default means "crun if it can run here, else runc".
 */
export function chooseRuntimes(configured: { defaultRuntime: string; runtimes: Record<string, RuntimeConfig> }, host: HostRuntimes): RuntimeSet {
  const runtimes = new Map<string, OciRuntime>();
  for (const name of BUILTIN_RUNTIMES) runtimes.set(name, { name, path: host.runcPath, args: [] });
  for (const [name, runtime] of Object.entries(configured.runtimes)) runtimes.set(name, { name, path: runtime.path, args: runtime.runtimeArgs ?? [] });
  if (configured.defaultRuntime !== '') return { runtimes, defaultName: configured.defaultRuntime };
  if (host.crun === undefined || host.crun.refusal !== undefined) return { runtimes, defaultName: STOCK_RUNTIME };
  if (!runtimes.has('crun')) runtimes.set('crun', { name: 'crun', path: host.crun.path, args: [] });
  return { runtimes, defaultName: 'crun' };
}

/** The runtime a container asks for ('' = the default), or Docker's error for a name that is not configured. */
export function runtimeNamed(set: RuntimeSet, requested: string): OciRuntime {
  const runtime = set.runtimes.get(requested === '' ? set.defaultName : requested);
  if (runtime === undefined) throw invalid(`Unknown runtime specified ${requested}`);
  return runtime;
}
