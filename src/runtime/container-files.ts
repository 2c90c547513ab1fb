/**
 * Where a container's files live and how to read the ones the shim writes.
 * Bundle (exec-root, lost on reboot): config.json, rootfs/ (overlay mount),
 * meta.json, stdin FIFO, init.pid, shim.pid, started.json, exit-status.
 * Data (data-root): upper/ and work/ of the overlay, container.log (and its
 * rotated container.log.1 … with --log-opt max-size).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { OciRuntime } from './oci-runtimes.js';
import type { LogRotation } from './process-spec.js';

export interface ContainerPaths {
  bundle: string;
  rootfs: string;
  config: string;
  meta: string;
  stdinFifo: string;
  initPid: string;
  shimPid: string;
  started: string;
  exitStatus: string;
  shimLog: string;
  dataDir: string;
  upper: string;
  work: string;
  log: string;
}

export function containerPaths(dataRoot: string, execRoot: string, id: string): ContainerPaths {
  const bundle = join(execRoot, 'containers', id);
  const dataDir = join(dataRoot, 'containers', id);
  return {
    bundle,
    rootfs: join(bundle, 'rootfs'),
    config: join(bundle, 'config.json'),
    meta: join(bundle, 'meta.json'),
    stdinFifo: join(bundle, 'stdin'),
    initPid: join(bundle, 'init.pid'),
    shimPid: join(bundle, 'shim.pid'),
    started: join(bundle, 'started.json'),
    exitStatus: join(bundle, 'exit-status'),
    shimLog: join(bundle, 'shim.log'),
    dataDir,
    upper: join(dataDir, 'upper'),
    work: join(dataDir, 'work'),
    log: join(dataDir, 'container.log'),
  };
}

/** What the runtime must remember about a container beyond config.json. */
export interface ContainerMeta {
  tty: boolean;
  openStdin: boolean;
  /** The OCI runtime that runs it (an older skiff's bundles name none: runc). */
  runtime?: OciRuntime;
  /** --log-opt max-size/max-file: the shim rotates the log (an older skiff's bundles name none: never). */
  logRotation?: LogRotation;
}

export interface StartRecord {
  startedAt: string;
  pid: number;
  shimPid: number;
}

export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined; // absent, or cut short by a crash while written: the caller treats both as not there
  }
}

/** The exit code the shim recorded, with the time it did, or undefined while running. */
export function readExitStatus(paths: ContainerPaths): { exitCode: number; finishedAt: string } | undefined {
  try {
    const text = readFileSync(paths.exitStatus, 'utf8');
    return { exitCode: Number(text.trim()), finishedAt: statSync(paths.exitStatus).mtime.toISOString() };
  } catch {
    return undefined; // no exit-status file: the process has not exited
  }
}

export function bundleExists(paths: ContainerPaths): boolean {
  return existsSync(paths.config);
}

export function processAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie has ended: after a daemon restart a shim's parent is the init, which may be slow to reap it (or never, as Node as PID 1).
  return !isZombie(pid);
}

/** Whether /proc says the process is a zombie (state Z, the field after the command's closing parenthesis). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // reaped meanwhile, or /proc not readable: kill(0) already said it exists
  }
}
