/** What the runtime needs to run a container's process: decided by the container layer, carried out by runc. */
import type { ContainerResources } from '../model/container.js';
import type { Image } from '../model/image.js';

export interface ContainerProcessSpec {
  id: string; // 64 hex
  image: Image;
  args: string[]; // final argv (entrypoint + cmd resolved by the caller)
  env: string[];
  cwd: string;
  hostname: string;
  tty: boolean;
  openStdin: boolean;
  netnsPath: string | null; // null = the host's network namespace
  etcFiles: { hosts: string; resolvConf: string; hostname: string };
  /** Host paths bound into the container (-v, --mount), in the order given. */
  binds: Array<{ source: string; destination: string; readOnly: boolean }>;
  /** tmpfs mounts (--tmpfs, --mount type=tmpfs) with their OCI options, mounted after the binds. */
  tmpfs?: Array<{ destination: string; options: string[] }>;
  /** The OCI runtime's name (HostConfig.Runtime; '' = the daemon's default). */
  runtime: string;
  /** The cgroup limits, checked (runc carries them out). */
  resources: ContainerResources;
  /** --sysctl's IPC and UTS ones, checked (the runtime writes them; network ones the daemon writes). */
  sysctls?: Record<string, string>;
  /** json-file's --log-opt max-size (bytes) and max-file, checked; absent: the log is never rotated. */
  logRotation?: LogRotation;
}

export interface LogRotation {
  maxSize: number;
  maxFile: number;
}
