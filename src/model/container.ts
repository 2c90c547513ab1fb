/**
 * A container as skiff keeps it (camelCase; api/wire converts to and from
 * Docker's JSON in one place, and the store holds exactly this).
 */
import type { PortBinding, PortRequest } from './network.js';

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
  /** EXPOSE / --expose, as "80/tcp". */
  exposedPorts: string[];
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
  /** -p, one request per host binding. */
  portBindings: PortRequest[];
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

export interface CreateRequest {
  name?: string;
  config: ContainerConfig;
  hostConfig: ContainerHostConfig;
  endpoints: Record<string, EndpointRequest>;
}
