/**
 * The filters every prune shares (moby's daemon/prune.go): the keys a prune
 * accepts, `until` (one value, read by timetypes.GetTimestamp) and the
 * `label` / `label!` pair. Pure.
 */
import { invalid, SkiffError } from '../errors.js';
import { labelsMatch, type ListFilters } from './filters.js';
import { timestampOf } from './timestamps.js';

/** filters.Validate: an unknown key gets Docker's 400. */
export function checkFilterKeys(filters: ListFilters, accepted: readonly string[]): void {
  for (const key of filters.keys()) if (!accepted.includes(key)) throw invalid(`Invalid filter '${key}'`);
}

/** getUntilFromPruneFilters: the instant (milliseconds) before which objects are pruned; undefined without `until`. */
export function pruneUntil(filters: ListFilters, nowMs: number): number | undefined {
  const values = filters.get('until');
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) throw new SkiffError('internal', 'more than one until filter specified');
  return timestampOf(values[0]!, nowMs);
}

/**
 * matchLabels: every `label` must match, and when `label!` is given the
 * object is kept if it matches all of them (filters.MatchKVList AND's the
 * values of `label!` too, as 20.10 does).
 */
export function pruneLabelsMatch(filters: ListFilters, labels: Readonly<Record<string, string>>): boolean {
  const wanted = filters.get('label') ?? [];
  if (wanted.length > 0 && !labelsMatch(labels, wanted)) return false;
  const unwanted = filters.get('label!') ?? [];
  return unwanted.length === 0 || !labelsMatch(labels, unwanted);
}
