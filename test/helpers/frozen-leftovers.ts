/**
 * Containers a test world left frozen. A cgroup v1 freezer holds its tasks
 * even against SIGKILL: when a world is killed (a file that hung past its
 * timeout) while one of its containers is paused, the kernel's SIGKILL stays
 * pending on the frozen processes, which outlive the world with their cgroup.
 * A task frozen with SIGKILL pending was already condemned, so thawing it
 * only lets it die; a paused container of any live daemon (the machine's own
 * skiff, another world's) has no SIGKILL pending and is left alone.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
const FREEZER = join(CGROUP_ROOT, 'freezer', 'skiff');
const SIGKILL_BIT = 1n << 8n;
const EXIT_WAIT_MS = 2_000;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether SIGKILL is pending on the process (for the whole group or its own thread). */
export function killPending(status: string): boolean {
  return ['ShdPnd', 'SigPnd'].some((field) => {
    const mask = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & SIGKILL_BIT) !== 0n;
  });
}

function tasksOf(cgroup: string): number[] {
  return (read(join(cgroup, 'tasks')) ?? '').split('\n').filter(Boolean).map(Number);
}

/** The skiff freezer cgroups that are frozen and whose every task was killed while frozen. */
function condemnedFrozen(): string[] {
  if (!existsSync(FREEZER)) return [];
  return readdirSync(FREEZER)
    .map((name) => join(FREEZER, name))
    .filter((cgroup) => read(join(cgroup, 'freezer.state'))?.trim() === 'FROZEN')
    .filter((cgroup) => {
      const tasks = tasksOf(cgroup);
      return tasks.length > 0 && tasks.every((pid) => killPending(read(`/proc/${pid}/status`) ?? ''));
    });
}

/**
 * Thaws every condemned frozen container (they die at once), waits for them
 * to be gone (bounded), then removes their now empty cgroup in each v1
 * hierarchy. Returns the containers' ids.
 */
export async function thawCondemned(): Promise<string[]> {
  const cgroups = condemnedFrozen();
  for (const cgroup of cgroups) writeFileSync(join(cgroup, 'freezer.state'), 'THAWED');
  const deadline = Date.now() + EXIT_WAIT_MS;
  while (cgroups.some((cgroup) => tasksOf(cgroup).length > 0) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const ids = cgroups.map((cgroup) => cgroup.slice(FREEZER.length + 1));
  for (const id of ids) {
    for (const hierarchy of readdirSync(CGROUP_ROOT)) {
      const cgroup = join(CGROUP_ROOT, hierarchy, 'skiff', id);
      if (!existsSync(cgroup)) continue;
      try {
        rmdirSync(cgroup);
      } catch {
        /* still has a task (it did not die in time) or children: left for a look by hand */
      }
    }
  }
  return ids;
}
