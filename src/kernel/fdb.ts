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

export interface FdbEntry { mac: string; dst?: string }
export interface NeighbourEntry { ipv4: string; mac?: string; permanent: boolean }

/** The device's own FDB entries (`self`): MAC → remote VTEP. */
export async function readFdb(device: string): Promise<FdbEntry[]> {
  const { stdout } = await run('bridge', ['-json', 'fdb', 'show', 'dev', device]);
  const entries = JSON.parse(stdout || '[]') as Array<{ mac: string; dst?: string; flags?: string[] }>;
  return entries.filter((entry) => entry.flags?.includes('self') !== false).map((entry) => ({ mac: entry.mac.toLowerCase(), dst: entry.dst }));
}

export async function readNeighbours(device: string): Promise<NeighbourEntry[]> {
  const { stdout } = await run('ip', ['-json', '-4', 'neigh', 'show', 'dev', device]);
  const entries = JSON.parse(stdout || '[]') as Array<{ dst: string; lladdr?: string; state?: string[] }>;
  return entries.map((entry) => ({ ipv4: entry.dst, mac: entry.lladdr?.toLowerCase(), permanent: entry.state?.includes('PERMANENT') === true }));
}
