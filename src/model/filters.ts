/**
 * The pieces of Docker's list-filter semantics that containers, networks and
 * images share (moby's api/types/filters): pure, no errors of skiff's (each
 * list throws its own, in Docker's words).
 */

/** Filters as the API gives them: key → the values asked for. */
export type ListFilters = ReadonlyMap<string, readonly string[]>;

/** One `label` value against an object's labels: "key" asks for the key, "key=value" for both (filters.MatchKVList). */
export function labelMatches(labels: Readonly<Record<string, string>>, wanted: string): boolean {
  const separator = wanted.indexOf('=');
  const key = separator < 0 ? wanted : wanted.slice(0, separator);
  if (!Object.hasOwn(labels, key)) return false;
  return separator < 0 || labels[key] === wanted.slice(separator + 1);
}

/** Every `label` value must match (Docker AND's them, unlike other keys' values). */
export function labelsMatch(labels: Readonly<Record<string, string>>, wanted: readonly string[]): boolean {
  return wanted.every((value) => labelMatches(labels, value));
}

/**
 * filters.Match: a value matches when it equals the text or, read as a regular
 * expression, is found in it (so `name=web` matches "myweb_1"). A value that is
 * no valid expression is compared as plain text.
 */
export function patternMatches(pattern: string, text: string): boolean {
  if (pattern === text) return true;
  try {
    return new RegExp(pattern).test(text);
  } catch {
    return text.includes(pattern); // Go's RE2 and JS differ at the edges: an expression JS cannot read is taken literally
  }
}
