/**
 * A container as the engine keeps it (camelCase; the API converts to
 * Docker's JSON), and the pure decisions about it: its argv, a generated
 * name, the legacy --link environment.
 */
import type { WireBinding } from '../ports/index.js';
import type { Image } from '../runtime/images.js';
import type { PortBinding } from './model.js';

export interface EndpointRequest {
  ipv4?: string;
  ipv6?: string;
  aliases: string[];
}

export interface ContainerConfig {
  image: string;
  cmd: string[] | null;
  entrypoint: string[] | null;
  env: string[];
  hostname: string;
  domainname: string;
  workingDir: string;
  tty: boolean;
  openStdin: boolean;
  labels: Record<string, string>;
  exposedPorts: Record<string, object>;
  /** --mac-address: the MAC of the container's first network interface. */
  macAddress: string;
}

export interface ContainerHostConfig {
  /** 'default' | 'bridge' | 'host' | 'none' | 'container:<ref>' | a network name or id */
  networkMode: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  links: string[];
  autoRemove: boolean;
  /** -p as the client sent it ("80/tcp" → bindings). */
  portBindings: Record<string, WireBinding[] | null>;
  /** -P */
  publishAll: boolean;
}

export interface ContainerState {
  status: 'created' | 'running' | 'exited';
  pid: number;
  exitCode: number;
  startedAt: string;
  finishedAt: string;
}

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  imageId: string;
  config: ContainerConfig;
  hostConfig: ContainerHostConfig;
  /** Networks to join at start (by network id), with their requests; kept across restarts like Docker's. */
  networks: Record<string, EndpointRequest>;
  sandboxId: string;
  state: ContainerState;
  /** Host ports published while running. */
  ports: PortBinding[];
}

/** Docker's zero time, shown for a container never started or never stopped. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';
export const NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const ADJECTIVES = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'proud', 'quirky', 'sharp', 'tender', 'vivid'];
const NOUNS = ['babbage', 'curie', 'darwin', 'euler', 'fermat', 'galois', 'hopper', 'kepler', 'lovelace', 'noether', 'pascal', 'ritchie', 'shannon', 'turing', 'wozniak', 'yonath'];

export interface CreateRequest {
  name?: string;
  config: ContainerConfig;
  hostConfig: ContainerHostConfig;
  endpoints: Record<string, EndpointRequest>;
}

/** The process's argv: entrypoint then command, each from the container or else the image, as Docker resolves them. */
export function argvOf(record: ContainerRecord, image: Image | undefined): string[] {
  const entrypoint = record.config.entrypoint ?? image?.config.Entrypoint ?? [];
  const cmd = record.config.cmd ?? (record.config.entrypoint !== null ? [] : image?.config.Cmd ?? []);
  return [...entrypoint, ...cmd];
}

/** A Docker-style adjective_scientist name that is not taken. */
export function generateName(taken: (name: string) => boolean): string {
  const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;
  for (;;) {
    const name = `${pick(ADJECTIVES)}_${pick(NOUNS)}`;
    if (!taken(name)) return name;
  }
}

/** Docker's legacy link variables: ALIAS_PORT_80_TCP=tcp://ip:80, ALIAS_NAME, ALIAS_ENV_x. */
export function linkEnvironment(alias: string, containerName: string, address: string, exposedPorts: readonly string[], linkedEnv: readonly string[]): string[] {
  const prefix = alias.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  const ports = [...new Set(exposedPorts)].map((key) => { const [port, protocol = 'tcp'] = key.split('/'); return { port: port!, protocol }; })
    .sort((a, b) => Number(a.port) - Number(b.port));
  const env: string[] = [];
  if (ports[0] !== undefined) env.push(`${prefix}_PORT=${ports[0].protocol}://${address}:${ports[0].port}`);
  for (const { port, protocol } of ports) {
    const name = `${prefix}_PORT_${port}_${protocol.toUpperCase()}`;
    env.push(`${name}=${protocol}://${address}:${port}`, `${name}_ADDR=${address}`, `${name}_PORT=${port}`, `${name}_PROTO=${protocol}`);
  }
  env.push(`${prefix}_NAME=/${containerName}/${alias}`);
  for (const entry of linkedEnv) {
    const separator = entry.indexOf('=');
    if (separator > 0 && !entry.startsWith('HOME=') && !entry.startsWith('PATH=')) env.push(`${prefix}_ENV_${entry}`);
  }
  return env;
}
