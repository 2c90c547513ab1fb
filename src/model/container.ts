/**
 * A container as skiff keeps it (camelCase; api/wire converts to and from
 * Docker's JSON in one place, and the store holds exactly this).
 */
import type { PortBinding, PortRequest } from './network.js';

/** A container's settings for one network (Docker's EndpointSettings as given), kept and shown as given. */
export interface EndpointRequest {
  ipv4?: string;
  ipv6?: string;
  /** IPAMConfig.LinkLocalIPs: further addresses on the interface (169.254.0.0/16, fe80::/64). */
  linkLocalIps: string[];
  aliases: string[];
  /** Links on a user network, as given ("db" or "db:alias"): names that only this container resolves. */
  links: string[];
  /** DriverOpts as given; null when absent. The bridge driver takes no per-endpoint option, as Docker's takes none. */
  driverOpts: Record<string, string> | null;
  /** A MAC for this network's interface; '' lets skiff choose (02:42 + the IPv4 address). */
  macAddress: string;
}

/** The settings of a network joined without any. */
export function emptyEndpointRequest(): EndpointRequest {
  return { linkLocalIps: [], aliases: [], links: [], driverOpts: null, macAddress: '' };
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
  /** Which streams the client means to attach (docker run without -d): shown in inspect, where dockerpty reads them. */
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  /** Config.Volumes (-v /path): paths given an anonymous volume. */
  volumes: string[];
}

export interface ContainerHostConfig {
  /** 'default' | 'bridge' | 'host' | 'none' | 'container:<full id>' | a network name or id */
  networkMode: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  /** Legacy links on the default bridge, "<linked container's full id>:<alias>" (an older skiff kept its name). */
  links: string[];
  autoRemove: boolean;
  /** -p, one request per host binding. */
  portBindings: PortRequest[];
  /** -P */
  publishAll: boolean;
  /** --restart, checked ('' kept as 'no'). */
  restartPolicy: RestartPolicy;
  /** -v as given (HostConfig.Binds), shown by inspect. */
  binds: string[];
  /** -v, --mount and --volumes-from, checked (volumes-from resolved at create): what the runtime mounts besides --tmpfs. */
  mounts: MountRequest[];
  /** --tmpfs PATH[:OPTIONS] as given (HostConfig.Tmpfs): path → options, checked when mounted at start as Docker checks them. */
  tmpfs: Record<string, string>;
  /** --volumes-from CONTAINER[:ro|rw] as given (HostConfig.VolumesFrom); the mounts it names are copied into `mounts` at create. */
  volumesFrom: string[];
  /** --memory, --cpus, --pids-limit …: the cgroup limits, checked (docker update changes them). */
  resources: ContainerResources;
  /** --runtime: the OCI runtime's name ('' in a request = the daemon's default, resolved at create as dockerd does). */
  runtime: string;
  /** --sysctl KEY=VALUE as given (HostConfig.Sysctls), checked at start as runc checks them. */
  sysctls: Record<string, string>;
  /** --log-opt KEY=VALUE as given (HostConfig.LogConfig.Config), checked at create: json-file's max-size and max-file. */
  logOptions: Record<string, string>;
}

/**
 * Docker's HostConfig resource fields skiff carries out through the OCI spec
 * (runc writes them to the cgroup, v1 or v2). 0 (or '') means "not set", as in Docker.
 */
export interface ContainerResources {
  /** Bytes. */
  memory: number;
  /** Memory plus swap, bytes; -1 unlimited swap. Docker sets it to twice memory at create when not given. */
  memorySwap: number;
  memoryReservation: number;
  /** CPUs × 10⁹ (--cpus). */
  nanoCpus: number;
  cpuShares: number;
  /** Microseconds. */
  cpuPeriod: number;
  cpuQuota: number;
  cpusetCpus: string;
  cpusetMems: string;
  /** null: no limit (Docker shows null at create and 0 after an update to unlimited). */
  pidsLimit: number | null;
}

export function noResources(): ContainerResources {
  return {
    memory: 0,
    memorySwap: 0,
    memoryReservation: 0,
    nanoCpus: 0,
    cpuShares: 0,
    cpuPeriod: 0,
    cpuQuota: 0,
    cpusetCpus: '',
    cpusetMems: '',
    pidsLimit: null,
  };
}

export interface MountRequest {
  type: 'bind' | 'volume' | 'tmpfs';
  /** Absolute host path (bind) or the volume's name ('' before create names an anonymous one); '' for tmpfs. */
  source: string;
  /** Absolute path inside the container, normalised. */
  target: string;
  readOnly: boolean;
  /** -v makes a missing source directory at start; --mount wants it to exist. */
  createSource: boolean;
  /** --mount type=tmpfs's TmpfsOptions (0: not given). */
  tmpfs?: { sizeBytes: number; mode: number };
  /** Copied by --volumes-from from this container (full id): docker rm -v leaves its volume alone, as Docker does. */
  copiedFrom?: string;
}

export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** on-failure:N; 0 means no maximum. */
  maximumRetryCount: number;
}

export interface ContainerState {
  status: 'created' | 'running' | 'exited';
  /** Frozen by docker pause (status stays running, as Docker's State.Running). */
  paused: boolean;
  /** The last run ended with the kernel's OOM killer acting in the container's cgroup. */
  oomKilled: boolean;
  pid: number;
  exitCode: number;
  /** Why the last start failed (dockerd's State.Error); absent once a start succeeds. */
  error?: string;
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
  /** Starts made by the restart policy since the user last started the container (Docker's RestartCount). */
  restartCount: number;
  /** Stopped or killed by the user (Docker's HasBeenManuallyStopped): unless-stopped keeps it down, even across a daemon restart. */
  manuallyStopped: boolean;
}

/** Docker's zero time, shown for a container never started or never stopped. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface CreateRequest {
  name?: string;
  config: ContainerConfig;
  hostConfig: ContainerHostConfig;
  endpoints: Record<string, EndpointRequest>;
}
