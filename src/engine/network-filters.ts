/**
 * docker network ls's filters as a pure decision (Docker 20.10's
 * daemon/network/filter.go): `name` and `id` are patterns found in the name or
 * id, `driver`, `scope` exact, `label` values all required, `type` builtin or
 * custom, `dangling` networks without endpoints; values of one key OR'ed,
 * keys AND'ed.
 */
import { invalid } from '../errors.js';
import { labelsMatch, patternMatches, type ListFilters } from '../model/filters.js';
import { checkFilterKeys, pruneLabelsMatch, pruneUntil } from '../model/prune-filters.js';
import { millisecondsOf } from '../model/timestamps.js';
import type { Network } from '../model/network.js';
import { PREDEFINED_NETWORKS } from '../model/options.js';

export const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

const isPredefined = (network: Network) => (PREDEFINED_NETWORKS as readonly string[]).includes(network.name);

/** Checks keys and values before anything is listed, as Docker does. */
export function validateNetworkFilters(filters: ListFilters): void {
  for (const [key, values] of filters) {
    if (!NETWORK_FILTERS.includes(key)) throw invalid(`Invalid filter '${key}'`);
    for (const value of values) {
      if (key === 'type' && value !== 'custom' && value !== 'builtin') throw invalid(`invalid filter: 'type'='${value}'`);
      if (key === 'dangling' && !['true', '1', 'false', '0'].includes(value)) {
        throw invalid(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`);
      }
    }
  }
}

/** Whether the network is listed; endpointCount tells `dangling` whether anything is attached. */
export function networkMatches(network: Network, filters: ListFilters, endpointCount: number): boolean {
  const checks: Record<string, (values: readonly string[]) => boolean> = {
    name: (values) => values.some((value) => patternMatches(value, network.name)),
    id: (values) => values.some((value) => patternMatches(value, network.id)),
    driver: (values) => values.includes(network.driver),
    scope: (values) => values.includes(network.scope),
    label: (values) => labelsMatch(network.labels, values),
    type: (values) => values.some((value) => (value === 'builtin') === isPredefined(network)),
    dangling: (values) => values.some((value) => (value === 'true' || value === '1') === (endpointCount === 0 && !isPredefined(network))),
  };
  return [...filters].every(([key, values]) => checks[key]!(values));
}

/** docker network prune's filters (`label`, `label!`, `until`), checked as Docker checks them; true: the network stays. */
export function pruneKeeps(network: Network, filters: ListFilters, now: number): boolean {
  checkFilterKeys(filters, ['label', 'label!', 'until']);
  const until = pruneUntil(filters, now);
  if (until !== undefined && millisecondsOf(network.created) > until) return true;
  return !pruneLabelsMatch(filters, network.labels);
}
