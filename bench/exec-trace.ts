/**
 * Attributes an engine call's time to the programs it runs. The engine runs
 * every kernel change through child_process.execFile (src/kernel/exec.ts);
 * this wraps that function in this process only, so the benchmark can say
 * "join spends 9 ms in `ip -batch` and 11 ms in `nsenter ip -batch`"
 * without touching src/.
 */
import type { ChildProcess } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { PROGRAM_CHANNEL, type ProgramRun } from '../src/kernel/exec.js';

export interface ExecRecord {
  /** Program and its leading arguments, without paths or names: "nsenter ip -batch". */
  label: string;
  ms: number;
}

type ExecFile = (...args: unknown[]) => ChildProcess;

let recording: ExecRecord[] | undefined;
let installed = false;

/** The words of a command line that name what it does (paths, --net=FILE and link names dropped). */
export function execLabel(program: string, args: readonly unknown[]): string {
  const words = [program, ...args.filter((arg): arg is string => typeof arg === 'string')].filter(
    (word) => word !== '--' && !word.startsWith('--net=') && !word.includes('/'),
  );
  return words
    .slice(0, 3)
    .map((word) => (/^veth|^br-|^[0-9a-f]{12}$/.test(word) ? '<name>' : word))
    .join(' ');
}

/** Wraps child_process.execFile, and listens to the programs skiff's run() starts without it; must run before the engine makes its first call. */
export function installExecTrace(): void {
  if (installed) return;
  installed = true;
  subscribe(PROGRAM_CHANNEL, (message) => {
    const { program, args, ms } = message as ProgramRun;
    recording?.push({ label: execLabel(program, args), ms });
  });
  const childProcess = createRequire(import.meta.url)('node:child_process') as { execFile: ExecFile };
  const original = childProcess.execFile;
  childProcess.execFile = function tracedExecFile(this: unknown, ...args: unknown[]): ChildProcess {
    const sink = recording;
    const start = process.hrtime.bigint();
    const child = original.apply(this, args);
    if (sink !== undefined) {
      const label = execLabel(String(args[0]), Array.isArray(args[1]) ? args[1] : []);
      child.once('close', () => sink.push({ label, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    }
    return child;
  };
  syncBuiltinESMExports();
}

/** Runs work and returns the programs it ran with their times. */
export async function withExecTrace<T>(work: () => Promise<T>): Promise<{ value: T; execs: ExecRecord[] }> {
  const execs: ExecRecord[] = [];
  recording = execs;
  try {
    return { value: await work(), execs };
  } finally {
    recording = undefined;
  }
}
