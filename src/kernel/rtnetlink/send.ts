/**
 * rtnetlink requests (messages.ts) carried out by skiff's native addon
 * (native/rtnetlink.c) on a NETLINK_ROUTE socket in the daemon's namespace or
 * in one bound to a file: what `ip -batch -` (and `nsenter --net=PATH ip
 * -batch -`) did on the hot paths, without starting a program (4-6 ms each).
 * As with `ip -batch`, the first request refused ends the batch.
 */
import { open } from 'node:fs/promises';
import { constants } from 'node:os';
import { SkiffError } from '../../errors.js';
import { loadAddon, type AddonBatchOutcome } from '../addon.js';
import type { NetnsRef, RtnetlinkRequest } from './messages.js';

export type BatchOutcome = AddonBatchOutcome;
export type BatchFailure = NonNullable<BatchOutcome['failure']>;

const { ENODEV } = constants.errno;

/** Sends the requests in order in the namespace bound at netnsPath (the daemon's own when undefined); never throws for a refusal. */
export async function trySendRequests(requests: readonly RtnetlinkRequest[], netnsPath?: string): Promise<BatchOutcome> {
  if (requests.length === 0) return { done: 0 };
  return loadAddon().sendRtnetlink(netnsPath ?? null, requests);
}

/** Sends the requests in order; the first refused throws, naming the namespace, the request (in `ip`'s words) and the kernel's answer. */
export async function sendRequests(requests: readonly RtnetlinkRequest[], netnsPath?: string): Promise<void> {
  const { failure } = await trySendRequests(requests, netnsPath);
  if (failure !== undefined) throw new SkiffError('unavailable', describeFailure(failure, requests, netnsPath));
}

/**
 * The message for a refused batch, in `ip`'s words where it has them:
 * `in netns "/run/skiff/netns/3f2a…": addr add 172.17.0.2/16 dev eth0: RTNETLINK answers: File exists`.
 */
export function describeFailure(failure: BatchFailure, requests: readonly RtnetlinkRequest[], netnsPath?: string): string {
  const where = netnsPath === undefined ? '' : `in netns "${netnsPath}": `;
  const operation = requests[failure.index]?.operation;
  const kernel = failure.extack === undefined ? '' : ` (${failure.extack})`;
  switch (failure.step) {
    case 'request':
      return `${where}${operation}: RTNETLINK answers: ${failure.reason}${kernel}`;
    case 'link':
      return failure.errno === ENODEV
        ? `${where}${operation}: Cannot find device "${failure.link}"`
        : `${where}${operation}: looking up device "${failure.link}": ${failure.reason}${kernel}`;
    default:
      return netnsPath === undefined
        ? `failed to open an rtnetlink socket: ${failure.step}: ${failure.reason}`
        : `failed to open an rtnetlink socket in netns "${netnsPath}": ${failure.step}: ${failure.reason}`;
  }
}

/**
 * Runs use with the namespace bound at path open (for IFLA_NET_NS_FD: a link
 * made straight into it), closed again afterwards.
 */
export async function withNetns<T>(path: string, use: (netns: NetnsRef) => Promise<T>): Promise<T> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new SkiffError(
      'unavailable',
      `failed to open netns "${path}": ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  try {
    return await use({ fd: handle.fd, path });
  } finally {
    await handle.close();
  }
}
