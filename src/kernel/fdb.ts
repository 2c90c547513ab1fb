/**
 * VXLAN forwarding entries (`bridge fdb`) and neighbour entries (`ip neigh`)
 * in the daemon's namespace, written in batches: one process per kind of
 * entry for a whole change, whatever its size.
 */
import { run } from './exec.js';

/** Writes `bridge` lines (without the leading `bridge`) in one process; stops at the first failure. */
export async function bridgeBatch(lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await run('bridge', ['-batch', '-'], { input: `${lines.join('\n')}\n` });
}

/**
 * Deletes entries, every line tried (-force): deleting an entry that is
 * already gone exits non-zero and counts as success, so the exit status says
 * nothing useful and is not reported.
 */
export async function deleteEntries(program: 'ip' | 'bridge', lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  await run(program, ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n` }).catch(() => undefined);
}
