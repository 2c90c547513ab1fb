/**
 * docker images' filters as a pure decision (Docker 20.10's daemon/images):
 * values of one key OR'ed except `label` (all must match), keys AND'ed,
 * Docker's errors for an unknown key or a bad value.
 */
import { invalid } from '../errors.js';
import type { Image } from '../model/image.js';
import { labelsMatch, type ListFilters } from '../model/filters.js';

export const IMAGE_FILTERS = ['before', 'dangling', 'label', 'reference', 'since'];

/** Go's path.Match for the patterns `reference=` takes: `*` and `?` within a path segment, `[...]` classes. */
export function globMatches(pattern: string, text: string): boolean {
  let expression = '';
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (char === '*') expression += '[^/]*';
    else if (char === '?') expression += '[^/]';
    else if (char === '[') {
      const end = pattern.indexOf(']', index + 1);
      if (end < 0) return false;
      expression += `[${pattern.slice(index + 1, end).replace(/\\/g, '\\\\')}]`;
      index = end;
    } else expression += char.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${expression}$`).test(text);
}

/** The names `reference=` is matched against: "busybox:latest" and "busybox". */
function familiarNames(image: Image): string[] {
  return image.repoTags.flatMap((repoTag) => [repoTag, repoTag.slice(0, repoTag.lastIndexOf(':'))]);
}

/**
 * The images the filters keep. `resolve` finds a before=/since= reference
 * (throwing Docker's "No such image" when it names none).
 */
export function filterImages(images: readonly Image[], filters: ListFilters, resolve: (reference: string) => Image): Image[] {
  for (const [key, values] of filters) {
    if (!IMAGE_FILTERS.includes(key)) throw invalid(`Invalid filter '${key}'`);
    if (key === 'dangling' && values.some((value) => !['true', 'false', '1', '0'].includes(value)))
      throw invalid(`Invalid filter 'dangling=[${values.join(' ')}]'`);
  }
  const before = (filters.get('before') ?? []).map((reference) => resolve(reference).created);
  const since = (filters.get('since') ?? []).map((reference) => resolve(reference).created);
  const checks: Record<string, (image: Image, values: readonly string[]) => boolean> = {
    dangling: (image, values) => values.some((value) => (value === 'true' || value === '1') === (image.repoTags.length === 0)),
    label: (image, values) => labelsMatch(image.config.labels, values),
    reference: (image, values) => values.some((pattern) => familiarNames(image).some((name) => globMatches(pattern, name))),
    before: (image) => before.every((time) => image.created < time),
    since: (image) => since.every((time) => image.created > time),
  };
  return images.filter((image) => [...filters].every(([key, values]) => checks[key]!(image, values)));
}
