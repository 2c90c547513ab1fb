/**
 * netlink reads carried by skiff's native addon (native/netlink-dump.c) in
 * the daemon's namespace or in one bound to a file: the requests of
 * rtnetlink/dumps.ts and nftables/rules.ts, each answered by every message
 * the kernel sent for it, or by the errno it was refused with. No program
 * starts: a diagnose reads hundreds of namespaces.
 */
import { SkiffError } from '../../errors.js';
import { loadAddon, type AddonDumpAnswer } from '../addon.js';

// linux/netlink.h
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

export interface DumpRequest {
  protocol: typeof NETLINK_ROUTE | typeof NETLINK_NETFILTER;
  /** One netlink message, sequence number 0 (the sender's to set). */
  bytes: Uint8Array;
}

export type DumpAnswer = AddonDumpAnswer;

/**
 * The answers to the requests, in their order, read in the namespace bound
 * at netnsPath (the daemon's own when undefined). Throws when the namespace
 * cannot be entered (a container that ended meanwhile):
 * `failed to read netns "/run/skiff/netns/3f2a…": open: No such file or directory`.
 */
export async function dumpNetlink(requests: readonly DumpRequest[], netnsPath?: string): Promise<DumpAnswer[]> {
  const { answers, failure } = await loadAddon().dumpNetlink(netnsPath ?? null, requests);
  if (failure !== undefined) {
    const where = netnsPath === undefined ? "the daemon's network namespace" : `netns "${netnsPath}"`;
    throw new SkiffError('unavailable', `failed to read ${where}: ${failure.step}: ${failure.reason}`);
  }
  return answers;
}
