/**
 * The benchmark's throwaway worlds. The entry script never touches the kernel
 * itself: it re-runs itself per phase under `unshare --net --mount
 * --propagation private --pid --fork --mount-proc --kill-child`, so every
 * link, nftables table, mount and process a phase makes (dockerd and its
 * containerd included) dies with that world even if the phase crashes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WORLD_FLAG = 'SKIFF_BENCH_IN_WORLD';

export function inWorld(): boolean {
  return process.env[WORLD_FLAG] === '1';
}

export function assertInWorld(): void {
  if (!inWorld()) throw new Error('benchmark phases run only inside a throwaway world: run `node dist/bench/network.js` (it re-executes itself under unshare)');
}

/**
 * Runs one phase of this script in a fresh world; its stdout and stderr pass
 * through, and the line starting with `BENCH-RESULT ` is parsed and returned.
 */
export function runPhaseInWorld(script: string, phase: string, timeoutMs: number): Promise<unknown> {
  const args = [
    '--net',
    '--mount',
    '--propagation',
    'private',
    '--pid',
    '--fork',
    '--mount-proc',
    '--kill-child',
    '--',
    process.execPath,
    script,
    '--phase',
    phase,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, [WORLD_FLAG]: '1' } });
    let pending = '';
    let result: unknown;
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length));
        else process.stdout.write(`${line}\n`);
      }
    });
    // unshare forwards SIGTERM to the world's first process, which cleans up.
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`phase ${phase} ended with exit code ${code}${result === undefined ? ' and no result' : ''}`));
    });
  });
}

/** How a standalone bench script (one phase, no report) is started and run. */
export interface StandalonePhase<Options> {
  script: string;
  phase: string;
  timeoutMs: number;
  /** The environment variable that carries the options into the world. */
  optionsEnv: string;
  optionsFrom: (argv: readonly string[]) => Options;
  run: (options: Options) => Promise<unknown>;
}

/**
 * The entry of a standalone bench script: run as root, it starts itself again
 * inside a world of its own (--phase) with its options in the environment;
 * inside, it runs the phase and hands its result out.
 */
export async function runStandalone<Options>(standalone: StandalonePhase<Options>): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--phase')) {
    assertInWorld();
    process.on('SIGTERM', () => process.exit(143));
    emitResult(await standalone.run(JSON.parse(process.env[standalone.optionsEnv] ?? '{}') as Options));
    return;
  }
  if (process.getuid?.() !== 0) throw new Error(`run as root: the ${standalone.phase} bench makes namespaces, bridges and containers inside its own world`);
  process.env[standalone.optionsEnv] = JSON.stringify(standalone.optionsFrom(argv));
  await runPhaseInWorld(standalone.script, standalone.phase, standalone.timeoutMs);
}

const RESULT_PREFIX = 'BENCH-RESULT ';

/** Hands a phase's result to the entry script (see runPhaseInWorld). */
export function emitResult(result: unknown): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

/** Brings the world's loopback up (a new network namespace has it down). */
export function loopbackUp(): void {
  assertInWorld();
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
}

/** A tmpfs of the world's own; hides `over` (e.g. /run) from what runs in this world. */
export function mountTmpfs(path: string, size = '1g'): void {
  assertInWorld();
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path]);
}

export interface Scratch {
  path: string;
  remove: () => void;
}

/** A scratch directory on a tmpfs private to this world. */
export function scratchDir(prefix: string): Scratch {
  assertInWorld();
  const path = mkdtempSync(join(tmpdir(), prefix));
  mountTmpfs(path);
  return {
    path,
    remove: () => {
      for (const mount of mountsUnder(path).reverse()) execFileSync('umount', ['-l', mount]);
      execFileSync('umount', ['-l', path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Mount points strictly below dir, in the order they were mounted. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mount) => mount.startsWith(`${dir}/`));
}

/** A network namespace bound to a file: the home of one daemon. */
export function makeNetns(path: string): { path: string; remove: () => void } {
  assertInWorld();
  writeFileSync(path, '');
  execFileSync('unshare', [`--net=${path}`, 'true']);
  execFileSync('nsenter', [`--net=${path}`, '--', 'ip', 'link', 'set', 'lo', 'up']);
  return {
    path,
    remove: () => {
      execFileSync('umount', [path]);
      rmSync(path, { force: true });
    },
  };
}

/** Links (other than lo) and nftables tables in the namespace at netnsPath, or this process's own. */
export function kernelLeftovers(netnsPath?: string): string[] {
  const enter = (program: string, args: string[]) =>
    netnsPath === undefined
      ? execFileSync(program, args, { encoding: 'utf8' })
      : execFileSync('nsenter', [`--net=${netnsPath}`, '--', program, ...args], { encoding: 'utf8' });
  const links = (JSON.parse(enter('ip', ['-json', 'link', 'show'])) as Array<{ ifname: string }>)
    .map((link) => link.ifname)
    .filter((name) => name !== 'lo')
    .map((name) => `link ${name}`);
  const tables = enter('nft', ['list', 'tables'])
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => `nft ${line}`);
  return [...links, ...tables];
}

/**
 * A veth pair between two namespaces (files), addressed a/b (CIDR) and up:
 * how an upstream DNS server or an "outside" host reaches a daemon's namespace.
 * It goes away with either namespace.
 */
export function vethBetween(netnsA: string, addressA: string, netnsB: string, addressB: string, name: string): void {
  assertInWorld();
  execFileSync('ip', ['link', 'add', `${name}a`, 'type', 'veth', 'peer', 'name', `${name}b`]);
  for (const [side, netns, address] of [
    ['a', netnsA, addressA],
    ['b', netnsB, addressB],
  ] as const) {
    execFileSync('ip', ['link', 'set', `${name}${side}`, 'netns', netns]);
    execFileSync('nsenter', [`--net=${netns}`, '--', 'ip', 'addr', 'add', address, 'dev', `${name}${side}`]);
    execFileSync('nsenter', [`--net=${netns}`, '--', 'ip', 'link', 'set', `${name}${side}`, 'up']);
  }
}

/** cgroup v1 and v2 directories named `name` (a path relative to each hierarchy's root) that exist. */
export function cgroupDirs(name: string): string[] {
  const roots = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[2] === 'cgroup' || fields[2] === 'cgroup2')
    .map((fields) => fields[1] ?? '');
  return roots
    .map((root) => join(root, name))
    .filter((path) => {
      try {
        return readdirSync(path).length >= 0;
      } catch {
        return false;
      }
    });
}

/** Removes the (empty) cgroup directories under and at `name`, deepest first; returns the ones that could not go. */
export function removeCgroupTree(name: string): string[] {
  const stuck: string[] = [];
  const remove = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) remove(join(path, entry.name));
    try {
      rmdirSync(path);
    } catch {
      stuck.push(path);
    }
  };
  for (const path of cgroupDirs(name)) remove(path);
  return stuck;
}
