/**
 * Maps items through an asynchronous function with at most `limit` calls
 * under way, results in the items' order: checks that each start programs
 * (skiff network diagnose beside hundreds of containers) overlap without
 * forking hundreds of processes at once.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) results[index] = await map(items[index]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
