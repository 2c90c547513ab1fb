/**
 * Links in the daemon's own network namespace (bridges, veths), through
 * iproute2: `ip -json` to read, `ip -batch -` to change several things in
 * one process.
 */
import { run, runInNetns } from './exec.js';

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

export async function linkExists(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

/** Runs several `ip` commands (one per line, without the leading `ip`) in one process; stops at the first failure. */
export async function ipBatch(lines: readonly string[], netnsPath?: string): Promise<void> {
  if (lines.length === 0) return;
  const input = `${lines.join('\n')}\n`;
  if (netnsPath === undefined) await run('ip', ['-batch', '-'], { input });
  else await runInNetns(netnsPath, 'ip', ['-batch', '-'], { input });
}

/** Deletes a link; one that is already gone is success (teardown is idempotent). */
export async function deleteLink(name: string): Promise<void> {
  try {
    await run('ip', ['link', 'delete', 'dev', name]);
  } catch (error) {
    if (await linkExists(name)) throw error;
  }
}

/** The link's ifalias, or undefined when there is no such link. */
async function aliasOf(name: string): Promise<string | undefined | null> {
  try {
    const { stdout } = await run('ip', ['-json', '-details', 'link', 'show', 'dev', name]);
    return parseLinks(stdout)[0]?.alias ?? null;
  } catch {
    return undefined;
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
