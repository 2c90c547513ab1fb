/**
 * Where the API listens: dockerd's -H values that skiff serves. unix:///path
 * is a socket skiff makes; fd:// takes the listening sockets systemd passed
 * (socket activation: LISTEN_PID names this process, LISTEN_FDS counts them
 * from descriptor 3), all of them or fd://N for one, as dockerd does;
 * tcp://ADDR:PORT is served with mutual TLS only (config.ts refuses it
 * without --tlsverify and the three files).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ConfigError, parseTcpHost } from './config.js';

/** The PEM files of a TLS listener, read once at start. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export type Listener = { kind: 'unix'; path: string } | { kind: 'fd'; fd: number } | { kind: 'tcp'; address: string; port: number; tls: TlsMaterial };

/** The TLS files the configuration names. */
export interface TlsPaths {
  tlsCaCert: string;
  tlsCert: string;
  tlsKey: string;
}

/** sd_listen_fds(3): the first passed descriptor. */
const SD_LISTEN_FDS_START = 3;

export interface ActivationEnv {
  LISTEN_PID?: string;
  LISTEN_FDS?: string;
}

/** The descriptors systemd passed to this process (none when LISTEN_PID names another). */
export function activationFds(env: ActivationEnv, pid: number): number[] {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return [];
  const count = Number(env.LISTEN_FDS ?? '0');
  if (!Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, index) => SD_LISTEN_FDS_START + index);
}

/** dockerd's words for a TLS file it cannot read ("Could not read CA certificate …"). */
function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`Could not read ${what} "${path}": ${(error as Error).message}`);
  }
}

/** Reads and checks the TLS files before anything is touched: a key that does not match its certificate stops the start here. */
export function loadTls(paths: TlsPaths): TlsMaterial {
  const material = { ca: readPem(paths.tlsCaCert, 'CA certificate'), cert: readPem(paths.tlsCert, 'TLS certificate'), key: readPem(paths.tlsKey, 'TLS key') };
  try {
    // node:tls is loaded only by a daemon given TLS material.
    (createRequire(import.meta.url)('node:tls') as typeof import('node:tls')).createSecureContext(material);
  } catch (error) {
    throw new ConfigError(
      `TLS: the certificate ${paths.tlsCert}, key ${paths.tlsKey} and CA ${paths.tlsCaCert} do not make a usable TLS setup: ${(error as Error).message}`,
    );
  }
  return material;
}

export function listenersFor(hosts: readonly string[], passedFds: readonly number[], tls: () => TlsMaterial): Listener[] {
  return hosts.flatMap((host): Listener[] => {
    if (host.startsWith('unix://')) return [{ kind: 'unix', path: host.slice('unix://'.length) }];
    if (host.startsWith('tcp://')) return [{ kind: 'tcp', ...parseTcpHost(host), tls: tls() }];
    if (host === 'fd://') {
      if (passedFds.length === 0) throw new Error('no sockets found via socket activation: make sure the service was started by systemd');
      return passedFds.map((fd) => ({ kind: 'fd', fd }));
    }
    const fd = Number(host.slice('fd://'.length));
    if (!passedFds.includes(fd)) throw new Error(`too few socket activated files passed in by systemd: fd ${fd} was not passed`);
    return [{ kind: 'fd', fd }];
  });
}

export function describeListener(listener: Listener): string {
  if (listener.kind === 'unix') return listener.path;
  if (listener.kind === 'fd') return `fd://${listener.fd}`;
  return `${listener.address.includes(':') ? `[${listener.address}]` : listener.address}:${listener.port} (mutual TLS)`;
}
