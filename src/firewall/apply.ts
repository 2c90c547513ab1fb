/**
 * The thin layer that hands rendered nftables text to the kernel. Every
 * change is one `nft -f -` transaction: all of it applies or none of it.
 */
import { SkiffError } from '../errors.js';
import { run } from '../kernel/exec.js';
import { DEFAULT_TABLE, checkTableName } from './state.js';

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
