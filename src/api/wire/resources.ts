/** HostConfig's resource fields (Docker's Resources) to and from skiff's ContainerResources. */
import type { ResourceUpdate } from '../../containers/limits.js';
import { invalid } from '../../errors.js';
import { noResources, type ContainerResources } from '../../model/container.js';
import { optionalString } from './json-fields.js';

type Body = Record<string, unknown>;

/** Docker's field for each resource skiff carries out. */
const NUMBER_FIELDS = {
  memory: 'Memory',
  memorySwap: 'MemorySwap',
  memoryReservation: 'MemoryReservation',
  nanoCpus: 'NanoCpus',
  cpuShares: 'CpuShares',
  cpuPeriod: 'CpuPeriod',
  cpuQuota: 'CpuQuota',
} as const;

/** The resource fields of a create's HostConfig or an update's body. */
export const RESOURCE_FIELDS: readonly string[] = [...Object.values(NUMBER_FIELDS), 'CpusetCpus', 'CpusetMems', 'PidsLimit'];

function optionalInteger(body: Body, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw invalid(`json: cannot unmarshal ${typeof value === 'number' ? 'number' : typeof value} into field ${field} of type int64`);
  return value;
}

/** The fields the body names (an update changes only those it sets to something other than 0). */
export function resourceUpdateFromWire(body: Body): ResourceUpdate {
  const update: ResourceUpdate = {};
  for (const [key, field] of Object.entries(NUMBER_FIELDS)) {
    const value = optionalInteger(body, field);
    if (value !== undefined) update[key as keyof typeof NUMBER_FIELDS] = value;
  }
  const cpusetCpus = optionalString(body, 'CpusetCpus');
  if (cpusetCpus !== undefined) update.cpusetCpus = cpusetCpus;
  const cpusetMems = optionalString(body, 'CpusetMems');
  if (cpusetMems !== undefined) update.cpusetMems = cpusetMems;
  const pidsLimit = optionalInteger(body, 'PidsLimit');
  if (pidsLimit !== undefined) update.pidsLimit = pidsLimit;
  return update;
}

/** A create's limits as given (checked and defaulted by the container layer). */
export function resourcesFromWire(host: Body): ContainerResources {
  return { ...noResources(), ...resourceUpdateFromWire(host) };
}

/** The HostConfig fields docker inspect shows for the limits. */
export function resourcesToWire(resources: ContainerResources): Body {
  return {
    Memory: resources.memory,
    MemorySwap: resources.memorySwap,
    MemoryReservation: resources.memoryReservation,
    NanoCpus: resources.nanoCpus,
    CpuShares: resources.cpuShares,
    CpuPeriod: resources.cpuPeriod,
    CpuQuota: resources.cpuQuota,
    CpusetCpus: resources.cpusetCpus,
    CpusetMems: resources.cpusetMems,
    PidsLimit: resources.pidsLimit,
  };
}
