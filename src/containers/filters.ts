/**
 * docker ps as a pure decision: which containers a list shows, in which
 * order. Docker 20.10's filter semantics (daemon/list.go): values of one key
 * are OR'ed, except `label`, whose values must all match; keys are AND'ed;
 * an unknown key, or a value Docker checks, gets Docker's error.
 */
import { invalid, SkiffError } from '../errors.js';
import type { ContainerRecord } from '../model/container.js';
import { labelsMatch, patternMatches, type ListFilters } from '../model/filters.js';

export interface ListOptions {
  all: boolean;
  /** docker ps -l: the newest one, stopped ones included. */
  latest: boolean;
  /** docker ps -n N: the newest N, stopped ones included; ≤ 0 means no limit. */
  limit: number;
  filters: ListFilters;
}

/** What a record's filters may ask about that the record does not hold itself. */
export interface ListContext {
  networksOf: (record: ContainerRecord) => Array<{ id: string; name: string }>;
  /** The image id a reference names, or undefined when it names none (ancestor=). */
  imageIdOf: (reference: string) => string | undefined;
  /** EXPOSE of the image and the container, as "80/tcp". */
  exposedPortsOf: (record: ContainerRecord) => readonly string[];
}

const STATES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const HEALTH_STATES = ['starting', 'healthy', 'unhealthy', 'none'];
export const CONTAINER_FILTERS = [
  'ancestor',
  'before',
  'exited',
  'expose',
  'health',
  'id',
  'isolation',
  'is-task',
  'label',
  'name',
  'network',
  'publish',
  'since',
  'status',
  'volume',
];

const invalidFilter = (text: string) => invalid(`Invalid filter '${text}'`);

/** "80", "80/udp", "8000-8010/tcp" as a range and protocol (nat.ParsePortRange); Docker answers 500 to a bad one. */
function parsePortFilter(key: string, value: string): { low: number; high: number; protocol: string } {
  const [range = '', protocol = 'tcp'] = value.split('/', 2);
  const [low, high = low] = range.split('-', 2);
  const number = (text: string | undefined) => {
    if (text === undefined || !/^\d+$/.test(text) || Number(text) > 65535) {
      throw new SkiffError('internal', `error while looking up for ${key} ${value}: strconv.ParseUint: parsing "${text ?? ''}": invalid syntax`);
    }
    return Number(text);
  };
  return { low: number(low), high: number(high), protocol };
}

function portsMatch(key: string, values: readonly string[], ports: Iterable<string>): boolean {
  const wanted = values.map((value) => parsePortFilter(key, value));
  return [...ports].some((port) => {
    const [number, protocol = 'tcp'] = port.split('/');
    return wanted.some((range) => range.protocol === protocol && Number(number) >= range.low && Number(number) <= range.high);
  });
}

/** The record a before=/since= reference names (id, name, unique id prefix), as Docker finds it. */
function referenced(records: readonly ContainerRecord[], reference: string): ContainerRecord {
  const name = reference.replace(/^\//, '');
  const found =
    records.find((record) => record.id === reference || record.name === name) ??
    (reference === '' ? undefined : records.filter((record) => record.id.startsWith(reference)).at(0));
  if (found === undefined) throw new SkiffError('internal', `no such container ${reference}`);
  return found;
}

/** Checks the keys and the values Docker checks before listing anything. */
function validate(filters: ListFilters): void {
  for (const [key, values] of filters) {
    if (!CONTAINER_FILTERS.includes(key)) throw invalidFilter(key);
    for (const value of values) {
      if (key === 'status' && !STATES.includes(value)) throw invalidFilter(`status=${value}`);
      if (key === 'health' && !HEALTH_STATES.includes(value)) throw invalid(`Unrecognised filter value for health: ${value}`);
      if (key === 'is-task' && value !== 'true' && value !== 'false') throw invalidFilter(`is-task=[${values.join(' ')}]`);
      if (key === 'exited' && !/^-?\d+$/.test(value)) throw new SkiffError('internal', `strconv.Atoi: parsing "${value}": invalid syntax`);
      if (key === 'publish' || key === 'expose') parsePortFilter(key, value);
    }
  }
}

type Check = (record: ContainerRecord, values: readonly string[]) => boolean;

function checksFor(records: readonly ContainerRecord[], filters: ListFilters, context: ListContext): Record<string, Check> {
  const created = (key: string) => (filters.get(key) ?? []).map((reference) => referenced(records, reference).created);
  const before = created('before');
  const since = created('since');
  const ancestors = new Set((filters.get('ancestor') ?? []).flatMap((reference) => context.imageIdOf(reference) ?? []));
  return {
    name: (record, values) => values.some((value) => patternMatches(value.replace(/^\//, ''), record.name) || patternMatches(value, `/${record.name}`)),
    id: (record, values) => values.some((value) => patternMatches(value, record.id)),
    status: (record, values) => values.includes(record.state.paused ? 'paused' : record.state.status),
    label: (record, values) => labelsMatch(record.config.labels, values),
    network: (record, values) => context.networksOf(record).some((network) => values.includes(network.name) || values.includes(network.id)),
    ancestor: (record) => ancestors.has(record.imageId),
    before: (record) => before.every((time) => record.created < time),
    since: (record) => since.every((time) => record.created > time),
    // Only a run that ended has an exit code worth filtering on.
    exited: (record, values) => record.state.status === 'exited' && values.some((value) => Number(value) === record.state.exitCode),
    expose: (record, values) =>
      portsMatch('expose', values, [
        ...context.exposedPortsOf(record),
        ...record.hostConfig.portBindings.map((request) => `${request.containerPort}/${request.protocol}`),
      ]),
    publish: (record, values) =>
      portsMatch(
        'publish',
        values,
        record.ports.map((binding) => `${binding.containerPort}/${binding.protocol}`),
      ),
    // skiff runs no health checks: every container's health is "none", as Docker's are without one.
    health: (_record, values) => values.includes('none'),
    // Linux containers have the default isolation, shown as "".
    isolation: (_record, values) => values.some((value) => value === '' || value === 'default'),
    // No swarm: no container is a task.
    'is-task': (_record, values) => values.includes('false'),
    // skiff has no volumes: no container mounts one.
    volume: () => false,
  };
}

export function listContainers(records: Iterable<ContainerRecord>, options: ListOptions, context: ListContext): ContainerRecord[] {
  validate(options.filters);
  const all = [...records];
  const checks = checksFor(all, options.filters, context);
  const limit = options.latest ? 1 : options.limit;
  // A status filter lists stopped containers too, as `docker ps -a` would.
  const includeStopped = options.all || limit > 0 || options.filters.has('status');
  const shown = all
    .filter((record) => includeStopped || record.state.status === 'running')
    .filter((record) => [...options.filters].every(([key, values]) => checks[key]!(record, values)))
    .sort((a, b) => b.created.localeCompare(a.created));
  return limit > 0 ? shown.slice(0, limit) : shown;
}
