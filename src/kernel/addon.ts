/**
 * skiff's N-API addon (src/kernel/native/*.c, built by scripts/build-native.sh
 * into dist/skiff-netns.node), loaded once on first use. Its users:
 * netns-sockets.ts (sockets made in another namespace), rtnetlink/
 * (rtnetlink requests sent by the daemon itself), nftables/ (nf_tables
 * transactions), netlink/dump.ts (links, addresses and rules read), exec.ts (programs started by posix_spawn), netns.ts and
 * mounts.ts (namespaces bound to files, overlay mounts) and releaseFreeMemory
 * below.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SkiffError } from '../errors.js';
import type { OpenedSocket, SocketSpec } from './netns-sockets.js';

/** One netlink message, and where to write the index of each link it names (looked up just before it is sent). */
export interface AddonRequest {
  bytes: Uint8Array;
  links: ReadonlyArray<{ offset: number; name: string }>;
}

export interface AddonBatchOutcome {
  /** How many requests the kernel carried out, from the first. */
  done: number;
  failure?: {
    /** The request refused; -1 when no socket could be made. */
    index: number;
    step: 'open' | 'setns' | 'socket' | 'link' | 'request';
    errno: number;
    /** strerror's text. */
    reason: string;
    /** The link whose look-up failed (step "link"). */
    link?: string;
    /** The kernel's own explanation (extended ack), when it gave one. */
    extack?: string;
  };
}

/** What the kernel answered one request of dumpNetlink: every message it sent, or the errno it refused it with. */
export type AddonDumpAnswer = { bytes: Buffer } | { errno: number; reason: string };

export interface AddonDumpOutcome {
  answers: AddonDumpAnswer[];
  /** No socket could be made in the namespace: no answers. */
  failure?: { step: 'open' | 'setns' | 'socket'; errno: number; reason: string };
}

/** How a program started by spawnProgram (native/spawn.c) ended. */
export interface SpawnOutcome {
  /** The exit code; -1 when a signal ended it. */
  status: number;
  /** The signal that ended it, 0 for none. */
  signal: number;
  stdout: Buffer;
  stderr: Buffer;
  /** Killed (SIGTERM) because it outlived its time. */
  timedOut: boolean;
  /** Killed (SIGTERM) because an output outgrew the limit. */
  overflowed: boolean;
  /** Nothing ran: the exec's errno (ENOENT: no such program). */
  spawnErrno: number;
}

interface Addon {
  openSockets(netnsPath: string, specs: readonly SocketSpec[]): OpenedSocket[];
  sendRtnetlink(netnsPath: string | null, requests: readonly AddonRequest[]): Promise<AddonBatchOutcome>;
  /** One nf_tables batch (BATCH_BEGIN … BATCH_END, links empty) in one sendmsg; failure.index is the message refused. */
  sendNftables(netnsPath: string | null, requests: readonly AddonRequest[]): Promise<AddonBatchOutcome>;
  /** netlink reads (dumps, or gets of one object) in one namespace, on a socket of each request's protocol (netlink-dump.c). */
  dumpNetlink(netnsPath: string | null, requests: ReadonlyArray<{ protocol: number; bytes: Uint8Array }>): Promise<AddonDumpOutcome>;
  releaseFreeMemory(): boolean;
  spawnProgram(program: string, args: readonly string[], input: Buffer | null, timeoutMs: number, maxBuffer: number): Promise<SpawnOutcome>;
  spawnDetached(program: string, args: readonly string[], outFd: number, errFd: number, channels: number): { pid: number; fds: number[] };
  /** A new namespace bound to the empty file at path (sandbox.c); rejects with the step and strerror's text: "unshare: Operation not permitted". */
  createNetns(path: string, loopbackUp: boolean): Promise<void>;
  /** Writes /proc/sys/<key> (under net/) inside the namespace bound at path, from a thread that enters it; rejects with the step and strerror's text. */
  setNetnsSysctl(path: string, key: string, value: string): Promise<void>;
  /** mount(2) without flags; rejects with strerror's text. */
  mount(source: string, target: string, type: string, options: string): Promise<void>;
  /** umount2(2), MNT_DETACH when detach; rejects with strerror's text. */
  unmount(target: string, detach: boolean): Promise<void>;
}

const ADDON_PATH = fileURLToPath(new URL('../../skiff-netns.node', import.meta.url));
let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
    } catch (error) {
      throw new SkiffError('unavailable', `failed to load skiff's native addon "${ADDON_PATH}" (npm run build makes it): ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return addon;
}

/**
 * Hands the pages malloc keeps for reuse back to the kernel (malloc_trim,
 * release-memory.c): glibc keeps what free() returned, so a daemon that went
 * quiet after a burst would otherwise stay at its peak.
 */
export function releaseFreeMemory(): boolean {
  return loadAddon().releaseFreeMemory();
}
