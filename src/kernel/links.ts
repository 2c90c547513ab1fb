/**
 * Links in the daemon's own network namespace (bridges, veths), through
 * iproute2: `ip -json` to read, `ip -batch -` to change several things in
 * one process. What runs on every connect and disconnect (a link taken off
 * its bridge, deleted) goes by rtnetlink instead (rtnetlink/), without
 * starting a program.
 */
import { constants } from 'node:os';
import { interfaceAddress, type InterfaceAddress } from '../model/address.js';
import { SkiffError } from '../errors.js';
import { run, runInNetns } from './exec.js';
import { linkDelete, linkSet, type RtnetlinkRequest } from './rtnetlink/messages.js';
import { describeFailure, trySendRequests, type BatchFailure } from './rtnetlink/send.js';

const { ENODEV, ENOENT, EINVAL } = constants.errno;

export interface LinkInfo {
  ifname: string;
  /** Bridge the link is enslaved to, if any. */
  master?: string;
  kind?: string;
  address?: string;
  mtu: number;
  operstate: string;
  /** ifalias: skiff marks the links it creates so a restart can tell them from anyone else's. */
  alias?: string;
}

/** The ifalias every link skiff creates carries. */
export const SKIFF_LINK_ALIAS = 'skiff';

interface IpJsonLink {
  ifname: string;
  master?: string;
  address?: string;
  mtu: number;
  operstate: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
}

export function parseLinks(json: string): LinkInfo[] {
  const links = JSON.parse(json) as IpJsonLink[];
  return links.map((link) => ({
    ifname: link.ifname,
    master: link.master,
    kind: link.linkinfo?.info_kind,
    address: link.address,
    mtu: link.mtu,
    operstate: link.operstate,
    alias: link.ifalias,
  }));
}

export async function listLinks(): Promise<LinkInfo[]> {
  const { stdout } = await run('ip', ['-json', '-details', 'link', 'show']);
  return parseLinks(stdout);
}

/** Whether a link of that name exists (in the daemon's namespace, or in the one bound at netnsPath). */
export async function linkExists(name: string, netnsPath?: string): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', name], netnsPath);
    return true;
  } catch {
    // ip's only failure here is "Device does not exist" (or a namespace that is gone): no such link.
    return false;
  }
}

function ip(args: readonly string[], netnsPath: string | undefined) {
  return netnsPath === undefined ? run('ip', args) : runInNetns(netnsPath, 'ip', args);
}

/** Runs several `ip` commands (one per line, without the leading `ip`) in one process; stops at the first failure. */
export async function ipBatch(lines: readonly string[], netnsPath?: string): Promise<void> {
  if (lines.length === 0) return;
  const input = `${lines.join('\n')}\n`;
  if (netnsPath === undefined) await run('ip', ['-batch', '-'], { input });
  else await runInNetns(netnsPath, 'ip', ['-batch', '-'], { input });
}

/** Whether a refusal means the link is not there: no such device, or no such namespace any more (its file gone, or no longer bound). */
function linkIsGone(failure: BatchFailure): boolean {
  return failure.errno === ENODEV || (failure.step === 'open' && failure.errno === ENOENT) || (failure.step === 'setns' && failure.errno === EINVAL);
}

/** Changes a link by rtnetlink; one that is already gone (or its namespace) is success (teardown is idempotent). */
async function changeLinkIfThere(request: RtnetlinkRequest, netnsPath?: string): Promise<void> {
  const { failure } = await trySendRequests([request], netnsPath);
  if (failure !== undefined && !linkIsGone(failure)) throw new SkiffError('unavailable', describeFailure(failure, [request], netnsPath));
}

/** Deletes a link; one that is already gone is success (teardown is idempotent). */
export async function deleteLink(name: string, netnsPath?: string): Promise<void> {
  await changeLinkIfThere(linkDelete(name), netnsPath);
}

/** Takes a link down and off its bridge; one that is already gone is success. */
export async function detachLink(name: string): Promise<void> {
  await changeLinkIfThere(linkSet(name, { up: false, nomaster: true }));
}

/** The link's ifalias, or undefined when there is no such link. */
async function aliasOf(name: string): Promise<string | undefined | null> {
  try {
    const { stdout } = await run('ip', ['-json', '-details', 'link', 'show', 'dev', name]);
    return parseLinks(stdout)[0]?.alias ?? null;
  } catch {
    return undefined; // "Device does not exist"
  }
}

/**
 * Deletes a link only if skiff made it (it carries skiff's ifalias): undoing a
 * failed create must never take an interface someone else owns, whatever name
 * a user asked for. A missing link is success.
 */
export async function deleteOwnLink(name: string): Promise<void> {
  const alias = await aliasOf(name);
  if (alias === undefined || alias !== SKIFF_LINK_ALIAS) return;
  await deleteLink(name);
}

/** A link as `ip -json addr` shows it: state, master, MAC and addresses. */
export interface InterfaceState {
  ifname: string;
  mac?: string;
  operstate: string;
  up: boolean;
  master?: string;
  /** As a bridge port: isolated from the bridge's other isolated ports. */
  isolated?: boolean;
  addresses: InterfaceAddress[];
}

interface IpJsonAddr {
  ifname: string;
  address?: string;
  operstate: string;
  master?: string;
  flags?: string[];
  linkinfo?: { info_slave_kind?: string; info_slave_data?: { isolated?: boolean } };
  addr_info: Array<{ local: string; prefixlen: number }>;
}

/** The link's state in the daemon's namespace or the one at netnsPath; undefined when there is no such link. */
export async function interfaceState(ifname: string, netnsPath?: string): Promise<InterfaceState | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await ip(['-json', '-details', 'addr', 'show', 'dev', ifname], netnsPath));
  } catch {
    return undefined; // "Device does not exist"
  }
  const link = (JSON.parse(stdout) as IpJsonAddr[])[0];
  if (link === undefined) return undefined;
  return {
    ifname: link.ifname,
    mac: link.address,
    operstate: link.operstate,
    up: link.flags?.includes('UP') === true,
    master: link.master,
    isolated: link.linkinfo?.info_slave_kind === 'bridge' ? link.linkinfo.info_slave_data?.isolated === true : undefined,
    addresses: link.addr_info.flatMap((address) => interfaceAddress(address.local, address.prefixlen) ?? []),
  };
}
