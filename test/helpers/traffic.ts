/**
 * Traffic the e2e tests send, always inside the test's world: an HTTP GET with
 * busybox nc, and the "loopback reach" a container with raw sockets can
 * perform against its host (CVE-2020-8558), played from outside its namespace.
 */
import { tryRun, type NetnsHandle } from './world.js';

/** An HTTP GET with busybox nc (busybox wget is unreliable here), from the world or a namespace. */
export async function httpGet(address: string, port: number, netns?: Pick<NetnsHandle, 'tryExec'>): Promise<string> {
  const request = `GET / HTTP/1.0\r\nHost: x\r\n\r\n`;
  const args = ['-c', `printf '${request.replaceAll('\r\n', '\\r\\n')}' | busybox nc -w 3 ${address} ${port}`];
  const result = netns === undefined ? await tryRun('sh', args) : await netns.tryExec('sh', args);
  return result.stdout;
}

/** Runs a program inside the network namespace at netnsPath (a file, or /proc/PID/ns/net). */
export function inNetns(netnsPath: string): Pick<NetnsHandle, 'tryExec'> {
  return { tryExec: (program, args) => tryRun('nsenter', [`--net=${netnsPath}`, '--', program, ...args]) };
}

/**
 * Makes a namespace send 127.0.0.1 to its gateway instead of its own loopback,
 * as a process with CAP_NET_RAW can: the local routes of 127.0.0.0/8 removed,
 * martian checks relaxed, a route to 127.0.0.1 via the gateway.
 */
export async function routeLoopbackVia(netns: Pick<NetnsHandle, 'tryExec'>, device: string, gateway: string): Promise<void> {
  const steps: string[][] = [
    ['ip', 'route', 'del', 'table', 'local', 'local', '127.0.0.1', 'dev', 'lo'],
    ['ip', 'route', 'del', 'table', 'local', 'local', '127.0.0.0/8', 'dev', 'lo'],
    ...['all', device].flatMap((scope) => [
      ['sysctl', '-qw', `net.ipv4.conf.${scope}.route_localnet=1`],
      ['sysctl', '-qw', `net.ipv4.conf.${scope}.rp_filter=0`],
      ['sysctl', '-qw', `net.ipv4.conf.${scope}.accept_local=1`],
    ]),
    ['ip', 'route', 'add', '127.0.0.1/32', 'via', gateway, 'dev', device],
  ];
  for (const step of steps) {
    const result = await netns.tryExec(step[0]!, step.slice(1));
    if (result.code !== 0) throw new Error(`${step.join(' ')}: ${result.stderr}`);
  }
}

/** What a TCP connection to address:port from the namespace brings back in 2 s ('' for nothing). */
export async function tcpAnswer(netns: Pick<NetnsHandle, 'tryExec'>, address: string, port: number): Promise<string> {
  return (await netns.tryExec('sh', ['-c', `echo hello | busybox nc -w 2 ${address} ${port}`])).stdout;
}
