/**
 * The frame shared by the phases that run real containers (containers, dns,
 * ports): a world with skiff's daemon, a real dockerd and Podman's API
 * service (those two when installed), each in its own namespace, all with the
 * busybox image imported, driven by the same docker CLI; and the cleanup that
 * removes every container, network, cgroup, mount and process again, then
 * lists what is left.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineChild } from './cli-bench.js';
import {
  DOCKERD,
  dockerCall,
  openPhase,
  PODMAN,
  processesMentioning,
  startDockerd,
  startPodman,
  startSkiff,
  type DaemonName,
  type RunningDaemon,
} from './daemons.js';
import { summarize, type Summary } from './stats.js';
import { cgroupDirs, kernelLeftovers, mountsUnder, removeCgroupTree, type Scratch } from './world.js';

const REMOVE_BOUND_MS = 5 * 60_000;
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type { DaemonName };
export type PerDaemon<T> = Partial<Record<DaemonName, T>>;

export interface Side {
  daemon: RunningDaemon;
  /** The docker CLI against this daemon; rejects on a non-zero exit. */
  docker: (...args: string[]) => Promise<{ ms: number; stdout: string }>;
  /** `docker rm -f`, `perCall` containers a call, each call with a long bound (dockerd stops a docker-proxy per published port). */
  removeContainers: (names: readonly string[], perCall?: number) => Promise<void>;
  /** skiff only: the programs the daemon ran between two epoch times (daemon-exec-log.ts). */
  execsBetween?: (start: number, end: number) => ExecEntry[];
}

export interface ExecEntry {
  label: string;
  start: number;
  ms: number;
}

export interface ContainerWorld {
  scratch: Scratch;
  cli: string;
  cliVersion: string;
  dockerdVersion?: string;
  podmanVersion?: string;
  sides: Side[];
  skiff: Side;
  dockerd?: Side;
  podman?: Side;
  /** Why dockerd is not in this run, when it is not. */
  dockerdSkipped?: string;
  /** Why Podman is not in this run, when it is not. */
  podmanSkipped?: string;
  /** Work to run first at close (stop servers the phase started in the daemons' namespaces). */
  defer: (work: () => void | Promise<void>) => void;
  /** Removes everything; returns what was left behind. */
  close: () => Promise<string[]>;
}

export interface WorldOptions {
  /**
   * The daemons' --dns. Podman has no such flag: its aardvark-dns forwards to
   * /etc/resolv.conf's nameservers, so this world binds a file naming this
   * one over /etc/resolv.conf (in the world's own mount namespace).
   */
  dns?: PerDaemon<string>;
  /** Log every program skiff's daemon runs (for "where the time goes"). */
  traceSkiff?: boolean;
  /** skiff alone, without dockerd and Podman (dns-profile.ts: profiling skiff's own work). */
  skiffOnly?: boolean;
  /** skiff and dockerd only (a bench that compares with Docker 20.10 alone). */
  withoutPodman?: boolean;
  /** Extra node options for skiff's daemon (e.g. --cpu-prof). */
  skiffNodeArgs?: string[];
}

/** Epoch milliseconds, comparable with the daemon's exec log. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export async function openContainerWorld(script: string, phase: string, options: WorldOptions = {}): Promise<ContainerWorld> {
  const opened = openPhase(`skiff-bench-${phase}-`);
  const { scratch, cli, env } = opened;
  const haveDockerd = opened.haveDockerd && options.skiffOnly !== true;
  const havePodman = opened.havePodman && options.skiffOnly !== true && options.withoutPodman !== true;
  const cgroupParent = `skiff-bench-${phase}-${process.pid}-${Date.now()}`;
  const deferred: Array<() => void | Promise<void>> = [];
  const sides: Side[] = [];
  const netnsFiles: string[] = [];
  const execLogPath = join(scratch.path, 'skiff-execs.jsonl');

  const side = (daemon: RunningDaemon): Side => ({
    daemon,
    docker: (...args) => dockerCall(cli, daemon, args, env),
    removeContainers: async (names, perCall = 20) => {
      for (let index = 0; index < names.length; index += perCall)
        await dockerCall(cli, daemon, ['rm', '-f', ...names.slice(index, index + perCall)], env, REMOVE_BOUND_MS);
    },
  });

  const close = async (): Promise<string[]> => {
    const leftovers: string[] = [];
    for (const work of deferred.reverse()) await Promise.resolve(work()).catch((error: Error) => leftovers.push(`cleanup step failed: ${error.message}`));
    const skiffIds: string[] = [];
    for (const { daemon, docker, removeContainers } of sides) {
      try {
        const ids = (await docker('ps', '-aq', '--no-trunc')).stdout.split('\n').filter((id) => id !== '');
        if (daemon.name === 'skiff') skiffIds.push(...ids);
        await removeContainers(ids);
        await docker('network', 'prune', '-f');
        const still = (await docker('ps', '-aq')).stdout.trim();
        if (still !== '') leftovers.push(`${daemon.name} containers: ${still.split('\n').length}`);
      } catch (error) {
        leftovers.push(`${daemon.name} cleanup: ${(error as Error).message}`);
      }
      await daemon.stop();
    }
    const skiffSide = sides.find((entry) => entry.daemon.name === 'skiff');
    if (skiffSide !== undefined) {
      await engineChild(script, skiffSide.daemon, 'teardown', {}).catch((error: Error) => leftovers.push(`skiff teardown: ${error.message}`));
      leftovers.push(...kernelLeftovers(skiffSide.daemon.netnsPath).map((item) => `skiff netns: ${item}`));
    }
    for (const peer of sides.filter((entry) => entry.daemon.name !== 'skiff')) {
      // dockerd's and netavark's iptables chains stay in their namespaces by design and go with them; links would be leftovers.
      leftovers.push(
        ...kernelLeftovers(peer.daemon.netnsPath)
          .filter((item) => item.startsWith('link '))
          .map((item) => `${peer.daemon.name} netns: ${item}`),
      );
    }
    // Container cgroups live on the machine's hierarchy, outside the world: none of ours may stay.
    for (const id of skiffIds) {
      const dirs = cgroupDirs(`skiff/${id}`);
      if (dirs.length > 0) leftovers.push(`skiff cgroup ${id.slice(0, 12)} (${dirs.length} hierarchies)`);
      removeCgroupTree(`skiff/${id}`);
    }
    for (const path of cgroupDirs(cgroupParent)) {
      const inside = readFileSync(join(path, 'cgroup.procs'), 'utf8').trim();
      if (inside !== '') leftovers.push(`dockerd cgroup ${path} has processes`);
    }
    leftovers.push(...removeCgroupTree(cgroupParent).map((path) => `cgroup ${path}`));
    leftovers.push(
      ...processesMentioning(scratch.path).map((pid) => `process ${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ')}`),
    );
    for (const netnsFile of netnsFiles) execFileSync('umount', ['-l', netnsFile]);
    for (const mount of mountsUnder(scratch.path).reverse()) leftovers.push(`mount ${mount}`);
    scratch.remove();
    console.log(`${phase} world cleanup: ${leftovers.length === 0 ? 'nothing left' : leftovers.join(', ')}`);
    return leftovers;
  };

  try {
    const skiffDaemon = await startSkiff({
      dir: join(scratch.path, 'skiff'),
      dns: options.dns?.skiff,
      execLogPath: options.traceSkiff ? execLogPath : undefined,
      nodeArgs: options.skiffNodeArgs,
    });
    netnsFiles.push(skiffDaemon.netnsPath);
    const skiff = side(skiffDaemon);
    if (options.traceSkiff) skiff.execsBetween = (start, end) => readExecLog(execLogPath).filter((entry) => entry.start >= start && entry.start <= end);
    sides.push(skiff);
    let dockerd: Side | undefined;
    if (haveDockerd) {
      const dockerDaemon = await startDockerd({ dir: join(scratch.path, 'dockerd'), dns: options.dns?.dockerd, cgroupParent: `/${cgroupParent}` });
      netnsFiles.push(dockerDaemon.netnsPath);
      dockerd = side(dockerDaemon);
      sides.push(dockerd);
    }
    let podman: Side | undefined;
    if (havePodman) {
      const upstream = options.dns?.podman;
      if (upstream !== undefined) {
        const resolvConf = join(scratch.path, 'podman-resolv.conf');
        writeFileSync(resolvConf, `nameserver ${upstream}\n`);
        execFileSync('mount', ['--bind', resolvConf, '/etc/resolv.conf']);
        deferred.unshift(() => {
          execFileSync('umount', ['/etc/resolv.conf']);
        });
      }
      const podmanDaemon = await startPodman({ dir: join(scratch.path, 'podman') });
      netnsFiles.push(podmanDaemon.netnsPath);
      podman = side(podmanDaemon);
      sides.push(podman);
    }
    const cliVersion = (await skiff.docker('version', '--format', '{{.Client.Version}}')).stdout.trim();
    const dockerdVersion = dockerd === undefined ? undefined : (await dockerd.docker('version', '--format', '{{.Server.Version}}')).stdout.trim();
    const podmanVersion = podman === undefined ? undefined : (await podman.docker('version', '--format', '{{.Server.Version}}')).stdout.trim();
    const tar = join(scratch.path, 'busybox.tar');
    await new Promise<void>((resolve, reject) =>
      execFile('sh', [join(repoRoot, 'scripts', 'make-busybox-image.sh'), tar], (error) => (error === null ? resolve() : reject(new Error(error.message)))),
    );
    for (const { docker } of sides) await docker('import', tar, 'busybox');
    console.log(
      `\n== ${phase}: docker CLI ${cli} (${cliVersion}) against skiff${dockerd ? `, dockerd ${dockerdVersion}` : ''}${podman ? `, podman ${podmanVersion}` : ''}, each in its own network namespace, busybox imported`,
    );
    return {
      scratch,
      cli,
      cliVersion,
      dockerdVersion,
      podmanVersion,
      sides,
      skiff,
      dockerd,
      podman,
      dockerdSkipped: haveDockerd ? undefined : `${DOCKERD} is not installed (apt-get install docker.io)`,
      podmanSkipped: havePodman ? undefined : `${PODMAN} is not installed (bash bench/install.sh)`,
      defer: (work) => {
        deferred.push(work);
      },
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

function readExecLog(path: string): ExecEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ExecEntry);
}

/** Where one kind of call spends its time in skiff's daemon: per program, runs per call and median ms per call. */
export interface ExecBreakdown {
  label: string;
  runsPerCall: number;
  medianMs: number;
}

export function execBreakdown(calls: readonly ExecEntry[][]): ExecBreakdown[] {
  if (calls.length === 0) return [];
  const labels = [...new Set(calls.flatMap((entries) => entries.map((entry) => entry.label)))];
  return labels
    .map((label) => {
      const perCall = calls.map((entries) => entries.filter((entry) => entry.label === label));
      return {
        label,
        runsPerCall: perCall.reduce((total, list) => total + list.length, 0) / calls.length,
        medianMs: summarize(perCall.map((list) => list.reduce((total, entry) => total + entry.ms, 0))).median,
      };
    })
    .sort((a, b) => b.medianMs - a.medianMs);
}

export function formatBreakdown(breakdown: readonly ExecBreakdown[]): string {
  return breakdown.map((entry) => `${entry.label} ×${entry.runsPerCall.toFixed(1)} ${entry.medianMs.toFixed(1)} ms`).join(', ');
}

/** Samples per daemon, and a timed call that records into them when past warm-up. */
export class Samples {
  readonly values: Record<string, number[]> = {};
  readonly execs: ExecEntry[][] = [];

  add(name: string, value: number): void {
    (this.values[name] ??= []).push(value);
  }

  summaries(): PerDaemon<Summary> {
    return Object.fromEntries(Object.entries(this.values).map(([name, values]) => [name, summarize(values)]));
  }
}

/** Runs docker args on side; when record is set, adds the time to samples (and skiff's exec log window). */
export async function timedDocker(side: Side, samples: Samples | undefined, ...args: string[]): Promise<{ ms: number; stdout: string }> {
  const start = epochMs();
  const result = await side.docker(...args);
  const end = epochMs();
  if (samples !== undefined) {
    samples.add(side.daemon.name, result.ms);
    if (side.execsBetween !== undefined) samples.execs.push(side.execsBetween(start, end));
  }
  return result;
}

/** `docker inspect -f '{{.NetworkSettings.SandboxKey}}'`: the container's netns file. */
export async function sandboxKey(side: Side, container: string): Promise<string> {
  return (await side.docker('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', container)).stdout.trim();
}

/** The container's address on network. */
export async function containerAddress(side: Side, container: string, network: string): Promise<string> {
  return (await side.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).stdout.trim();
}
