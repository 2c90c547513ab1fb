/**
 * Links in the daemon's own network namespace (bridges, veths), through
 * iproute2: `ip -json` to read, `ip -batch -` to change several things in
 * one process. What runs on every connect and disconnect (a link taken off
 * its bridge, deleted) goes by rtnetlink instead (rtnetlink/), without
 * starting a program, and so do the reads of a link's state
 * (interfaceState, readInterfaces: diagnose reads every container's).
 */
import { constants } from 'node:os';
import type { InterfaceAddress } from '../model/address.js';
import { SkiffError } from '../errors.js';
import { run, runInNetns } from './exec.js';
import { linkDelete, linkSet, type RtnetlinkRequest } from './rtnetlink/messages.js';
import { describeFailure, trySendRequests, type BatchFailure } from './rtnetlink/send.js';
import {
  addressDump,
  interfaceStates,
  linkDump,
  linkGetByIndex,
  linkGetByName,
  parseAddressMessages,
  parseLinkMessages,
  type LinkRecord,
} from './rtnetlink/dumps.js';
import { dumpNetlink, NETLINK_ROUTE, type DumpAnswer } from './netlink/dump.js';

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

/** A link's state, field for field what `ip -json -details addr show` showed: state, master, MAC and addresses. */
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

/** The messages of an answer; undefined for a refusal with ENODEV (no such link). */
function messagesOrNoLink(answer: DumpAnswer, what: string): Uint8Array | undefined {
  if ('bytes' in answer) return answer.bytes;
  if (answer.errno === ENODEV) return undefined;
  throw new SkiffError('unavailable', `failed to read ${what}: ${answer.reason}`);
}

/**
 * Every link of the daemon's namespace or the one at netnsPath, by name:
 * one link dump and one address dump, read by the daemon itself. Throws
 * when the namespace cannot be read (gone meanwhile), naming it.
 */
export async function readInterfaces(netnsPath?: string): Promise<Map<string, InterfaceState>> {
  const [links, addresses] = await dumpNetlink(
    [
      { protocol: NETLINK_ROUTE, bytes: linkDump() },
      { protocol: NETLINK_ROUTE, bytes: addressDump() },
    ],
    netnsPath,
  );
  const where = netnsPath === undefined ? '' : ` in netns "${netnsPath}"`;
  const linkRecords = parseLinkMessages(messagesOrNoLink(links!, `the links${where}`) ?? new Uint8Array());
  const addressRecords = parseAddressMessages(messagesOrNoLink(addresses!, `the addresses${where}`) ?? new Uint8Array());
  return new Map(interfaceStates(linkRecords, addressRecords).map((state) => [state.ifname, state]));
}

/** The link's state in the daemon's namespace or the one at netnsPath; undefined when there is no such link (or namespace). */
export async function interfaceState(ifname: string, netnsPath?: string): Promise<InterfaceState | undefined> {
  const where = netnsPath === undefined ? '' : ` in netns "${netnsPath}"`;
  let answers: DumpAnswer[];
  try {
    answers = await dumpNetlink(
      [
        { protocol: NETLINK_ROUTE, bytes: linkGetByName(ifname) },
        { protocol: NETLINK_ROUTE, bytes: addressDump() },
      ],
      netnsPath,
    );
  } catch {
    return undefined; // the namespace is gone: nor is the link there
  }
  const linkBytes = messagesOrNoLink(answers[0]!, `link ${ifname}${where}`);
  const link = linkBytes === undefined ? undefined : parseLinkMessages(linkBytes)[0];
  if (link === undefined) return undefined;
  const addresses = parseAddressMessages(messagesOrNoLink(answers[1]!, `the addresses${where}`) ?? new Uint8Array());
  // Only a bridge port needs a second look-up: its master's name.
  const masters = link.masterIndex === undefined ? [] : await masterOf(link.masterIndex, netnsPath);
  return interfaceStates([link], addresses, masters)[0];
}

async function masterOf(index: number, netnsPath: string | undefined): Promise<LinkRecord[]> {
  const [answer] = await dumpNetlink([{ protocol: NETLINK_ROUTE, bytes: linkGetByIndex(index) }], netnsPath);
  return 'bytes' in answer! ? parseLinkMessages(answer.bytes) : [];
}
