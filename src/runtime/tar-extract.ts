/**
 * Extracting a tar stream with GNU tar (argument arrays, no shell): what docker
 * import, docker load, docker cp into a container and docker commit share.
 */
import { spawn } from 'node:child_process';
import { invalid } from '../errors.js';

/** tar's flag for a compressed stream, from its first bytes (docker import and load take gzip, bzip2 and xz). */
export function decompressFlags(head: Buffer): string[] {
  if (head[0] === 0x1f && head[1] === 0x8b) return ['-z'];
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return ['-j'];
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return ['-J'];
  return [];
}

function asBuffer(chunk: unknown): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
}

export interface ExtractOptions {
  /** --exclude patterns (e.g. a layer's whiteouts, applied apart). */
  excludes?: string[];
  /** Without it (--no-overwrite-dir), an existing directory keeps its metadata, as docker cp and load want; import lets a later entry set it. */
  overwriteDirectories?: boolean;
  /** Sees every byte of the stream as sent (an import's digest). */
  onChunk?: (chunk: Buffer) => void;
}

/** Extracts a tar stream (compressed or not) into a directory of the daemon's own (a staging one, or a new image's rootfs). */
export async function extractTar(tar: NodeJS.ReadableStream, dir: string, options: ExtractOptions = {}): Promise<void> {
  // One iterator for the whole body: leaving a for-await early would destroy the stream.
  const chunks = tar[Symbol.asyncIterator]();
  const first = await chunks.next();
  const head = first.done === true ? Buffer.alloc(0) : asBuffer(first.value);
  const args = [
    '-x',
    ...decompressFlags(head),
    '--numeric-owner',
    ...(options.overwriteDirectories === true ? [] : ['--no-overwrite-dir']),
    ...(options.excludes ?? []).map((pattern) => `--exclude=${pattern}`),
    '-C',
    dir,
    '-f',
    '-',
  ];
  const child = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const finished = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  child.stdin.on('error', () => undefined); // tar exiting early is reported by its exit code
  const write = (chunk: Buffer) => {
    options.onChunk?.(chunk);
    return child.stdin.write(chunk) ? Promise.resolve() : new Promise<void>((resolve) => child.stdin.once('drain', resolve));
  };
  await write(head);
  for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) await write(asBuffer(next.value));
  child.stdin.end();
  const code = await finished;
  if (code !== 0) throw invalid(`Error processing tar file(exit status ${code}): ${stderr.trim()}`);
}
