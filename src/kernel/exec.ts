import { execFile } from 'node:child_process';
import { channel } from 'node:diagnostics_channel';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { SkiffError } from '../errors.js';
import { loadAddon, type SpawnOutcome } from './addon.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's standard input (ip -batch -, nft -f -). */
  input?: string;
  /** Milliseconds before the command is killed. */
  timeoutMs?: number;
}

/** A program run() started and how long it took (start: epoch ms), for whoever watches (the benchmarks' traces). */
export interface ProgramRun {
  program: string;
  args: readonly string[];
  start: number;
  ms: number;
}

/**
 * Published once per program run() starts, when it ends: the benchmarks
 * (bench/exec-trace.ts, bench/daemon-exec-log.ts) attribute a request's
 * time to its programs by it. Nothing is measured while nobody subscribes.
 */
export const PROGRAM_CHANNEL = 'skiff:program';
const programs = channel(PROGRAM_CHANNEL);

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_BUFFER = 64 * 1024 * 1024;

/** What the command's failure carries as its cause, as execFile's error does: the exit code (or errno name), the signal. */
export interface CommandFailure extends Error {
  code?: number | string;
  signal?: string;
  killed?: boolean;
}

type Spawner = (program: string, args: readonly string[], input: Buffer | null, timeoutMs: number, maxBuffer: number) => Promise<SpawnOutcome>;
let spawner: Spawner | null | undefined;

/**
 * The addon's posix_spawn (native/spawn.c): a program start that does not
 * grow with the daemon's memory, where execFile forks the whole process.
 * Without the addon (a build that skipped it) execFile still does the job.
 */
function addonSpawner(): Spawner | null {
  if (spawner === undefined) {
    try {
      const addon = loadAddon();
      spawner = addon.spawnProgram.bind(addon);
    } catch {
      spawner = null;
    }
  }
  return spawner;
}

/**
 * Runs one program with an argument array (never a shell) and resolves with its
 * output; a non-zero exit becomes a SkiffError naming the command and its stderr.
 */
export async function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  if (!programs.hasSubscribers) return runProgram(program, args, options);
  const start = performance.timeOrigin + performance.now();
  try {
    return await runProgram(program, args, options);
  } finally {
    programs.publish({ program, args, start, ms: performance.timeOrigin + performance.now() - start } satisfies ProgramRun);
  }
}

async function runProgram(program: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  const spawn = addonSpawner();
  if (spawn === null) return runWithExecFile(program, args, options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const outcome = await spawn(program, args, options.input === undefined ? null : Buffer.from(options.input), timeoutMs, MAX_BUFFER);
  const result = { stdout: outcome.stdout.toString('utf8'), stderr: outcome.stderr.toString('utf8') };
  const failure = failureOf(program, args, outcome, timeoutMs);
  if (failure === undefined) return result;
  throw new SkiffError('unavailable', `${program} ${args.join(' ')}: ${(result.stderr || failure.message).trim()}`, { cause: failure });
}

/** Why the program failed, in execFile's terms; undefined when it ran and exited 0. */
export function failureOf(
  program: string,
  args: readonly string[],
  outcome: Omit<SpawnOutcome, 'stdout' | 'stderr'>,
  timeoutMs: number,
): CommandFailure | undefined {
  const command = [program, ...args].join(' ');
  const named = (number: number) => Object.entries(constants.errno).find(([, value]) => value === number)?.[0];
  const signalName = (number: number) => Object.entries(constants.signals).find(([, value]) => value === number)?.[0] ?? String(number);
  let failure: CommandFailure;
  if (outcome.spawnErrno !== 0) {
    const code = named(outcome.spawnErrno) ?? `errno ${outcome.spawnErrno}`;
    failure = Object.assign(new Error(`spawn ${program} ${code}`), { code });
  } else if (outcome.timedOut) {
    failure = Object.assign(new Error(`Command failed: ${command}: killed after ${timeoutMs} ms`), { killed: true, signal: 'SIGTERM' });
  } else if (outcome.overflowed) {
    failure = Object.assign(new Error(`Command failed: ${command}: stdout or stderr over ${MAX_BUFFER} bytes`), { killed: true, signal: 'SIGTERM' });
  } else if (outcome.signal !== 0) {
    failure = Object.assign(new Error(`Command failed: ${command}: killed by ${signalName(outcome.signal)}`), { signal: signalName(outcome.signal) });
  } else if (outcome.status !== 0) {
    failure = Object.assign(new Error(`Command failed: ${command}`), { code: outcome.status });
  } else {
    return undefined;
  }
  return failure;
}

function runWithExecFile(program: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      program,
      args,
      { timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBuffer: MAX_BUFFER, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          const detail = (stderr || error.message).trim();
          reject(new SkiffError('unavailable', `${program} ${args.join(' ')}: ${detail}`, { cause: error }));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined); // the program exiting before reading its input is reported by its exit code
      child.stdin?.end(options.input);
    }
  });
}

/** A program started to outlive the call, and the daemon's ends of its channels (its fds 3, 4, …), as sockets. */
export interface DetachedProgram {
  pid: number;
  channels: Socket[];
  /** The program's part is done (a shim's report is over): said on the programs channel with its time, as run() does. */
  done(): void;
}

/**
 * Starts a program that outlives the call (a container's shim) in a session
 * of its own, stdin from /dev/null, stdout and stderr on outFd and errFd,
 * and `channels` socket pairs as its fds 3, 4, …: by posix_spawn (the addon
 * reaps it when it ends), so its start does not grow with the daemon. Throws
 * when it could not start.
 */
export function startDetached(program: string, args: readonly string[], outFd: number, errFd: number, channels: number): DetachedProgram {
  const start = performance.timeOrigin + performance.now();
  try {
    const { pid, fds } = loadAddon().spawnDetached(program, args, outFd, errFd, channels);
    const done = () => {
      if (programs.hasSubscribers) programs.publish({ program, args, start, ms: performance.timeOrigin + performance.now() - start } satisfies ProgramRun);
    };
    return { pid, channels: fds.map((fd) => new Socket({ fd, readable: true, writable: true })), done };
  } catch (error) {
    throw new SkiffError('unavailable', `failed to start ${program}: ${(error as Error).message}`, { cause: error });
  }
}

/** Runs a program inside the network namespace bound at netnsPath. */
export function runInNetns(netnsPath: string, program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return run('nsenter', [`--net=${netnsPath}`, '--', program, ...args], options);
}
