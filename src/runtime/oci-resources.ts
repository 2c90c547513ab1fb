/**
 * A container's resource limits as the OCI spec's linux.resources, as moby
 * builds them; runc writes them to cgroup v1 or v2 files alike. Pure.
 */
import type { ContainerResources } from '../model/container.js';

/** The CFS period Docker uses for --cpus (100 ms). */
const NANO_CPUS_PERIOD = 100_000;

/** The CFS quota and period the resources ask for (--cpus as Docker converts it: period 100 ms). */
function cfs(resources: ContainerResources): { quota?: number; period?: number } {
  if (resources.nanoCpus > 0) return { quota: Math.round((resources.nanoCpus * NANO_CPUS_PERIOD) / 1e9), period: NANO_CPUS_PERIOD };
  return { quota: resources.cpuQuota || undefined, period: resources.cpuPeriod || undefined };
}

/**
 * The OCI spec's linux.resources for the limits (devices rules apart), as
 * moby builds them; runc writes them to cgroup v1 files or v2 files. For
 * `runc update` after a docker update, with every limit set or cleared.
 */
export function ociResources(resources: ContainerResources): Record<string, unknown> {
  const memory: Record<string, number> = {};
  if (resources.memory > 0) memory['limit'] = resources.memory;
  if (resources.memorySwap !== 0) memory['swap'] = resources.memorySwap;
  if (resources.memoryReservation > 0) memory['reservation'] = resources.memoryReservation;
  const cpu: Record<string, number | string> = {};
  if (resources.cpuShares > 0) cpu['shares'] = resources.cpuShares;
  const { quota, period } = cfs(resources);
  if (quota !== undefined) cpu['quota'] = quota;
  if (period !== undefined) cpu['period'] = period;
  if (resources.cpusetCpus !== '') cpu['cpus'] = resources.cpusetCpus;
  if (resources.cpusetMems !== '') cpu['mems'] = resources.cpusetMems;
  const limits: Record<string, unknown> = {};
  if (Object.keys(memory).length > 0) limits['memory'] = memory;
  if (Object.keys(cpu).length > 0) limits['cpu'] = cpu;
  if (resources.pidsLimit !== null && resources.pidsLimit > 0) limits['pids'] = { limit: resources.pidsLimit };
  return limits;
}

/**
 * `runc update --resources -` for a docker update: the limits as they now
 * are, a cleared one written back as "no limit" (-1 for memory and pids
 * and the CFS quota), so that lifting a limit lifts it in the cgroup too.
 */
export function ociUpdate(resources: ContainerResources): Record<string, unknown> {
  const { quota, period } = cfs(resources);
  return {
    memory: {
      limit: resources.memory > 0 ? resources.memory : -1,
      // Left out when not set: a kernel without swap accounting has no file to write it to.
      ...(resources.memorySwap !== 0 ? { swap: resources.memorySwap } : {}),
      reservation: resources.memoryReservation > 0 ? resources.memoryReservation : -1,
    },
    cpu: {
      ...(resources.cpuShares > 0 ? { shares: resources.cpuShares } : {}),
      quota: quota ?? -1,
      ...(period !== undefined ? { period } : {}),
      ...(resources.cpusetCpus !== '' ? { cpus: resources.cpusetCpus } : {}),
      ...(resources.cpusetMems !== '' ? { mems: resources.cpusetMems } : {}),
    },
    pids: { limit: resources.pidsLimit !== null && resources.pidsLimit > 0 ? resources.pidsLimit : -1 },
  };
}

/** A v1 cgroup file to write "no limit" to, after the runtime's update. */
export interface V1Lift {
  controller: 'cpu' | 'pids';
  file: string;
  value: string;
}

/**
 * The update crun 1.8 can carry out on cgroup v1, and the "no limit" values
 * it cannot, for the caller to write itself: crun writes a CFS quota of -1 as
 * 18446744073709551615 (the kernel refuses it: ERANGE) and a pids limit of -1
 * as "-1" (pids.max wants "max"), and ignores 0 for either.
 */
export function crunV1Update(update: Record<string, unknown>): { update: Record<string, unknown>; lifts: V1Lift[] } {
  const lifts: V1Lift[] = [];
  const cpu = { ...(update['cpu'] as Record<string, unknown> | undefined) };
  if (cpu['quota'] === -1) {
    delete cpu['quota'];
    lifts.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: '-1' });
  }
  const pids = update['pids'] as { limit?: number } | undefined;
  if (pids?.limit === -1) lifts.push({ controller: 'pids', file: 'pids.max', value: 'max' });
  const { pids: _pids, ...rest } = update;
  return { update: { ...rest, ...(update['cpu'] !== undefined ? { cpu } : {}), ...(pids !== undefined && pids.limit !== -1 ? { pids } : {}) }, lifts };
}
