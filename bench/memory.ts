/** Memory of processes in this world's pid namespace, from /proc (kilobytes). */
import { readdirSync, readFileSync } from 'node:fs';

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Resident set size (VmRSS), 0 if the process is gone. */
export function rssKb(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readOr(`/proc/${pid}/status`, ''))?.[1] ?? 0);
}

/** Resident memory (kB) by kind: anonymous (heaps, stacks) and file-backed (the node binary, libraries, addons). */
export function rssPartsKb(pid: number): { anon: number; file: number } {
  const status = readOr(`/proc/${pid}/status`, '');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { anon: field('RssAnon'), file: field('RssFile') + field('RssShmem') };
}

/** Proportional set size (shared pages split among their users), 0 if the process is gone. */
export function pssKb(pid: number): number {
  return Number(/^Pss:\s+(\d+)/m.exec(readOr(`/proc/${pid}/smaps_rollup`, ''))?.[1] ?? 0);
}

/**
 * Live (not zombie) pids whose command name (/proc/PID/comm, at most 15
 * characters) is comm. Zombies are left out: shims that daemonized are
 * orphans of the world's first process, which does not reap them.
 */
export function pidsNamed(comm: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => readOr(`/proc/${entry}/comm`, '').trim() === comm)
    .filter((entry) => !/^State:\s+Z/m.test(readOr(`/proc/${entry}/status`, 'State: Z')))
    .map(Number);
}

/** Children of pid (by PPid). */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => Number(/^PPid:\s+(\d+)/m.exec(readOr(`/proc/${entry}/status`, ''))?.[1] ?? -1) === pid)
    .map(Number);
}

export function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

/** CPU time (user + system, all threads) a process has used, in milliseconds; 0 if it is gone. */
export function cpuMs(pid: number): number {
  const stat = readOr(`/proc/${pid}/stat`, '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime), counted from after "(comm) ".
  return ((Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * 1000) / CLOCK_TICKS;
}

/** USER_HZ: 100 on Linux. */
const CLOCK_TICKS = 100;

/** How a bench starts skiff's daemon: node options before its script and variables in its environment. */
export interface DaemonVariant {
  name: string;
  nodeArgs: string[];
  env: Record<string, string>;
}

/** "NAME=WORD …": each word a node option (`--optimize-for-size`) or a variable (`MALLOC_ARENA_MAX=2`). */
export function daemonVariant(text: string): DaemonVariant {
  const equals = text.indexOf('=');
  const words = text
    .slice(equals + 1)
    .split(' ')
    .filter((word) => word !== '');
  const env: Record<string, string> = {};
  const nodeArgs: string[] = [];
  for (const word of words) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (match === null) nodeArgs.push(word);
    else env[match[1]!] = match[2]!;
  }
  return { name: text.slice(0, equals), nodeArgs, env };
}

/**
 * Runs start with the variant's variables set in this process's environment,
 * which the daemon's spawn copies (synchronously, before start's first await);
 * they are put back right after.
 */
export function withDaemonEnv<T>(variant: DaemonVariant, start: () => Promise<T>): Promise<T> {
  const saved = Object.keys(variant.env).map((key) => [key, process.env[key]] as const);
  Object.assign(process.env, variant.env);
  try {
    return start();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}
