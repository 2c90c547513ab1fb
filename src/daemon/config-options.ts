/**
 * Every option of `skiff daemon`, once: its daemon.json key and flag (both
 * dockerd's names), its kind, its default, whether SIGHUP reloads it, and
 * the values skiff cannot honour yet with the reason why. The flags, the
 * file's keys, the conflict check and the reload all come from this table.
 */
import type { AddressPoolSpec } from '../ipam/index.js';
import type { RuntimeConfig } from '../runtime/oci-runtimes.js';
import type { LogFormat, LogLevel } from './logger.js';

/** The daemon's configuration in force (internal names; daemon.json's are in OPTIONS). */
export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  dns: string[];
  dnsOptions: string[];
  dnsSearch: string[];
  /** The default bridge's address and prefix; '' = the first free default pool. */
  bip: string;
  bridge: string;
  fixedCidr: string;
  fixedCidrV6: string;
  ipv6: boolean;
  mtu: number;
  icc: boolean;
  ip: string;
  ipForward: boolean;
  ipMasq: boolean;
  iptables: boolean;
  /** Keep net.bridge.bridge-nf-call-ip(6)tables on, as dockerd does (skiff turns them off by default: firewall/bridge-netfilter.ts). */
  bridgeNfCallIptables: boolean;
  userlandProxy: boolean;
  defaultAddressPools: AddressPoolSpec[];
  defaultGateway: string;
  defaultGatewayV6: string;
  liveRestore: boolean;
  debug: boolean;
  logLevel: LogLevel;
  logFormat: LogFormat;
  labels: string[];
  /** '' = crun when it can run containers on this host, else runc (decided at start). */
  defaultRuntime: string;
  runtimes: Record<string, RuntimeConfig>;
  clusterStore: string;
  clusterAdvertise: string;
  tls: boolean;
  tlsVerify: boolean;
  tlsCaCert: string;
  tlsCert: string;
  tlsKey: string;
  firewallTable: string;
  /** log-opts / --log-opt: json-file options every container gets unless it gives its own (checked at start). */
  logOpts: Record<string, string>;
}

export type OptionKind = 'string' | 'bool' | 'int' | 'list' | 'map' | 'pools' | 'runtimes';

export interface OptionSpec {
  field: keyof DaemonConfig;
  /** The daemon.json key. */
  key: string;
  /** The flag's long name; list options take one value per flag, as dockerd's (--label, "labels"). */
  flag: string;
  short?: string;
  kind: OptionKind;
  description: string;
  /** Applied by SIGHUP (what dockerd reloads, and what skiff can change live); the rest need a restart. */
  reloadable?: boolean;
  /** Why skiff cannot honour this value yet, or undefined when it can. */
  refuse?: (value: never) => string | undefined;
}

export const DEFAULT_SOCKET = 'unix:///run/skiff/skiff.sock';
export const DEFAULT_CONFIG_FILE = '/etc/skiff/daemon.json';

export const DEFAULT_CONFIG: Readonly<DaemonConfig> = Object.freeze({
  hosts: [DEFAULT_SOCKET],
  dataRoot: '/var/lib/skiff',
  execRoot: '/run/skiff',
  dns: [],
  dnsOptions: [],
  dnsSearch: [],
  bip: '',
  bridge: 'skiff0',
  fixedCidr: '',
  fixedCidrV6: '',
  ipv6: false,
  mtu: 1500,
  icc: true,
  ip: '0.0.0.0',
  ipForward: true,
  ipMasq: true,
  iptables: true,
  bridgeNfCallIptables: false,
  userlandProxy: true,
  defaultAddressPools: [],
  defaultGateway: '',
  defaultGatewayV6: '',
  // Containers outlive the daemon by design (each has its shim): skiff's default, unlike dockerd's.
  liveRestore: true,
  debug: false,
  logLevel: 'info',
  logFormat: 'text',
  labels: [],
  defaultRuntime: '',
  runtimes: {},
  clusterStore: '',
  clusterAdvertise: '',
  tls: false,
  tlsVerify: false,
  tlsCaCert: '',
  tlsCert: '',
  tlsKey: '',
  firewallTable: 'skiff',
  logOpts: {},
});

const nonEmpty = (why: string) => (value: string) => (value === '' ? undefined : why);

export const OPTIONS: readonly OptionSpec[] = [
  {
    field: 'hosts',
    key: 'hosts',
    flag: 'host',
    short: 'H',
    kind: 'list',
    description: `Daemon socket(s) to listen on: unix:///path, fd://, or tcp://ADDR:PORT with mutual TLS (default ${DEFAULT_SOCKET})`,
  },
  { field: 'dataRoot', key: 'data-root', flag: 'data-root', kind: 'string', description: 'Root directory of persistent state (default /var/lib/skiff)' },
  { field: 'execRoot', key: 'exec-root', flag: 'exec-root', kind: 'string', description: 'Root directory for execution state files (default /run/skiff)' },
  { field: 'dns', key: 'dns', flag: 'dns', kind: 'list', reloadable: true, description: 'DNS server for new containers and the embedded DNS forwarder' },
  { field: 'dnsOptions', key: 'dns-opts', flag: 'dns-opt', kind: 'list', reloadable: true, description: "DNS option for new containers' resolv.conf" },
  {
    field: 'dnsSearch',
    key: 'dns-search',
    flag: 'dns-search',
    kind: 'list',
    reloadable: true,
    description: "DNS search domain for new containers' resolv.conf",
  },
  {
    field: 'bip',
    key: 'bip',
    flag: 'bip',
    kind: 'string',
    description: 'Address and prefix of the default bridge (default: the first free default pool, 172.17.0.1/16)',
  },
  {
    field: 'bridge',
    key: 'bridge',
    flag: 'bridge',
    short: 'b',
    kind: 'string',
    description: 'Bridge device of the default network (default skiff0; none: no default bridge network)',
  },
  {
    field: 'fixedCidr',
    key: 'fixed-cidr',
    flag: 'fixed-cidr',
    kind: 'string',
    description: "Part of the default bridge's subnet that containers' addresses come from",
  },
  {
    field: 'fixedCidrV6',
    key: 'fixed-cidr-v6',
    flag: 'fixed-cidr-v6',
    kind: 'string',
    description: 'IPv6 subnet of the default bridge (with --ipv6)',
  },
  {
    field: 'ipv6',
    key: 'ipv6',
    flag: 'ipv6',
    kind: 'bool',
    description: 'IPv6 on the default bridge (needs --fixed-cidr-v6)',
  },
  { field: 'mtu', key: 'mtu', flag: 'mtu', kind: 'int', description: 'MTU of the default bridge network (default 1500)' },
  { field: 'icc', key: 'icc', flag: 'icc', kind: 'bool', description: 'Inter-container communication on the default bridge (default true)' },
  { field: 'ip', key: 'ip', flag: 'ip', kind: 'string', description: 'Default host address when publishing ports (default 0.0.0.0)' },
  { field: 'ipForward', key: 'ip-forward', flag: 'ip-forward', kind: 'bool', description: "Turn on the host's IPv4 forwarding (default true)" },
  { field: 'ipMasq', key: 'ip-masq', flag: 'ip-masq', kind: 'bool', description: "Masquerade the default bridge's outbound traffic (default true)" },
  {
    field: 'iptables',
    key: 'iptables',
    flag: 'iptables',
    kind: 'bool',
    description: "skiff's firewall (nftables); it cannot be turned off yet",
    refuse: (value: boolean) =>
      value ? undefined : "iptables=false: skiff's nftables table cannot be turned off yet (it isolates networks and publishes ports)",
  },
  {
    field: 'bridgeNfCallIptables',
    key: 'bridge-nf-call-iptables',
    flag: 'bridge-nf-call-iptables',
    kind: 'bool',
    description:
      "Keep the host's net.bridge.bridge-nf-call-ip(6)tables on, as dockerd does (default false: skiff turns them off, and on for each bridge it did not make, so traffic within a network skips the firewall; ICC off isolates the bridge's ports)",
  },
  // Accepted either way: skiff reaches published ports with nftables alone, as dockerd does with userland-proxy=false.
  {
    field: 'userlandProxy',
    key: 'userland-proxy',
    flag: 'userland-proxy',
    kind: 'bool',
    description: "Accepted; published ports are nftables DNAT (IPv6's [::1] and containers without IPv6 go through skiff's in-daemon relay)",
  },
  {
    field: 'defaultAddressPools',
    key: 'default-address-pools',
    flag: 'default-address-pool',
    kind: 'pools',
    reloadable: true,
    description: 'Default address pool for new networks: base=10.10.0.0/16,size=24 (repeatable)',
  },
  {
    field: 'defaultGateway',
    key: 'default-gateway',
    flag: 'default-gateway',
    kind: 'string',
    description: "Containers' default gateway on the default bridge (not supported yet)",
    refuse: nonEmpty("skiff cannot set containers' default gateway on the default bridge yet"),
  },
  {
    field: 'defaultGatewayV6',
    key: 'default-gateway-v6',
    flag: 'default-gateway-v6',
    kind: 'string',
    description: 'IPv6 default gateway on the default bridge (not supported yet)',
    refuse: nonEmpty("skiff cannot set containers' IPv6 default gateway on the default bridge yet"),
  },
  {
    field: 'liveRestore',
    key: 'live-restore',
    flag: 'live-restore',
    kind: 'bool',
    reloadable: true,
    description: 'Keep containers running while the daemon is down (default true; false stops them when the daemon stops)',
  },
  { field: 'debug', key: 'debug', flag: 'debug', short: 'D', kind: 'bool', reloadable: true, description: 'Debug mode: log level debug' },
  {
    field: 'logLevel',
    key: 'log-level',
    flag: 'log-level',
    short: 'l',
    kind: 'string',
    reloadable: true,
    description: 'Log level: debug, info, warn, error, fatal (default info)',
  },
  { field: 'logFormat', key: 'log-format', flag: 'log-format', kind: 'string', description: 'Log format: text or json (default text)' },
  { field: 'labels', key: 'labels', flag: 'label', kind: 'list', reloadable: true, description: 'Daemon label key=value (repeatable)' },
  {
    field: 'defaultRuntime',
    key: 'default-runtime',
    flag: 'default-runtime',
    kind: 'string',
    description: 'Default OCI runtime for containers (default crun if it can run containers on this host, else runc)',
  },
  {
    field: 'runtimes',
    key: 'runtimes',
    flag: 'add-runtime',
    kind: 'runtimes',
    description: 'Register an additional OCI runtime name=path (repeatable); containers choose one with --runtime',
  },
  {
    field: 'clusterStore',
    key: 'cluster-store',
    flag: 'cluster-store',
    kind: 'string',
    description: 'Cluster store for overlay networks: etcd://HOST:PORT[,HOST:PORT…]',
  },
  {
    field: 'clusterAdvertise',
    key: 'cluster-advertise',
    flag: 'cluster-advertise',
    kind: 'string',
    description: "This host's address in the cluster (its VXLAN endpoint): IP or interface[:PORT]",
  },
  // Mutual TLS only: a -H tcp:// host needs all of --tlsverify --tlscacert --tlscert --tlskey (checked in config.ts).
  { field: 'tls', key: 'tls', flag: 'tls', kind: 'bool', description: 'Use TLS; implied by --tlsverify, which skiff requires for tcp:// hosts' },
  {
    field: 'tlsVerify',
    key: 'tlsverify',
    flag: 'tlsverify',
    kind: 'bool',
    description: "Use TLS and verify clients' certificates (required for tcp:// hosts)",
  },
  { field: 'tlsCaCert', key: 'tlscacert', flag: 'tlscacert', kind: 'string', description: "CA certificate clients' certificates must be signed by" },
  { field: 'tlsCert', key: 'tlscert', flag: 'tlscert', kind: 'string', description: "Path to the server's TLS certificate" },
  { field: 'tlsKey', key: 'tlskey', flag: 'tlskey', kind: 'string', description: "Path to the server's TLS key" },
  {
    field: 'firewallTable',
    key: 'firewall-table',
    flag: 'firewall-table',
    kind: 'string',
    description: "Name of skiff's nftables table, inet family (default skiff)",
  },
  {
    field: 'logOpts',
    key: 'log-opts',
    flag: 'log-opt',
    kind: 'map',
    description: "Default json-file log option for containers KEY=VALUE (repeatable): max-size, max-file; a container's own --log-opt wins",
  },
];

/**
 * dockerd's own keys that skiff has no option for, with the one value that
 * says what skiff does anyway (accepted) and the reason any other value is
 * refused. A key dockerd does not know either gets dockerd's "unknown" error.
 */
export const DOCKERD_ONLY_KEYS: Readonly<Record<string, { accepts: (value: unknown) => boolean; why: string }>> = {
  'log-driver': { accepts: (value) => value === 'json-file', why: "containers' logs are json-file only" },
  'storage-driver': { accepts: (value) => value === 'overlay2' || value === 'overlay', why: 'images are root file systems under overlayfs' },
  'storage-opts': { accepts: isEmpty, why: 'storage options are not supported' },
  'registry-mirrors': { accepts: isEmpty, why: 'skiff has no registry: images come from docker import' },
  'insecure-registries': { accepts: isEmpty, why: 'skiff has no registry: images come from docker import' },
  'allow-nondistributable-artifacts': { accepts: isEmpty, why: 'skiff has no registry: images come from docker import' },
  'max-concurrent-downloads': { accepts: () => false, why: 'skiff has no registry: images come from docker import' },
  'max-concurrent-uploads': { accepts: () => false, why: 'skiff has no registry: images come from docker import' },
  experimental: { accepts: (value) => value === false, why: 'skiff has no experimental features' },
  ip6tables: { accepts: (value) => value === false, why: "skiff's nftables table is inet (both families) and has no separate IPv6 switch" },
  'exec-opts': {
    accepts: (value) => isEmpty(value) || (Array.isArray(value) && value.every((option) => option === 'native.cgroupdriver=cgroupfs')),
    why: "containers' cgroups are made by runc with the cgroupfs driver (native.cgroupdriver=cgroupfs is the only option)",
  },
  'cgroup-parent': { accepts: isEmpty, why: 'a cgroup parent is not supported yet' },
  'default-ulimits': { accepts: isEmpty, why: 'default ulimits are not supported yet' },
  'userns-remap': { accepts: isEmpty, why: 'user namespace remapping is not supported' },
  'selinux-enabled': { accepts: (value) => value === false, why: 'SELinux labels are not supported' },
  'userland-proxy-path': { accepts: isEmpty, why: 'skiff has no userland proxy' },
  'shutdown-timeout': { accepts: () => false, why: 'containers are stopped with a 10 s timeout' },
  group: { accepts: (value) => value === 'docker' || value === '', why: 'the socket belongs to group docker when it exists' },
  pidfile: { accepts: isEmpty, why: 'skiff writes no pid file (systemd tracks the daemon)' },
  'metrics-addr': { accepts: isEmpty, why: 'skiff has no metrics endpoint' },
  features: { accepts: isEmpty, why: 'skiff has no feature switches' },
  'cluster-store-opts': { accepts: isEmpty, why: 'the cluster store takes no options (no TLS to etcd yet)' },
};

function isEmpty(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (value !== null && typeof value === 'object') return Object.keys(value).length === 0;
  return value === '' || value === null;
}
