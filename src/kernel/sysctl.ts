import { writeFile, readFile } from 'node:fs/promises';
import { runInNetns } from './exec.js';

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

/** Sets sysctls inside another network namespace in one process. */
export async function setSysctlsInNetns(netnsPath: string, settings: Record<string, string>): Promise<void> {
  const args = Object.entries(settings).flatMap(([key, value]) => ['-w', `${key}=${value}`]);
  if (args.length > 0) await runInNetns(netnsPath, 'sysctl', ['-q', ...args]);
}
