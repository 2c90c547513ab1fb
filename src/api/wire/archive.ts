/** docker cp's path stat header and docker diff's changes, as Docker's JSON. */
import type { PathStat } from '../../runtime/archive.js';
import type { Change } from '../../runtime/changes.js';

const KIND = { modified: 0, added: 1, deleted: 2 } as const;

/** X-Docker-Container-Path-Stat: base64 of {name, size, mode, mtime, linkTarget}. */
export function pathStatHeader(stat: PathStat): string {
  return Buffer.from(JSON.stringify({ name: stat.name, size: stat.size, mode: stat.mode, mtime: stat.mtime, linkTarget: stat.linkTarget })).toString('base64');
}

/** Kind 0 modified, 1 added, 2 deleted; null when nothing changed, as Docker's nil list. */
export function changesToWire(changes: readonly Change[]): Array<{ Path: string; Kind: number }> | null {
  return changes.length === 0 ? null : changes.map((change) => ({ Path: change.path, Kind: KIND[change.kind] }));
}
