/**
 * Random bytes for ids and names, read from the kernel's /dev/urandom:
 * node:crypto would cost the daemon 1.3 MB of RSS for its whole life (its
 * module tree and bindings) for the few bytes a container or exec id needs.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export function randomBytes(count: number): Buffer {
  const bytes = Buffer.alloc(count);
  const fd = openSync('/dev/urandom', 'r');
  try {
    // /dev/urandom returns every byte asked for in one read (up to 32 MB).
    readSync(fd, bytes, 0, count, null);
  } finally {
    closeSync(fd);
  }
  return bytes;
}
