/**
 * The upstream DNS server e2e tests forward to: upstream-dns.js in a namespace
 * of the test's own, linked to the world at 198.51.100.1 (never the machine's
 * resolver).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeLinkedHost, scratchDir } from './world.js';

const upstreamScript = join(dirname(fileURLToPath(import.meta.url)), 'upstream-dns.js');

export interface RunningUpstream {
  stop(): Promise<void>;
}

/** Starts the server on address (198.51.100.0/24) and resolves once it listens. */
export async function startUpstreamDns(scratchPrefix: string, address: string): Promise<RunningUpstream> {
  const scratch = scratchDir(scratchPrefix);
  const namespace = await makeLinkedHost(scratch.path, 'upstream', '198.51.100.1', address);
  const server = await serveDnsIn(namespace.path, address);
  return {
    async stop() {
      server.kill();
      await namespace.remove();
      scratch.remove();
    },
  };
}

/** upstream-dns.js on address inside the namespace at netnsPath (a container's own "local resolver", say), once it listens. */
export async function serveDnsIn(netnsPath: string, address: string): Promise<ChildProcess> {
  const server = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, upstreamScript, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`the DNS server on ${address} in ${netnsPath} exited with ${code}`)));
  });
  return server;
}
