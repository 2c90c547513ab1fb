/** What a prune gives back: the bytes of the regular files under a directory (Docker's sizes count file contents, not directory entries). */
import { existsSync } from 'node:fs';
import { run } from '../kernel/exec.js';

export async function bytesOfFiles(root: string): Promise<number> {
  if (!existsSync(root)) return 0;
  const { stdout } = await run('find', [root, '-xdev', '-type', 'f', '-printf', '%s\\n']);
  return stdout
    .split('\n')
    .filter(Boolean)
    .reduce((sum, line) => sum + Number(line), 0);
}
