import { invalid, notFound } from '../errors.js';

interface Named {
  id: string;
  name: string;
}

/**
 * Docker's lookup order for a network reference: full id, then exact name
 * (several networks may share one: then the reference is ambiguous), then a
 * unique id prefix.
 */
export function findByReference<T extends Named>(items: Iterable<T>, reference: string, kind = 'network'): T {
  const all = [...items];
  const byId = all.find((item) => item.id === reference);
  if (byId !== undefined) return byId;
  const byName = all.filter((item) => item.name === reference);
  if (byName.length > 1) throw invalid(`${kind} ${reference} is ambiguous (${byName.length} matches found based on name)`);
  if (byName[0] !== undefined) return byName[0];
  const byPrefix = reference === '' ? [] : all.filter((item) => item.id.startsWith(reference));
  if (byPrefix.length === 1) return byPrefix[0]!;
  if (byPrefix.length > 1) throw invalid(`${kind} ${reference} is ambiguous (${byPrefix.length} matches found based on ID prefix)`);
  throw notFound(`${kind} ${reference} not found`);
}
