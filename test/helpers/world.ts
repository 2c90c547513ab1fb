/**
 * Helpers for tests that touch the kernel. Every such test file runs inside a
 * world of its own (test/run.ts starts it under `unshare --net --mount`); these
 * helpers refuse to run anywhere else, so a test can never touch the host.
 */
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export function assertInWorld(): void {
  if (process.env['SKIFF_IN_WORLD'] !== '1') {
    throw new Error('kernel and e2e tests run only inside a throwaway world: use `npm test` (test/run.ts), never node --test directly');
  }
}

/** A scratch directory on a tmpfs private to this world: gone when the world ends. */
export function scratchDir(prefix = 'skiff-world-'): { path: string; remove: () => void } {
  assertInWorld();
  const path = mkdtempSync(join(tmpdir(), prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512m', 'tmpfs', path]);
  return {
    path,
    remove: () => {
      execFileSync('umount', ['-l', path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Runs a program and returns its stdout (throws with stderr on failure). */
export async function sh(program: string, args: string[], input?: string): Promise<string> {
  const child = execFileAsync(program, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (input !== undefined) child.child.stdin?.end(input);
  const { stdout } = await child;
  return stdout;
}

/** Runs a program and returns exit code and output, never throwing. */
export async function tryRun(program: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(program, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, env: env ?? process.env, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === 'number' ? failure.code : 1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

/**
 * A network namespace bound to a file in dir: a stand-in for another host
 * ("outside", "upstream DNS") that only this test talks to.
 */
export async function makeNetns(dir: string, name: string): Promise<NetnsHandle> {
  const path = join(dir, `ns-${name}`);
  writeFileSync(path, '');
  await sh('unshare', [`--net=${path}`, 'true']);
  await sh('nsenter', [`--net=${path}`, 'ip', 'link', 'set', 'lo', 'up']);
  return {
    path,
    exec: (program, args) => sh('nsenter', [`--net=${path}`, '--', program, ...args]),
    tryExec: (program, args) => tryRun('nsenter', [`--net=${path}`, '--', program, ...args]),
    remove: async () => {
      await tryRun('umount', [path]);
      rmSync(path, { force: true });
    },
  };
}

export interface NetnsHandle {
  path: string;
  exec: (program: string, args: string[]) => Promise<string>;
  tryExec: (program: string, args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;
  remove: () => Promise<void>;
}

/**
 * Pings from inside a namespace; true when an answer came back. One packet
 * by default (a refusal is then quick to show); a positive check on a busy
 * machine gives it a few tries.
 */
export async function canPing(netnsPath: string, address: string, tries = 1): Promise<boolean> {
  for (let attempt = 1; attempt < tries; attempt++) if (await canPing(netnsPath, address)) return true;
  const result = await tryRun('nsenter', [`--net=${netnsPath}`, '--', 'ping', '-c', '1', '-W', '1', address]);
  return result.code === 0;
}

/** Links of this world's own namespace, by name. */
export async function worldLinks(): Promise<string[]> {
  const links = JSON.parse(await sh('ip', ['-json', 'link', 'show'])) as Array<{ ifname: string }>;
  return links.map((link) => link.ifname).filter((name) => name !== 'lo');
}

export async function worldNftTables(): Promise<string[]> {
  return (await sh('nft', ['list', 'tables'])).split('\n').filter((line) => line.trim() !== '');
}

/** What a test left in this world: links other than lo, nft tables, mounts under dir. */
export async function leftovers(dir?: string): Promise<string[]> {
  const found = [...(await worldLinks()).map((l) => `link ${l}`), ...(await worldNftTables()).map((t) => `nft ${t}`)];
  if (dir !== undefined) {
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '');
    found.push(...mounts.filter((mount) => mount.startsWith(`${dir}/`)).map((m) => `mount ${m}`));
  }
  return found;
}

/**
 * Another "host": a namespace joined to this world by a veth, the world's
 * end at worldAddress, the host's eth0 at hostAddress (both /24), with a
 * default route back through the world. remove() takes the veth with it.
 */
export async function makeLinkedHost(dir: string, name: string, worldAddress: string, hostAddress: string): Promise<NetnsHandle> {
  const host = await makeNetns(dir, name);
  const worldEnd = `to-${name}`.slice(0, 15);
  await sh('ip', ['link', 'add', worldEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.path]);
  await sh('ip', ['addr', 'add', `${worldAddress}/24`, 'dev', worldEnd]);
  await sh('ip', ['link', 'set', worldEnd, 'up']);
  await host.exec('ip', ['addr', 'add', `${hostAddress}/24`, 'dev', 'eth0']);
  await host.exec('ip', ['link', 'set', 'eth0', 'up']);
  await host.exec('ip', ['route', 'add', 'default', 'via', worldAddress]);
  return {
    ...host,
    remove: async () => {
      await tryRun('ip', ['link', 'del', worldEnd]);
      await host.remove();
    },
  };
}
