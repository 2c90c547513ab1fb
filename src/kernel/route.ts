/**
 * The kernel's own routing answer (`ip route get`), asked in the daemon's
 * namespace or in a sandbox's: the route a packet would really take, not one
 * worked out from skiff's records.
 */
import { run, runInNetns } from './exec.js';

export type RouteLookup = { ok: true; type: string; dev: string; gateway?: string; preferredSource?: string } | { ok: false; error: string };

interface IpJsonRoute {
  type?: string;
  dev?: string;
  gateway?: string;
  prefsrc?: string;
}

/** The route to destination; `from`/`iif` ask as for a packet arriving on iif from that source. */
export async function routeGet(destination: string, options: { netnsPath?: string; from?: string; iif?: string } = {}): Promise<RouteLookup> {
  const args = ['-json', 'route', 'get', destination];
  if (options.from !== undefined) args.push('from', options.from);
  if (options.iif !== undefined) args.push('iif', options.iif);
  try {
    const { stdout } = options.netnsPath === undefined ? await run('ip', args) : await runInNetns(options.netnsPath, 'ip', args);
    const route = (JSON.parse(stdout) as IpJsonRoute[])[0];
    if (route?.dev === undefined) return { ok: false, error: 'no route' };
    return { ok: true, type: route.type ?? 'unicast', dev: route.dev, gateway: route.gateway, preferredSource: route.prefsrc };
  } catch (error) {
    // ip's own words ("Network is unreachable"), without the command line run() puts first.
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, error: message.slice(message.lastIndexOf(': ') + 2) || message };
  }
}
