import { writeFile, readFile } from 'node:fs/promises';

function procPath(key: string): string {
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

/** Sets a sysctl of the daemon's own network namespace. */
export async function setSysctl(key: string, value: string): Promise<void> {
  const path = procPath(key);
  const current = (await readFile(path, 'utf8')).trim();
  if (current !== value) await writeFile(path, value);
}

/** Sets an IPv4 per-interface sysctl (net.ipv4.conf.<ifname>.<key>); interface names may hold dots. */
export async function setIpv4InterfaceSysctl(ifname: string, key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/net/ipv4/conf/${ifname}/${key}`, value);
}

/** A sysctl of the daemon's own namespace, or undefined when there is none of that name (a link that is gone). */
export async function readSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(procPath(key), 'utf8')).trim();
  } catch {
    return undefined; // ENOENT: no such key
  }
}

/** An IPv4 per-interface sysctl (net.ipv4.conf.<ifname>.<key>), read by path since interface names may hold dots. */
export async function readIpv4InterfaceSysctl(ifname: string, key: string): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/sys/net/ipv4/conf/${ifname}/${key}`, 'utf8')).trim();
  } catch {
    return undefined; // no such interface
  }
}
