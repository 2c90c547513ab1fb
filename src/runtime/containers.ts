/**
 * Runs containers as real processes with an OCI runtime (runc, crun, or one
 * the configuration adds). Each running container has one tiny C shim
 * (src/runtime/shim/skiff-shim.c) as its parent: it outlives the daemon
 * (live-restore), keeps the container's output going to its log file and
 * records the exit code in the bundle, where the daemon watches for it.
 * Bundles live under <execRoot>/containers, each naming its runtime in
 * meta.json; a runtime's state lives under <execRoot>/<runtime name>.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from '../model/random.js';
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, rmSync, statSync, watch, writeFileSync, createWriteStream, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { conflict, notFound, SkiffError } from '../errors.js';
import { run, startDetached, type DetachedProgram } from '../kernel/exec.js';
import { isMountPoint, mountOverlay, unmount } from '../kernel/mounts.js';
import {
  bundleExists,
  containerPaths,
  processAlive,
  readExitStatus,
  readJson,
  type ContainerMeta,
  type ContainerPaths,
  type StartRecord,
} from './container-files.js';
import type { ContainerProcessSpec } from './process-spec.js';
import { bytesOfFiles } from './disk-usage.js';
import { encodeFrame } from './log-frames.js';
import { readLog, type LogOptions } from './log-reader.js';
import { ociSpec } from './oci-spec.js';
import { crunV1Update, ociUpdate } from './oci-resources.js';
import { ContainerCgroup } from './cgroups.js';
import {
  chooseRuntimes,
  findHostRuntimes,
  isCrun,
  runtimeInvocation,
  runtimeNamed,
  STOCK_RUNTIME,
  V1_CGROUPS_VIEW,
  V1_VIEW_MOUNTS_FILE,
  v1ViewMounts,
  type OciPaths,
  type OciRuntime,
  type RuntimeCall,
  type RuntimeSet,
} from './oci-runtimes.js';
import type { ContainerResources } from '../model/container.js';
import { LeanV1View } from './v1-view.js';

export type { ContainerProcessSpec } from './process-spec.js';

export type ContainerStatus = 'created' | 'running' | 'exited';

/** A container created by its runtime, not yet running (ContainerRuntime.prepare). */
export interface PreparedStart {
  pid: number;
  /** Runs it; Docker's error when the runtime cannot. */
  go: () => Promise<{ pid: number }>;
  /** Deletes the created process (the bundle stays, for delete()). */
  abort: () => Promise<void>;
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number | null;
  startedAt?: string;
  finishedAt?: string;
}

export interface RuntimeOptions {
  /** Where failures that belong to no request go (an exit listener that threw). */
  log?: (message: string) => void;
  dataRoot: string;
  execRoot: string;
  /** The compiled shim; default dist/skiff-shim beside the compiled sources. */
  shimPath?: string;
  /** The compiled skiff-v1-cgroups (crun on a hybrid host); default dist/skiff-v1-cgroups beside the compiled sources. */
  v1ViewPath?: string;
  /** The runtimes containers may ask for; default crun where it can run, else runc, as found on the host. */
  runtimes?: RuntimeSet;
}

const DEFAULT_SHIM = fileURLToPath(new URL('../../skiff-shim', import.meta.url));
const EXIT_SWEEP_MS = 2000;
const WAIT_POLL_MAX_MS = 500;

/** crun's words for a command it cannot find ("executable file `x` not found in $PATH: No such file or directory"). */
const CRUN_NOT_FOUND = /^executable file `(.*)` not found in \$PATH: No such file or directory\s*$/;

/**
 * A runtime's failure to exec a process, in runc's words, which are Docker's
 * (scripts match on them whichever runtime is the default): runc's own error
 * line (logrus text format), or crun's plain line for a missing command.
 */
export function runcFailure(chunk: string): string | undefined {
  const match = /^time="[^"]*" level=error msg="((?:[^"\\]|\\.)*)"\s*$/.exec(chunk);
  if (match) return match[1]!.replace(/\\(.)/g, '$1');
  const notFound = CRUN_NOT_FOUND.exec(chunk);
  return notFound ? `exec: "${notFound[1]}": executable file not found in $PATH` : undefined;
}

/** An exec's environment as Docker gives it: the container's, with the exec's variables replacing those of the same name or added. */
export function execEnvironment(containerEnv: readonly string[], execEnv: readonly string[]): string[] {
  const nameOf = (entry: string) => entry.split('=', 1)[0]!;
  const given = new Map(execEnv.map((entry) => [nameOf(entry), entry]));
  const merged = containerEnv.map((entry) => given.get(nameOf(entry)) ?? entry);
  const present = new Set(containerEnv.map(nameOf));
  return [...merged, ...execEnv.filter((entry) => !present.has(nameOf(entry)))];
}

/**
 * A start that runc refused, worded as Docker 20.10 does; exitCode is what
 * Docker records on the container (127: no such command, 126: not executable).
 */
export class ContainerStartError extends SkiffError {
  readonly exitCode: number;

  constructor(kind: 'invalid' | 'unavailable', message: string, exitCode: number) {
    super(kind, message);
    this.exitCode = exitCode;
  }
}

export function startError(shimReport: string): ContainerStartError {
  const logged = /level=error msg="((?:[^"\\]|\\.)*)"/.exec(shimReport);
  const plain = shimReport.replace(/^\S+ run exited with \d+: /, '');
  const crunNotFound = CRUN_NOT_FOUND.exec(plain);
  const detail = logged
    ? logged[1]!.replace(/\\(.)/g, '$1').replace(/^runc (run|create) failed: /, '')
    : crunNotFound
      ? `unable to start container process: exec: "${crunNotFound[1]}": executable file not found in $PATH`
      : plain;
  const message = `OCI runtime create failed: ${detail}: unknown`;
  // runc's words, and crun's ("executable file `x` not found in $PATH: No such file or directory").
  if (/executable file .*not found|no such file or directory/i.test(detail)) return new ContainerStartError('invalid', message, 127);
  if (/permission denied/i.test(detail)) return new ContainerStartError('invalid', message, 126);
  return new ContainerStartError('unavailable', message, 128);
}

export class ContainerRuntime {
  private readonly dataRoot: string;
  private readonly execRoot: string;
  private readonly shimPath: string;
  private readonly v1ViewPath: string | undefined;
  private readonly leanView: LeanV1View;
  readonly runtimes: RuntimeSet;
  private readonly exitListeners: Array<(id: string, exitCode: number) => void> = [];
  /** Containers whose exit we wait for, with the fs watcher on their bundle. */
  private readonly watched = new Map<string, FSWatcher | undefined>();
  /** Each watched container's shim, once its start record was read: all the periodic sweep needs to ask about. */
  private readonly shimPids = new Map<string, number>();
  /** Where each container's log stood when its current run was prepared: an attach made before the start reads from there. */
  private readonly runLogOffsets = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly log: (message: string) => void;

  constructor(options: RuntimeOptions) {
    this.log = options.log ?? ((message) => process.stderr.write(`skiff: ${message}\n`));
    this.dataRoot = options.dataRoot;
    this.execRoot = options.execRoot;
    this.shimPath = options.shimPath ?? process.env['SKIFF_SHIM'] ?? DEFAULT_SHIM;
    this.v1ViewPath = options.v1ViewPath;
    this.runtimes = options.runtimes ?? chooseRuntimes({ defaultRuntime: '', runtimes: {} }, findHostRuntimes());
    this.leanView = new LeanV1View(this.v1ViewPath ?? V1_CGROUPS_VIEW, this.execRoot, this.log);
    mkdirSync(join(this.execRoot, 'containers'), { recursive: true });
    mkdirSync(join(this.dataRoot, 'containers'), { recursive: true });
    // Made now, before the first container mounts anything under the exec root (see view_propagation in skiff-v1-cgroups.c).
    if ([...this.runtimes.runtimes.values()].some((runtime) => runtime.v1CgroupsView === true)) void this.leanView.ready();
  }

  private paths(id: string): ContainerPaths {
    if (!/^[0-9a-f]{64}$/.test(id)) throw notFound(`No such container: ${id}`);
    return containerPaths(this.dataRoot, this.execRoot, id);
  }

  private existing(id: string): ContainerPaths {
    const paths = this.paths(id);
    if (!bundleExists(paths)) throw notFound(`No such container: ${id}`);
    return paths;
  }

  /**
   * The runtime the container's bundle names (a bundle of an older skiff
   * names none: runc), as it was when the container started, so a container
   * is still found when the configuration has changed since.
   */
  private runtimeOf(id: string): OciRuntime {
    const meta = readJson<ContainerMeta>(this.paths(id).meta);
    return meta?.runtime ?? this.runtimes.runtimes.get(STOCK_RUNTIME)!;
  }

  /** The runtime's global options: its own arguments and its state root, <execRoot>/<name>. */
  private globalArgs(runtime: OciRuntime): string[] {
    return [...runtime.args, '--root', join(this.execRoot, runtime.name)];
  }

  /** A call of the runtime: its program and arguments (through the v1 cgroups view where the runtime needs it for that call). */
  private invocation(runtime: OciRuntime, args: string[], call: RuntimeCall): { program: string; args: string[] } {
    return runtimeInvocation(runtime, [...this.globalArgs(runtime), ...args], call, this.v1ViewPath, this.leanView.pidFile);
  }

  /** Runs the container's runtime on what its create made (`runc kill|delete|pause|update… ID`). */
  private runtimeCommand(id: string, args: string[]) {
    const call = this.invocation(this.runtimeOf(id), args, 'acts-on');
    return run(call.program, call.args);
  }

  /** The runtime a new container asks for ('' = the default): Docker's error for a name that is not configured. */
  runtimeNamed(requested: string): OciRuntime {
    return runtimeNamed(this.runtimes, requested);
  }

  /** The pids of the container's processes, as its runtime sees them in its cgroup. */
  async pids(id: string): Promise<number[]> {
    const { stdout } = await this.runtimeCommand(id, ['ps', '--format', 'json', id]);
    return JSON.parse(stdout) as number[];
  }

  /** docker pause / unpause: runc freezes or thaws the container's cgroup (the freezer controller on v1, cgroup.freeze on v2). */
  async pause(id: string): Promise<void> {
    this.existing(id);
    await this.runtimeCommand(id, ['pause', id]);
  }

  async resume(id: string): Promise<void> {
    this.existing(id);
    await this.runtimeCommand(id, ['resume', id]);
  }

  /** docker update of a running container: its cgroup gets the limits as they now are. */
  async updateResources(id: string, resources: ContainerResources): Promise<void> {
    const paths = this.existing(id);
    const cgroup = new ContainerCgroup(id);
    const { update, lifts } =
      isCrun(this.runtimeOf(id)) && cgroup.version === 1 ? crunV1Update(ociUpdate(resources)) : { update: ociUpdate(resources), lifts: [] };
    // A file, not stdin: crun opens /dev/stdin, which a socket (what Node gives a child) cannot be opened as.
    const file = join(paths.bundle, `resources-${randomBytes(6).toString('hex')}.json`);
    writeFileSync(file, JSON.stringify(update));
    try {
      await this.runtimeCommand(id, ['update', '--resources', file, id]);
    } finally {
      rmSync(file, { force: true });
    }
    for (const lift of lifts) cgroup.writeV1(lift.controller, lift.file, lift.value);
  }

  /** The container's cgroup, read back (it lasts from the start until the container is deleted or started again). */
  cgroup(id: string): ContainerCgroup {
    this.paths(id);
    return new ContainerCgroup(id);
  }

  /** Whether the container has a bundle, complete or not (a start that ran before, or one cut short). */
  hasBundle(id: string): boolean {
    return existsSync(this.paths(id).bundle);
  }

  async create(spec: ContainerProcessSpec): Promise<void> {
    const paths = this.paths(spec.id);
    if (existsSync(paths.bundle)) throw conflict(`container ${spec.id} already exists`);
    const runtime = this.runtimeNamed(spec.runtime);
    const undo: Array<() => Promise<unknown> | void> = [];
    try {
      mkdirSync(paths.rootfs, { recursive: true });
      undo.push(() => rmSync(paths.bundle, { recursive: true, force: true }));
      mkdirSync(paths.upper, { recursive: true });
      mkdirSync(paths.work, { recursive: true });
      await mountOverlay(paths.rootfs, { lowerDir: spec.image.rootfsPath, upperDir: paths.upper, workDir: paths.work });
      undo.push(() => unmount(paths.rootfs));
      if (spec.openStdin) await run('mkfifo', ['-m', '0600', paths.stdinFifo]);
      mkdirSync(join(this.execRoot, runtime.name), { recursive: true });
      const meta: ContainerMeta = {
        tty: spec.tty,
        openStdin: spec.openStdin,
        runtime,
        ...(spec.logRotation === undefined ? {} : { logRotation: spec.logRotation }),
      };
      writeFileSync(paths.meta, JSON.stringify(meta));
      const config = ociSpec(spec);
      if (runtime.v1CgroupsView === true) writeFileSync(join(paths.bundle, V1_VIEW_MOUNTS_FILE), v1ViewMounts(paths.bundle, config));
      // config.json last: its presence is what marks a complete bundle.
      writeFileSync(paths.config, JSON.stringify(config, null, 2));
    } catch (error) {
      for (const step of undo.reverse()) {
        await Promise.resolve(step()).catch((undoError: unknown) => this.log(`undo of creating container ${spec.id} failed: ${String(undoError)}`));
      }
      throw error;
    }
  }

  async start(id: string): Promise<{ pid: number }> {
    const prepared = await this.prepare(id);
    return prepared.go();
  }

  /**
   * Creates the container's process without running it (`runc create`
   * under a gated shim): what the container starts with (its network, its
   * /etc files, written in place) can be finished meanwhile. Then go() runs
   * it (`runc start`) or abort() deletes it; a daemon that dies before
   * either leaves the shim to delete it.
   */
  async prepare(id: string): Promise<PreparedStart> {
    const paths = this.existing(id);
    const current = await this.state(id);
    if (current.status === 'running') return { pid: current.pid, go: () => Promise.resolve({ pid: current.pid }), abort: () => Promise.resolve() };
    if (current.status === 'exited') {
      // Restart: runc keeps the stopped container's state until deleted.
      await this.runtimeCommand(id, ['delete', '--force', id]).catch((error: Error) => {
        if (!/does not exist|not found/i.test(error.message)) this.log(`runtime delete before restarting ${id}: ${error.message}`);
      });
      for (const file of [paths.exitStatus, paths.initPid, paths.started]) rmSync(file, { force: true });
    }
    const meta = readJson<ContainerMeta>(paths.meta) ?? { tty: false, openStdin: false };
    const rotation = meta.logRotation === undefined ? '' : `:${meta.logRotation.maxSize}:${meta.logRotation.maxFile}`;
    const mode = `${meta.tty ? 't' : ''}${meta.openStdin ? 'i' : ''}g${rotation}`;
    const runtime = meta.runtime ?? this.runtimeOf(id);
    if (runtime.v1CgroupsView === true) {
      // A bundle from before the lean view lists nothing to carry into it: its create would find no rootfs there.
      const carried = join(paths.bundle, V1_VIEW_MOUNTS_FILE);
      if (!existsSync(carried)) writeFileSync(carried, v1ViewMounts(paths.bundle, readJson<OciPaths>(paths.config) ?? {}));
      await this.leanView.ready();
    }
    // The log outlives runs (the shim appends): this run's output begins at its size now.
    this.runLogOffsets.set(id, existsSync(paths.log) ? statSync(paths.log).size : 0);
    const shimLog = openSync(paths.shimLog, 'a');
    const call = this.invocation(runtime, [], 'makes');
    let shim: DetachedProgram;
    try {
      // Started by posix_spawn: a fork of the daemon (execFile's way) costs more the more containers it holds.
      shim = startDetached(this.shimPath, [id, paths.bundle, paths.log, mode, call.program, ...call.args], shimLog, shimLog, 2);
    } finally {
      closeSync(shimLog);
    }
    const [channel, gate] = shim.channels as [Socket, Socket];
    gate.on('error', () => undefined); // the shim ended (a failed create): its report says why
    channel.on('error', () => undefined); // its end: the report is what it is
    let text = '';
    let ended = false;
    const reported = new Promise<void>((resolve) => {
      channel.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (/^created \d+\n/.test(text)) resolve();
      });
      channel.on('close', () => {
        ended = true;
        resolve();
      });
    });
    const finished = new Promise<string>((resolve) => {
      channel.on('close', () => {
        shim.done();
        gate.destroy(); // the shim reads its gate no more once its report is over
        resolve(text.replace(/^created \d+\n/, '').trim());
      });
    });
    const failure = (report: string) => startError(report.replace(/^error /, '') || `skiff-shim exited without a report (see ${paths.shimLog})`);
    await reported;
    if (ended) throw failure(text.trim());
    const createdPid = Number(/^created (\d+)/.exec(text)![1]);
    return {
      pid: createdPid,
      go: async () => {
        gate.end('g');
        const report = await finished;
        const ok = /^ok (\d+)$/.exec(report);
        if (!ok) throw failure(report);
        const record: StartRecord = { startedAt: new Date().toISOString(), pid: Number(ok[1]), shimPid: shim.pid };
        writeFileSync(paths.started, JSON.stringify(record));
        this.watchExit(id);
        return { pid: record.pid };
      },
      abort: async () => {
        gate.end();
        await finished;
      },
    };
  }

  async kill(id: string, signal: string): Promise<void> {
    this.existing(id);
    const { status } = await this.state(id);
    if (status !== 'running') throw conflict(`Container ${id} is not running`);
    await this.signal(id, signal.replace(/^SIG/i, '').toUpperCase());
  }

  /**
   * Signals the container's process. A KILL also thaws a paused container, so
   * that it dies (on cgroup v1 a frozen process cannot): runc does so itself,
   * crun 1.8 does not.
   */
  private async signal(id: string, signal: string): Promise<void> {
    await this.runtimeCommand(id, ['kill', id, signal]);
    if ((signal === 'KILL' || signal === '9') && isCrun(this.runtimeOf(id)) && new ContainerCgroup(id).frozen()) await this.runtimeCommand(id, ['resume', id]);
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    this.existing(id);
    if ((await this.state(id)).status !== 'running') return;
    // The process may end between the check and a signal: runc then says it is not running, which is what we want.
    await this.runtimeCommand(id, ['kill', id, 'TERM']).catch((error: Error) => this.log(`stop ${id}: SIGTERM: ${error.message}`));
    if (await this.exitedWithin(id, timeoutSeconds * 1000)) return;
    await this.signal(id, 'KILL').catch((error: Error) => this.log(`stop ${id}: SIGKILL: ${error.message}`));
    await this.waitExit(id);
  }

  /** The container's state as its bundle tells it (a promise, as callers treat it like the runtime's other questions). */
  state(id: string): Promise<ContainerState> {
    return new Promise((resolve) => resolve(this.stateNow(id)));
  }

  private stateNow(id: string): ContainerState {
    const paths = this.existing(id);
    const started = readJson<StartRecord>(paths.started);
    if (started === undefined) return { status: 'created', pid: 0, exitCode: null };
    const exit = readExitStatus(paths);
    if (exit !== undefined) {
      return { status: 'exited', pid: 0, exitCode: exit.exitCode, startedAt: started.startedAt, finishedAt: exit.finishedAt };
    }
    if (!processAlive(started.shimPid) && !processAlive(started.pid) && readExitStatus(paths) === undefined) {
      // The shim was killed: nobody can tell the exit code any more.
      return { status: 'exited', pid: 0, exitCode: 255, startedAt: started.startedAt };
    }
    return { status: 'running', pid: started.pid, exitCode: null, startedAt: started.startedAt };
  }

  onExit(listener: (id: string, exitCode: number) => void): void {
    this.exitListeners.push(listener);
  }

  /** Resolves with the exit code once the container's process has ended. */
  async waitExit(id: string): Promise<number> {
    let delay = 10;
    for (;;) {
      const state = await this.state(id);
      if (state.status === 'exited') return state.exitCode ?? 255;
      await sleep(delay);
      delay = Math.min(delay * 2, WAIT_POLL_MAX_MS);
    }
  }

  private async exitedWithin(id: string, milliseconds: number): Promise<boolean> {
    const deadline = Date.now() + milliseconds;
    while (Date.now() < deadline) {
      if ((await this.state(id)).status === 'exited') return true;
      await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    return (await this.state(id)).status === 'exited';
  }

  logs(id: string, options: LogOptions): NodeJS.ReadableStream {
    const paths = this.existing(id);
    const meta = readJson<ContainerMeta>(paths.meta) ?? { tty: false, openStdin: false };
    return readLog({ logPath: paths.log, exitStatusPath: paths.exitStatus, tty: meta.tty, rotates: meta.logRotation !== undefined, ...options });
  }

  /**
   * Output from now on (Docker frames unless tty) and, for containers created
   * with openStdin, the container's stdin. Ending input leaves the container's
   * stdin open (`docker attach` semantics); closeStdin closes it.
   */
  /** The container's output (the streams asked for; both by default) and its stdin when it has one. */
  attach(
    id: string,
    options: { fromStart?: boolean; stdout?: boolean; stderr?: boolean } = {},
  ): { output: NodeJS.ReadableStream; input?: NodeJS.WritableStream } {
    const paths = this.existing(id);
    const meta = readJson<ContainerMeta>(paths.meta) ?? { tty: false, openStdin: false };
    // fromStart: a client that attached before the start (docker run, docker start -a) must see the run's first output too, and not the runs before.
    const fromOffset = options.fromStart === true ? (this.runLogOffsets.get(id) ?? 0) : existsSync(paths.log) ? statSync(paths.log).size : 0;
    const output = readLog({
      logPath: paths.log,
      exitStatusPath: paths.exitStatus,
      tty: meta.tty,
      rotates: meta.logRotation !== undefined,
      stdout: options.stdout ?? true,
      stderr: options.stderr ?? true,
      follow: true,
      fromOffset,
    });
    if (!meta.openStdin) return { output };
    // O_RDWR: opening never blocks, whether or not the shim holds the other end yet.
    const input = createWriteStream(paths.stdinFifo, { flags: 'r+' });
    input.on('error', () => undefined); // the container's stdin closed (it exited): what the client types has nowhere to go
    return { output, input };
  }

  /** Closes the container's stdin after what was written so far (`docker run -i` when input ends). */
  closeStdin(id: string): void {
    const paths = this.existing(id);
    const started = readJson<StartRecord>(paths.started);
    if (started !== undefined && processAlive(started.shimPid)) process.kill(started.shimPid, 'SIGUSR1');
  }

  /**
   * Runs a process in a running container (`runc exec`). Output is framed
   * unless tty; a tty exec goes through the shim's exec-tty mode, because runc
   * in the foreground wants a real terminal. runc's own failure (no such
   * executable) comes out as Docker words it, with exit code 126.
   */
  exec(
    id: string,
    options: { args: string[]; env: string[]; tty: boolean; cwd?: string; openStdin?: boolean },
  ): {
    output: NodeJS.ReadableStream;
    input?: NodeJS.WritableStream;
    exitCode: Promise<number>;
  } {
    const paths = this.existing(id);
    const name = `exec-${randomBytes(6).toString('hex')}`;
    const ttyArgs = ['--detach', '--tty', '--console-socket', `/proc/self/cwd/${name}.sock`, '--pid-file', `${name}.pid`];
    const runtime = this.runtimeOf(id);
    const execArgs = ['exec', ...(options.tty ? ttyArgs : [])];
    if (options.cwd !== undefined && options.cwd !== '') execArgs.push('--cwd', options.cwd);
    // runc adds --env to the container's environment; crun's exec takes --env as the whole of it.
    const env = isCrun(runtime) ? execEnvironment(readJson<{ process?: { env?: string[] } }>(paths.config)?.process?.env ?? [], options.env) : options.env;
    for (const variable of env) execArgs.push('--env', variable);
    execArgs.push(id, ...options.args);
    const call = this.invocation(runtime, execArgs, 'makes');
    const [program, programArgs] = options.tty ? [this.shimPath, ['exec-tty', paths.bundle, name, call.program, ...call.args]] : [call.program, call.args];
    const child = spawn(program, programArgs, { stdio: [options.openStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const output = new PassThrough();
    let runcFailed = false;
    let open = 2;
    const forward = (stream: Readable, streamId: 1 | 2) => {
      stream.on('data', (chunk: Buffer) => {
        const failure = streamId === 2 ? runcFailure(chunk.toString()) : undefined;
        if (failure !== undefined) runcFailed = true;
        const data = failure === undefined ? chunk : Buffer.from(`OCI runtime exec failed: ${failure}: unknown${options.tty ? '\r\n' : '\n'}`);
        output.write(options.tty ? data : encodeFrame(streamId, data));
      });
      stream.on('end', () => {
        if (--open === 0) output.end();
      });
    };
    forward(child.stdout!, 1);
    forward(child.stderr!, 2);
    const exitCode = new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(runcFailed ? 126 : (code ?? (signal ? 128 : 255))));
    });
    const input = child.stdin ?? undefined;
    input?.on('error', () => undefined); // the exec'd process closed its stdin or ended: nowhere to deliver input
    return input ? { output, input, exitCode } : { output, exitCode };
  }

  /**
   * The container's merged rootfs, mounted where a start mounts it when it is
   * not (a container never started, or one whose mount a reboot took): what
   * docker cp, export, diff and commit read, as dockerd mounts a stopped
   * container's layers for them. The next start renews the bundle around it.
   */
  async mountRootfs(id: string, lowerDir: string): Promise<{ rootfs: string; upper: string }> {
    const paths = this.paths(id);
    mkdirSync(paths.rootfs, { recursive: true });
    mkdirSync(paths.upper, { recursive: true });
    mkdirSync(paths.work, { recursive: true });
    if (!isMountPoint(paths.rootfs)) await mountOverlay(paths.rootfs, { lowerDir, upperDir: paths.upper, workDir: paths.work });
    return { rootfs: paths.rootfs, upper: paths.upper };
  }

  /** The container's writable layer (it may not exist yet): what docker system df sizes. */
  upperDir(id: string): string {
    return this.paths(id).upper;
  }

  /** Bytes the container wrote to its own layer (Docker's SizeRw): what removing it gives back. */
  writableLayerSize(id: string): Promise<number> {
    return bytesOfFiles(this.paths(id).upper);
  }

  /**
   * Idempotent: kills whatever runs, unmounts the rootfs, removes the bundle
   * and the container's data; keepLayer (a restart) keeps its writable layer,
   * as Docker keeps a container's files from one run to the next.
   */
  async delete(id: string, options: { keepLayer?: boolean } = {}): Promise<void> {
    const paths = this.paths(id);
    this.unwatch(id);
    if (options.keepLayer !== true) this.runLogOffsets.delete(id);
    const failures: string[] = [];
    await this.runtimeCommand(id, ['delete', '--force', id]).catch((error: Error) => {
      if (!/does not exist|not found/i.test(error.message)) failures.push(error.message);
    });
    const started = readJson<StartRecord>(paths.started);
    if (started !== undefined) {
      // Let the shim record the exit and quit before its bundle goes away.
      for (let i = 0; i < 100 && processAlive(started.shimPid); i++) await sleep(20);
    }
    if (isMountPoint(paths.rootfs)) {
      await unmount(paths.rootfs).catch(async () => {
        await unmount(paths.rootfs, { lazy: true }).catch((error: Error) => failures.push(error.message));
      });
    }
    // A restart keeps the log (and its rotated files): the next run's shim appends, as dockerd's json-file does.
    const removed = options.keepLayer === true ? [paths.bundle] : [paths.bundle, paths.dataDir];
    for (const dir of removed) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    if (failures.length > 0) throw new SkiffError('unavailable', `failed to delete container ${id}: ${failures.join('; ')}`);
  }

  /**
   * After a daemon restart: the ids of all bundles (complete or cut short);
   * running containers are watched again, and onExit fires for those that
   * ended while nobody watched.
   */
  async restore(): Promise<string[]> {
    const ids = readdirSync(join(this.execRoot, 'containers')).filter((name) => /^[0-9a-f]{64}$/.test(name));
    for (const id of ids) {
      if (bundleExists(this.paths(id)) && (await this.state(id)).status !== 'created') this.watchExit(id);
    }
    return ids;
  }

  /** Stops watching for exits (the daemon shutting down; containers keep running). */
  close(): void {
    for (const id of [...this.watched.keys()]) this.unwatch(id);
    this.leanView.stop();
  }

  private watchExit(id: string): void {
    if (this.watched.has(id)) return;
    let watcher: FSWatcher | undefined;
    try {
      watcher = watch(this.paths(id).bundle, (_event, file) => {
        if (file === 'exit-status') void this.checkExit(id);
      });
      watcher.on('error', () => this.unwatch(id));
      watcher.unref();
    } catch {
      watcher = undefined; // the periodic sweep still notices the exit
    }
    this.watched.set(id, watcher);
    if (this.sweepTimer === undefined) {
      this.sweepTimer = setInterval(() => this.sweepExits(), EXIT_SWEEP_MS);
      this.sweepTimer.unref();
    }
    setImmediate(() => void this.checkExit(id));
  }

  /**
   * The safety net under the watchers: an exit always ends the shim (it writes
   * exit-status, which the watcher sees, and goes), so a shim still alive
   * needs no further look. Asking only that keeps a sweep beside 1,000
   * containers at one kill(0) each, where reading every bundle's files on the
   * event loop took ~50 ms every 2 s.
   */
  private sweepExits(): void {
    for (const id of this.watched.keys()) {
      let shimPid = this.shimPids.get(id);
      if (shimPid === undefined) {
        shimPid = readJson<StartRecord>(this.paths(id).started)?.shimPid;
        if (shimPid !== undefined) this.shimPids.set(id, shimPid);
      }
      if (shimPid === undefined || !processAlive(shimPid)) void this.checkExit(id);
    }
  }

  private unwatch(id: string): void {
    this.watched.get(id)?.close();
    this.watched.delete(id);
    this.shimPids.delete(id);
    if (this.watched.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  private async checkExit(id: string): Promise<void> {
    if (!this.watched.has(id)) return;
    let state: ContainerState;
    try {
      state = await this.state(id);
    } catch {
      // The bundle is gone (the container was removed): nothing left to watch.
      this.unwatch(id);
      return;
    }
    if (state.status !== 'exited' || !this.watched.has(id)) return;
    this.unwatch(id);
    for (const listener of this.exitListeners) {
      try {
        listener(id, state.exitCode ?? 255);
      } catch (error) {
        this.log(`after container ${id} exited: ${String(error)}`);
      }
    }
  }
}
