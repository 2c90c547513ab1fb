/**
 * A real skiff daemon in the test's world, driven by the stock docker CLI.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { after, before } from 'node:test';
import { assertInWorld, scratchDir, tryRun } from './world.js';
import { FATAL_MARKER } from '../../src/daemon/last-resort.js';
import { chooseRuntimes, findHostRuntimes, runtimeInvocation } from '../../src/runtime/oci-runtimes.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const skiffBin = join(repoRoot, 'bin', 'skiff');

export interface TestDaemon {
  dir: string;
  socketPath: string;
  /** The daemon.json it was started with (--config-file); a test may rewrite it and send SIGHUP. */
  configPath: string;
  dataRoot: string;
  execRoot: string;
  process: ChildProcess;
  log: () => string;
  /** Runs the stock docker CLI against this daemon. */
  docker: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs the docker CLI and asserts it succeeded; returns its stdout. */
  ok: (...args: string[]) => Promise<string>;
  /** Runs skiff's own CLI against this daemon. */
  skiff: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** Raw HTTP to the socket. */
  http: (method: string, path: string, body?: string) => Promise<{ status: number; body: string }>;
  kill: (signal?: NodeJS.Signals) => Promise<void>;
  /** Stops it and starts another on the same roots; overrides change the start options (failpoints on or off). */
  restart: (overrides?: Partial<DaemonStartOptions>) => Promise<TestDaemon>;
  /** Resolves when the daemon process has ended (a failpoint fired). */
  exited: () => Promise<void>;
  /** Stops the daemon and removes the scratch dir. */
  cleanup: () => Promise<void>;
}

async function waitForSocket(socketPath: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${log()}`);
    if (existsSync(socketPath)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`daemon did not listen within 10 s: ${log()}`);
}

export interface DaemonStartOptions {
  extraArgs?: string[];
  dir?: { path: string; remove: () => void };
  /**
   * Start without --dns, so that the daemon forwards to the resolvers of the
   * world's /etc/resolv.conf — which the test first points at these addresses
   * (a bind mount private to the world; none of them is the machine's resolver).
   */
  hostResolvers?: string[];
  /**
   * The daemon.json to start with, given as --config-file ({} when absent, so
   * that a machine's /etc/skiff/daemon.json never reaches a test). When it
   * names "dns", the helper's own --dns is left out (dockerd refuses both).
   */
  config?: Record<string, unknown>;
  /**
   * Started as systemd starts a socket-activated service: the socket is
   * bound and listening before the daemon runs, passed as descriptor 3 with
   * LISTEN_FDS=1 and LISTEN_PID, and the daemon gets -H fd://.
   */
  socketActivation?: boolean;
  /** Runs the daemon inside this network namespace (a simulated host of a cluster); the docker CLI still reaches it by its socket. */
  netnsPath?: string;
  /** SKIFF_FAILPOINTS for this start (src/failpoints.ts): the daemon SIGKILLs itself there. */
  failpoints?: string[];
}

/**
 * systemd's part in socket activation, for tests: binds and listens on the
 * path in argv[1], puts the socket on descriptor 3, names this process in
 * LISTEN_PID and execs the rest of argv (so the daemon keeps that pid).
 * A constant program; every input travels in argv.
 */
const SOCKET_ACTIVATE = [
  'import os, socket, sys',
  'listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
  'listener.bind(sys.argv[1])',
  'listener.listen(128)',
  'os.dup2(listener.fileno(), 3)',
  // dup2 onto itself (the socket may already be 3) keeps close-on-exec: clear it.
  'os.set_inheritable(3, True)',
  'os.environ["LISTEN_FDS"] = "1"',
  'os.environ["LISTEN_PID"] = str(os.getpid())',
  'os.execv(sys.argv[2], sys.argv[2:])',
].join('\n');

async function waitForLog(text: string, child: ChildProcess, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}: ${log()}`);
    if (log().includes(text)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`daemon did not log "${text}" within 10 s: ${log()}`);
}

export async function startDaemon(options: DaemonStartOptions = {}): Promise<TestDaemon> {
  const scratch = options.dir ?? scratchDir('skiff-daemon-');
  const dir = scratch.path;
  const socketPath = join(dir, 'skiff.sock');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  if (options.hostResolvers !== undefined) pointWorldResolvConf(dir, options.hostResolvers);
  const config = options.config ?? {};
  const configPath = join(dir, 'daemon.json');
  writeFileSync(configPath, JSON.stringify(config));
  const dns = options.hostResolvers === undefined && !('dns' in config) ? ['--dns', '127.0.0.1'] : [];
  const host = options.socketActivation === true ? 'fd://' : `unix://${socketPath}`;
  const args = [
    skiffBin,
    'daemon',
    '-H',
    host,
    '--config-file',
    configPath,
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    ...dns,
    ...(options.extraArgs ?? []),
  ];
  // A killed daemon leaves its socket file: wait for the new one, not the old.
  rmSync(socketPath, { force: true });
  const spawnOptions: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SKIFF_FAILPOINTS: (options.failpoints ?? []).join(',') } };
  const child =
    options.socketActivation === true
      ? spawn('python3', ['-c', SOCKET_ACTIVATE, socketPath, process.execPath, ...args], spawnOptions)
      : options.netnsPath !== undefined
        ? // nsenter execs the daemon in place: the child's pid is the daemon's, so kill() signals it.
          spawn('nsenter', [`--net=${options.netnsPath}`, '--', process.execPath, ...args], spawnOptions)
        : spawn(process.execPath, args, spawnOptions);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const log = () => output;
  // An activated socket exists before the daemon runs: wait for the daemon to say it is ready.
  if (options.socketActivation === true) await waitForLog('Daemon has completed initialization', child, log);
  else await waitForSocket(socketPath, child, log);
  const env = { ...process.env, DOCKER_HOST: `unix://${socketPath}` };
  const runWith = (program: string, programArgs: string[]) => tryRunEnv(program, programArgs, env);
  const daemon: TestDaemon = {
    dir,
    socketPath,
    configPath,
    dataRoot,
    execRoot,
    process: child,
    log,
    docker: (...dockerArgs) => runWith('docker', dockerArgs),
    ok: async (...dockerArgs) => {
      const result = await runWith('docker', dockerArgs);
      assert.equal(result.code, 0, `docker ${dockerArgs.join(' ')}: ${result.stderr}`);
      return result.stdout;
    },
    skiff: (...skiffArgs) => runWith(process.execPath, [skiffBin, '-H', `unix://${socketPath}`, ...skiffArgs]),
    http: (method, path, body) => rawHttp(socketPath, method, path, body),
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      // A daemon that does not stop within 10 s is killed: a test never leaves one behind.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    restart: async (overrides = {}) => {
      await daemon.kill();
      return startDaemon({ ...options, ...overrides, dir: scratch });
    },
    exited: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise((resolve) => child.once('exit', resolve));
    },
    cleanup: async () => {
      assertNeverFatal(output);
      // Containers are processes outside the world's namespaces' lifetime: remove them all first.
      if (child.exitCode === null && child.signalCode === null) {
        const ids = (await daemon.docker('ps', '-aq')).stdout.split('\n').filter((id) => id !== '');
        if (ids.length > 0) await daemon.docker('rm', '-f', ...ids);
      }
      await daemon.kill();
      await killLeftoverContainers(execRoot, dir);
      scratch.remove();
    },
  };
  return daemon;
}

/** The daemon's last-resort handler was never reached: every failure stayed local. */
export function assertNeverFatal(daemonLog: string): void {
  assert.ok(!daemonLog.includes(FATAL_MARKER), `the daemon hit its last-resort handler:\n${daemonLog}`);
}

/**
 * This world's /etc/resolv.conf now names these servers: a file of the test's
 * bind-mounted over it, in the world's private mount namespace. Never written
 * through: the path may be the machine's own file.
 */
function pointWorldResolvConf(dir: string, servers: string[]): void {
  assertInWorld();
  const file = join(dir, 'host-resolv.conf');
  const alreadyPointed = existsSync(file);
  writeFileSync(file, servers.map((server) => `nameserver ${server}\n`).join(''));
  if (!alreadyPointed) execFileSync('mount', ['--bind', file, '/etc/resolv.conf']);
}

function tryRunEnv(program: string, args: string[], env: NodeJS.ProcessEnv) {
  return tryRun(program, args, env);
}

/**
 * Whatever a failed test left running under this daemon's roots: containers
 * (their runtime, runc or crun, kills every process in each one's cgroup) and their shims.
 */
async function killLeftoverContainers(execRoot: string, dir: string): Promise<void> {
  const { runtimes } = chooseRuntimes({ defaultRuntime: '', runtimes: {} }, findHostRuntimes());
  for (const runtime of ['runc', 'crun'].flatMap((name) => runtimes.get(name) ?? [])) {
    const root = join(execRoot, runtime.name);
    if (!existsSync(root)) continue;
    for (const id of readdirSync(root).filter((name) => /^[0-9a-f]{64}$/.test(name))) {
      const call = runtimeInvocation(runtime, ['--root', root, 'delete', '--force', id], 'acts-on');
      await tryRun(call.program, call.args);
    }
  }
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(dir) && Number(pid) !== process.pid) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

const busyboxTar = join(repoRoot, 'dist', 'busybox-image.tar');

/** Imports the busybox test image (built by scripts/make-busybox-image.sh) as `busybox`. */
export async function importBusybox(daemon: TestDaemon): Promise<void> {
  if (!existsSync(busyboxTar)) await tryRun('sh', [join(repoRoot, 'scripts', 'make-busybox-image.sh'), busyboxTar]);
  const result = await daemon.docker('import', busyboxTar, 'busybox');
  if (result.code !== 0) throw new Error(`docker import failed: ${result.stderr}`);
}

export function rawHttp(socketPath: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: body === undefined ? {} : { 'Content-Type': 'application/json' } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The daemon most e2e files share: started with busybox imported before the
 * file's first test and cleaned up after its last (node:test hooks of the
 * file). Tests use the returned object as the daemon itself; reading it
 * before the file's `before` hooks ran is a mistake and says so.
 */
export function busyboxDaemonForFile(options: DaemonStartOptions = {}): TestDaemon {
  let started: TestDaemon | undefined;
  before(async () => {
    started = await startDaemon(options);
    await importBusybox(started);
  });
  after(async () => {
    await started?.cleanup();
  });
  return new Proxy({} as TestDaemon, {
    get(_target, property) {
      if (started === undefined) throw new Error(`the file's daemon is read (${String(property)}) before its before() hook started it`);
      const value: unknown = Reflect.get(started, property);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(started) : value;
    },
  });
}
