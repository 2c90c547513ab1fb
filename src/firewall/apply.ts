/**
 * The thin layer that hands rendered nftables text to the kernel. Every
 * change is one `nft -f -` transaction: all of it applies or none of it.
 */
import { SkiffError } from '../errors.js';
import { run } from '../kernel/exec.js';
import { DEFAULT_TABLE, checkTableName } from './state.js';
import { normalizedElement, parseSetListing } from './elements.js';

/** Applies an nft script atomically; the error carries nft's own message (line and offending text). */
export async function applyNft(script: string): Promise<void> {
  if (script === '') return;
  try {
    await run('nft', ['-f', '-'], { input: script });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new SkiffError('unavailable', `failed to apply nftables rules: ${detail}`, { cause: error });
  }
}

/** Deletes skiff's table; a missing table is success (it is created first in the same transaction). */
export async function deleteTable(table: string = DEFAULT_TABLE): Promise<void> {
  checkTableName(table);
  await applyNft(`add table inet ${table}\ndelete table inet ${table}\n`);
}

/** `nft list table` of skiff's table. */
export async function listTable(table: string = DEFAULT_TABLE): Promise<string> {
  const { stdout } = await run('nft', ['list', 'table', 'inet', checkTableName(table)]);
  return stdout;
}

/** Whether a set of skiff's table holds the element (as nft element text); false when the set is gone. */
export async function hasElement(table: string, set: string, element: string, kind: 'set' | 'map' = 'set'): Promise<boolean> {
  let listing: string;
  try {
    listing = (await run('nft', ['-j', 'list', kind, 'inet', checkTableName(table), set])).stdout;
  } catch {
    return false; // nft's "No such file or directory": the set (or table) is not there
  }
  return parseSetListing(listing).includes(normalizedElement(element));
}

/** `nft list chain` of one of skiff's chains; undefined when the chain is gone. */
export async function listChain(table: string, chain: string): Promise<string | undefined> {
  try {
    return (await run('nft', ['list', 'chain', 'inet', checkTableName(table), chain])).stdout;
  } catch {
    return undefined; // no such chain (or table)
  }
}
