/**
 * The OCI runtime config (config.json) runc gets for a container: a pure
 * function of the container's process spec, shaped like Docker 20.10's
 * defaults (capabilities, mounts, masked paths) so programs behave as they do
 * under Docker.
 */
import { ociResources } from './oci-resources.js';
import type { ContainerProcessSpec } from './process-spec.js';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Docker's default capability set (moby oci/caps/defaults.go), NET_RAW included so ping works. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/**
 * The container's environment as Docker builds it: PATH (unless given),
 * HOSTNAME, TERM=xterm for a tty, then the caller's variables; a later
 * variable replaces an earlier one of the same name in its place.
 */
export function containerEnv(env: readonly string[], hostname: string, tty: boolean): string[] {
  const hasPath = env.some((entry) => entry.startsWith('PATH='));
  const ordered = [...(hasPath ? [] : [DEFAULT_PATH]), `HOSTNAME=${hostname}`, ...(tty ? ['TERM=xterm'] : []), ...env];
  const byName = new Map<string, string>();
  for (const entry of ordered) {
    const eq = entry.indexOf('=');
    byName.set(eq < 0 ? entry : entry.slice(0, eq), entry);
  }
  return [...byName.values()];
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

function bindMount(source: string, destination: string): OciMount {
  // Read-write, as Docker mounts the hosts/resolv.conf/hostname files it manages.
  return { destination, type: 'bind', source, options: ['rbind', 'rprivate'] };
}

/**
 * Docker's own mounts, then the user's (binds, then tmpfs, the shallower
 * paths first so that /data/sub lands on /data, as dockerd sorts them): a
 * default the user mounts over (a --tmpfs /dev/shm) is left out, as dockerd
 * leaves it.
 */
export function ociMounts(
  etcFiles: ContainerProcessSpec['etcFiles'],
  binds: ContainerProcessSpec['binds'] = [],
  tmpfs: NonNullable<ContainerProcessSpec['tmpfs']> = [],
): OciMount[] {
  const user: OciMount[] = [
    ...binds.map(({ source, destination, readOnly }) => ({ destination, type: 'bind', source, options: ['rbind', 'rprivate', readOnly ? 'ro' : 'rw'] })),
    ...tmpfs.map(({ destination, options }) => ({ destination, type: 'tmpfs', source: 'tmpfs', options })),
  ].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
  const defaults: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  ];
  const userPaths = new Set(user.map((mount) => mount.destination));
  return [
    ...defaults.filter((mount) => !userPaths.has(mount.destination)),
    bindMount(etcFiles.resolvConf, '/etc/resolv.conf'),
    bindMount(etcFiles.hostname, '/etc/hostname'),
    bindMount(etcFiles.hosts, '/etc/hosts'),
    // After Docker's own: a user's bind over /etc/hosts wins, as in Docker.
    ...user,
  ];
}

/** config.json for runc; rootfs is the bundle's `rootfs` directory (the overlay mount). */
export function ociSpec(spec: ContainerProcessSpec): Record<string, unknown> {
  const capabilities = [...DEFAULT_CAPABILITIES];
  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: spec.tty,
      user: { uid: 0, gid: 0 },
      args: spec.args,
      env: containerEnv(spec.env, spec.hostname, spec.tty),
      cwd: spec.cwd === '' ? '/' : spec.cwd,
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: spec.hostname,
    mounts: ociMounts(spec.etcFiles, spec.binds, spec.tmpfs),
    linux: {
      cgroupsPath: `/skiff/${spec.id}`,
      resources: { devices: [{ allow: false, access: 'rwm' }], ...ociResources(spec.resources) },
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ...(spec.netnsPath === null ? [] : [{ type: 'network', path: spec.netnsPath }]),
      ],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(spec.sysctls === undefined || Object.keys(spec.sysctls).length === 0 ? {} : { sysctl: spec.sysctls }),
    },
  };
}
