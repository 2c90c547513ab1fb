/**
 * Resource limits (--memory, --cpus, --pids-limit …) decided as Docker 20.10
 * decides them: checked with its error texts (moby's
 * verifyPlatformContainerResources and UpdateContainer), defaulted as
 * moby's adaptContainerSettings. runtime/oci-resources.ts turns them into
 * the OCI spec for runc. Pure.
 */
import { conflict, invalid } from '../errors.js';
import type { ContainerResources } from '../model/container.js';
import type { HostCapacity } from '../runtime/cgroups.js';

/** Docker's linuxMinMemory: 6 MiB. */
const MIN_MEMORY = 6 * 1024 * 1024;

/** A resource update as the client sent it: only the fields it named (docker update sends the others as 0). */
export type ResourceUpdate = Partial<ContainerResources>;

/** moby's parsers.ParseUintList: "0-2,4" → {0,1,2,4}; throws "invalid format: …" as it does. */
export function parseUintList(value: string): Set<number> {
  const found = new Set<number>();
  if (value === '') return found;
  for (const part of value.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (range === null) throw new Error(`invalid format: ${value}`);
    const low = Number(range[1]);
    const high = range[2] === undefined ? low : Number(range[2]);
    if (high < low) throw new Error(`invalid format: ${value}`);
    for (let n = low; n <= high; n++) found.add(n);
  }
  return found;
}

function checkCpuset(requested: string, available: string, what: 'cpus' | 'mems'): void {
  if (requested === '') return;
  let wanted: Set<number>;
  try {
    wanted = parseUintList(requested);
  } catch (error) {
    throw invalid(`Invalid value ${requested} for cpuset ${what}: ${(error as Error).message}`);
  }
  const offered = parseUintList(available);
  if ([...wanted].some((n) => !offered.has(n))) {
    const noun = what === 'cpus' ? 'CPUs' : 'memory nodes';
    throw invalid(`Requested ${noun} are not available - requested ${requested}, available: ${available}`);
  }
}

/**
 * Throws Docker's 400 for a value it refuses (update: the values a docker
 * update asks for, where a swap without memory is allowed).
 */
export function checkResources(resources: ResourceUpdate, host: HostCapacity, update: boolean): void {
  const memory = resources.memory ?? 0;
  const swap = resources.memorySwap ?? 0;
  const reservation = resources.memoryReservation ?? 0;
  const nanoCpus = resources.nanoCpus ?? 0;
  const period = resources.cpuPeriod ?? 0;
  const quota = resources.cpuQuota ?? 0;
  if (memory !== 0 && memory < MIN_MEMORY) throw invalid('Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory) throw invalid('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (memory === 0 && swap > 0 && !update) throw invalid('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (reservation > 0 && reservation < MIN_MEMORY) throw invalid('Minimum memory reservation allowed is 6MB');
  if (memory > 0 && reservation > 0 && memory < reservation) throw invalid('Minimum memory limit can not be less than memory reservation limit, see usage');
  if (nanoCpus > 0 && period > 0) throw invalid('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (nanoCpus > 0 && quota > 0) throw invalid('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (nanoCpus < 0 || nanoCpus > host.cpuCount * 1e9)
    throw invalid(`Range of CPUs is from 0.01 to ${host.cpuCount}.00, as there are only ${host.cpuCount} CPUs available`);
  if (period !== 0 && (period < 1000 || period > 1_000_000))
    throw invalid('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (quota > 0 && quota < 1000) throw invalid('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  checkCpuset(resources.cpusetCpus ?? '', host.cpus, 'cpus');
  checkCpuset(resources.cpusetMems ?? '', host.mems, 'mems');
}

/** The resources a create keeps: checked, swap defaulted to twice memory and a pids limit ≤ 0 kept as none, as Docker keeps them. */
export function createResources(given: ContainerResources, host: HostCapacity): ContainerResources {
  checkResources(given, host, false);
  const memorySwap = given.memory > 0 && given.memorySwap === 0 ? given.memory * 2 : given.memorySwap;
  const pidsLimit = given.pidsLimit !== null && given.pidsLimit > 0 ? given.pidsLimit : null;
  return { ...given, memorySwap, pidsLimit };
}

/** What runc is given: without swap accounting in the kernel the swap limit is left out, as Docker leaves it ("Memory limited without swap"). */
export function runnableResources(resources: ContainerResources, host: HostCapacity): ContainerResources {
  return host.swapLimit ? resources : { ...resources, memorySwap: 0 };
}

/**
 * docker update: the container's resources after the update, or Docker's
 * error (409 "Cannot update container ID: …" for a change that conflicts
 * with what is set).
 */
export function updatedResources(containerId: string, current: ContainerResources, update: ResourceUpdate, host: HostCapacity): ContainerResources {
  checkResources(update, host, true);
  const cannot = (why: string) => conflict(`Cannot update container ${containerId}: ${why}`);
  const next = { ...current };
  const nonZero = <K extends keyof ContainerResources>(key: K) => update[key] !== undefined && update[key] !== 0 && update[key] !== '';
  if (nonZero('cpuShares')) next.cpuShares = update.cpuShares!;
  if (nonZero('cpuPeriod')) next.cpuPeriod = update.cpuPeriod!;
  if (nonZero('cpuQuota')) {
    if (current.nanoCpus > 0) throw cannot('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
    next.cpuQuota = update.cpuQuota!;
  }
  if (nonZero('nanoCpus')) {
    if (current.cpuQuota > 0) throw cannot('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
    next.nanoCpus = update.nanoCpus!;
  }
  if (nonZero('cpusetCpus')) next.cpusetCpus = update.cpusetCpus!;
  if (nonZero('cpusetMems')) next.cpusetMems = update.cpusetMems!;
  if (nonZero('memory')) {
    // A limit above the swap already set (0 included, as on Docker's cgroup v1) wants the swap in the same update.
    if (update.memory! > current.memorySwap && (update.memorySwap ?? 0) === 0)
      throw cannot('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    next.memory = update.memory!;
  }
  if (nonZero('memorySwap')) next.memorySwap = update.memorySwap!;
  if (nonZero('memoryReservation')) next.memoryReservation = update.memoryReservation!;
  // -1 or 0 asks for no limit: Docker then shows 0.
  if (update.pidsLimit !== undefined && update.pidsLimit !== null) next.pidsLimit = update.pidsLimit > 0 ? update.pidsLimit : 0;
  return next;
}
