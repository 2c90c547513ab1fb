/**
 * docker ps as a pure decision: which containers a list shows, in which
 * order. Docker's filter semantics: values of one key are OR'ed, except
 * `label`, whose values must all match; keys are AND'ed.
 */
import { invalid } from '../errors.js';
import type { ContainerRecord } from '../model/container.js';

export interface ListOptions {
  all: boolean;
  /** docker ps -l: the newest one, stopped ones included. */
  latest: boolean;
  /** docker ps -n N: the newest N, stopped ones included; ≤ 0 means no limit. */
  limit: number;
  filters: ReadonlyMap<string, readonly string[]>;
}

/** What a record's filters may ask about that the record does not hold itself. */
export interface ListContext {
  networksOf: (record: ContainerRecord) => Array<{ id: string; name: string }>;
}

type Check = (record: ContainerRecord, value: string, context: ListContext) => boolean;

function labelMatches(record: ContainerRecord, wanted: string): boolean {
  const [key, value] = wanted.split('=', 2) as [string, string | undefined];
  return key in record.config.labels && (value === undefined || record.config.labels[key] === value);
}

const CHECKS: Record<string, Check> = {
  name: (record, value) => record.name.includes(value.replace(/^\//, '')),
  id: (record, value) => record.id.startsWith(value),
  status: (record, value) => record.state.status === value,
  network: (record, value, context) => context.networksOf(record).some((network) => network.name === value || network.id === value),
  label: (record, value) => labelMatches(record, value),
};

export function matchesFilters(record: ContainerRecord, filters: ReadonlyMap<string, readonly string[]>, context: ListContext): boolean {
  for (const [key, values] of filters) {
    const check = CHECKS[key];
    if (check === undefined) throw invalid(`invalid filter '${key}'`);
    const matches = (value: string) => check(record, value, context);
    if (key === 'label' ? !values.every(matches) : !values.some(matches)) return false;
  }
  return true;
}

export function listContainers(records: Iterable<ContainerRecord>, options: ListOptions, context: ListContext): ContainerRecord[] {
  for (const key of options.filters.keys()) if (!(key in CHECKS)) throw invalid(`invalid filter '${key}'`);
  const limit = options.latest ? 1 : options.limit;
  const includeStopped = options.all || limit > 0;
  const shown = [...records]
    .filter((record) => includeStopped || record.state.status === 'running')
    .filter((record) => matchesFilters(record, options.filters, context))
    .sort((a, b) => b.created.localeCompare(a.created));
  return limit > 0 ? shown.slice(0, limit) : shown;
}
