/**
 * The daemons under test, each started by the benchmark inside the world, in
 * a network namespace of its own (a file under the scratch dir), with all its
 * state on the world's tmpfs: skiff's daemon, a real dockerd (which starts
 * its own containerd under its exec root) and Podman's Docker-compatible API
 * service (`podman system service`, which starts a conmon per container and
 * netavark/aardvark-dns for its networks).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidsNamed } from './memory.js';
import { cgroupDirs, loopbackUp, makeNetns, mountsUnder, mountTmpfs, removeCgroupTree, scratchDir, type Scratch } from './world.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const skiffBin = join(repoRoot, 'bin', 'skiff');
export const DOCKERD = '/usr/sbin/dockerd';
export const PODMAN = '/usr/bin/podman';
/**
 * Podman runs its containers with runc here: Debian 12's crun 1.8 refuses
 * this machine's hybrid cgroup layout (v1 controllers beside a v2 mount:
 * "cgroups in hybrid mode not supported"), so the three systems share runc.
 */
export const PODMAN_RUNTIME = 'runc';
/** Podman with the cgroupfs manager puts conmon and containers under this cgroup on the machine's hierarchy. */
const PODMAN_CGROUP_PARENT = 'libpod_parent';
const daemonExecLog = join(dirname(fileURLToPath(import.meta.url)), 'daemon-exec-log.js');

/** The docker CLI both daemons are driven by: Debian's 20.10 when installed, else the one on PATH. */
export function dockerCli(): string {
  return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : '/usr/local/bin/docker';
}

export type DaemonName = 'skiff' | 'dockerd' | 'podman';

export interface RunningDaemon {
  name: DaemonName;
  socketPath: string;
  netnsPath: string;
  dataRoot: string;
  execRoot: string;
  logPath: string;
  /** The daemon's own pid (nsenter execs it). */
  pid: number;
  /** SIGTERM, wait for exit (SIGKILL after a bound); leaves the netns and state in place. */
  stop: () => Promise<void>;
}

type DaemonPaths = Pick<RunningDaemon, 'socketPath' | 'netnsPath' | 'dataRoot' | 'execRoot' | 'logPath'>;

/**
 * Waits for the daemon's first answer (startMs at most); stop() then ends it
 * (SIGKILL after stopMs) and runs afterStop, which removes what that daemon
 * leaves behind by design.
 */
async function runningDaemon(
  name: DaemonName,
  child: ChildProcess,
  paths: DaemonPaths,
  bounds: { startMs: number; stopMs: number },
  afterStop: () => void | Promise<void> = () => undefined,
): Promise<RunningDaemon> {
  await waitForPing(paths.socketPath, child, paths.logPath, bounds.startMs);
  const stop = stopper(child, bounds.stopMs);
  return {
    name,
    ...paths,
    pid: child.pid ?? 0,
    stop: async () => {
      await stop();
      await afterStop();
    },
  };
}

/** GET/POST/DELETE on the daemon's socket; resolves with status and body. */
export function apiRequest(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, timeout: 30_000 },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForPing(socketPath: string, child: ChildProcess, logPath: string, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`daemon exited early; log ${logPath}:\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    if (existsSync(socketPath)) {
      const answer = await apiRequest(socketPath, 'GET', '/_ping').catch(() => undefined);
      if (answer?.status === 200) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`daemon did not answer /_ping within ${boundMs} ms; log ${logPath}:\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
}

function stopper(child: ChildProcess, boundMs: number): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    await exited;
    clearTimeout(timer);
  };
}

/** Spawns program inside the namespace (nsenter execs it, so the child's pid is the daemon's). */
function spawnInNetns(netnsPath: string, program: string, args: string[], logPath: string, env: Record<string, string> = {}): ChildProcess {
  const log = openSync(logPath, 'a');
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', program, ...args], { stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  closeSync(log);
  return child;
}

export interface DaemonDirs {
  /** Directory (on the world's tmpfs) holding this daemon's socket, state, log and namespace file. */
  dir: string;
  /** An existing namespace file to reuse (a restart); a new one is made otherwise. */
  netnsPath?: string;
  /** The daemon's --dns (default 127.0.0.1 for skiff, none for dockerd). */
  dns?: string;
  /** skiff only: a file to which the daemon appends every program it runs, with its time (daemon-exec-log.ts). */
  execLogPath?: string;
  /** skiff only: node options before the daemon's script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** skiff only: how long to wait for its first answer (a restart beside a big crowd takes long). */
  startBoundMs?: number;
  /** dockerd only: --cgroup-parent, so the containers' cgroups can be found and removed afterwards. */
  cgroupParent?: string;
}

export async function startSkiff({ dir, netnsPath, dns, execLogPath, nodeArgs = [], startBoundMs = 30_000 }: DaemonDirs): Promise<RunningDaemon> {
  mkdirSync(dir, { recursive: true });
  const netns = netnsPath ?? makeNetns(join(dir, 'netns')).path;
  const socketPath = join(dir, 'skiff.sock');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const logPath = join(dir, 'skiff.log');
  const tracing = execLogPath === undefined ? [] : ['--import', daemonExecLog];
  const child = spawnInNetns(
    netns,
    process.execPath,
    [...nodeArgs, ...tracing, skiffBin, 'daemon', '-H', `unix://${socketPath}`, '--data-root', dataRoot, '--exec-root', execRoot, '--dns', dns ?? '127.0.0.1'],
    logPath,
    execLogPath === undefined ? {} : { SKIFF_BENCH_EXEC_LOG: execLogPath },
  );
  return runningDaemon('skiff', child, { socketPath, netnsPath: netns, dataRoot, execRoot, logPath }, { startMs: startBoundMs, stopMs: 10_000 });
}

/**
 * A real dockerd with its state on the world's tmpfs. The caller has already
 * put tmpfs over /run and /etc/docker in this world, where dockerd writes a
 * few things regardless of its flags (/run/docker/plugins, key.json).
 */
export async function startDockerd({ dir, dns, cgroupParent }: DaemonDirs): Promise<RunningDaemon> {
  mkdirSync(dir, { recursive: true });
  const netns = makeNetns(join(dir, 'netns')).path;
  const socketPath = join(dir, 'docker.sock');
  const dataRoot = join(dir, 'docker');
  const execRoot = join(dir, 'exec');
  const logPath = join(dir, 'dockerd.log');
  const child = spawnInNetns(
    netns,
    DOCKERD,
    [
      '-H',
      `unix://${socketPath}`,
      '--data-root',
      dataRoot,
      '--exec-root',
      execRoot,
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=true',
      '--bridge=none',
      ...(dns === undefined ? [] : ['--dns', dns]),
      ...(cgroupParent === undefined ? [] : ['--cgroup-parent', cgroupParent]),
    ],
    logPath,
  );
  return runningDaemon('dockerd', child, { socketPath, netnsPath: netns, dataRoot, execRoot, logPath }, { startMs: 60_000, stopMs: 20_000 }, () => {
    // dockerd stops the containerd it started; kill any that outlived it, found by our own exec root.
    for (const pid of processesMentioning(execRoot)) process.kill(pid, 'SIGKILL');
  });
}

/**
 * Podman's Docker-compatible API service with its storage, run state, network
 * configs and events on the world's tmpfs, configured by a containers.conf of
 * its own (CONTAINERS_CONF): cgroupfs (no systemd here), runc, netavark. Its
 * aardvark-dns forwards to the nameservers of /etc/resolv.conf, which the
 * caller may have bound over in this world (see openContainerWorld).
 */
export async function startPodman({ dir }: DaemonDirs): Promise<RunningDaemon> {
  mkdirSync(dir, { recursive: true });
  const netns = makeNetns(join(dir, 'netns')).path;
  const socketPath = join(dir, 'podman.sock');
  const dataRoot = join(dir, 'root');
  const execRoot = join(dir, 'run');
  const logPath = join(dir, 'podman.log');
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  const conf = join(dir, 'containers.conf');
  writeFileSync(
    conf,
    [
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(dir, 'events.log')}"`,
      `image_copy_tmp_dir = "${tmp}"`,
      `runtime = "${PODMAN_RUNTIME}"`,
      '[network]',
      'network_backend = "netavark"',
      `network_config_dir = "${join(dir, 'networks')}"`,
      '',
    ].join('\n'),
  );
  const cgroupsBefore = cgroupDirs(PODMAN_CGROUP_PARENT).length;
  const child = spawnInNetns(
    netns,
    PODMAN,
    [
      '--root',
      dataRoot,
      '--runroot',
      execRoot,
      '--tmpdir',
      tmp,
      '--volumepath',
      join(dir, 'volumes'),
      'system',
      'service',
      '--time',
      '0',
      `unix://${socketPath}`,
    ],
    logPath,
    { CONTAINERS_CONF: conf, TMPDIR: tmp },
  );
  return runningDaemon('podman', child, { socketPath, netnsPath: netns, dataRoot, execRoot, logPath }, { startMs: 60_000, stopMs: 20_000 }, async () => {
    // The service leaves conmons (their command lines name our root) and aardvark-dns running by design,
    // and its storage's own mounts (overlay/) in place.
    for (const pid of [...processesMentioning(dir), ...pidsNamed('aardvark-dns')]) process.kill(pid, 'SIGKILL');
    for (const mount of mountsUnder(dir)
      .filter((path) => path !== netns)
      .reverse())
      execFileSync('umount', ['-l', mount]);
    // Its cgroup parent on the machine's hierarchy goes too, when this run made it.
    if (cgroupsBefore === 0) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      removeCgroupTree(PODMAN_CGROUP_PARENT);
    }
  });
}

/** Pids (in this world's pid namespace) whose command line mentions text. */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Runs the docker CLI against a daemon; resolves with wall time and output, rejects on a non-zero exit. */
export function dockerCall(
  cli: string,
  daemon: RunningDaemon,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 60_000,
): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    execFile(
      cli,
      ['-H', `unix://${daemon.socketPath}`, ...args],
      { env, timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (error) reject(new Error(`${daemon.name}: docker ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve({ ms, stdout });
      },
    );
  });
}

/**
 * What every daemon-driving phase starts with in its world: lo up, a scratch
 * tmpfs, this world's own /run and /etc/docker for dockerd (it writes there
 * whatever its flags say), the docker CLI and an environment of its own.
 */
export function openPhase(prefix: string): { scratch: Scratch; haveDockerd: boolean; havePodman: boolean; cli: string; env: NodeJS.ProcessEnv } {
  loopbackUp();
  const scratch = scratchDir(prefix);
  const haveDockerd = existsSync(DOCKERD);
  const havePodman = existsSync(PODMAN);
  // Podman keeps its containers' namespaces under /run/netns and netavark's state under /run/containers.
  if (haveDockerd || havePodman) mountTmpfs('/run', '64m');
  if (haveDockerd) mountTmpfs('/etc/docker', '16m');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: join(scratch.path, 'home'),
    DOCKER_CONFIG: join(scratch.path, 'docker-config'),
  };
  mkdirSync(env['HOME']!, { recursive: true });
  return { scratch, haveDockerd, havePodman, cli: dockerCli(), env };
}
