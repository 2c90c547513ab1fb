/**
 * Container options skiff does not carry out, refused by name instead of
 * accepted and dropped. Clients send many fields at their zero value (the
 * docker CLI sends every HostConfig field; compose sends empty lists): only a
 * value that asks for something is refused.
 */
import { invalid } from '../../errors.js';
import { RESOURCE_FIELDS } from './resources.js';

type Body = Record<string, unknown>;

/** HostConfig fields skiff acts on (or whose only accepted value is what skiff does anyway, checked below). */
const HOST_CONFIG_CARRIED_OUT = new Set([
  'NetworkMode',
  'Dns',
  'DnsSearch',
  'DnsOptions',
  'ExtraHosts',
  'Links',
  'AutoRemove',
  'PortBindings',
  'PublishAllPorts',
  'RestartPolicy',
  'LogConfig',
  'ConsoleSize',
  'Isolation',
  'MemorySwappiness',
  'Binds',
  'Mounts',
  'Tmpfs',
  'VolumesFrom',
  'Runtime',
  'Sysctls',
  ...RESOURCE_FIELDS,
]);

/** Config fields skiff acts on, or that describe the client's streams rather than the container. */
const CONFIG_CARRIED_OUT = new Set([
  'Image',
  'Cmd',
  'Entrypoint',
  'Env',
  'Hostname',
  'Domainname',
  'WorkingDir',
  'Tty',
  'OpenStdin',
  'StdinOnce',
  'Labels',
  'ExposedPorts',
  'MacAddress',
  'AttachStdin',
  'AttachStdout',
  'AttachStderr',
  'ArgsEscaped',
  'HostConfig',
  'NetworkingConfig',
  'Volumes',
  'User',
  'StopSignal',
  'OnBuild',
  'Shell',
  // dockerode repeats the container's name in the body; the query's name is the one used, as by dockerd.
  'name',
]);

/** The docker CLI's flag for a field, so the message names what the user typed. */
const FLAGS: Record<string, string> = {
  MemorySwappiness: '--memory-swappiness',
  KernelMemory: '--kernel-memory',
  CpuRealtimePeriod: '--cpu-rt-period',
  CpuRealtimeRuntime: '--cpu-rt-runtime',
  BlkioWeight: '--blkio-weight',
  BlkioWeightDevice: '--blkio-weight-device',
  BlkioDeviceReadBps: '--device-read-bps',
  BlkioDeviceWriteBps: '--device-write-bps',
  BlkioDeviceReadIOps: '--device-read-iops',
  BlkioDeviceWriteIOps: '--device-write-iops',
  Devices: '--device',
  DeviceRequests: '--gpus',
  DeviceCgroupRules: '--device-cgroup-rule',
  Binds: '-v/--volume',
  Mounts: '--mount',
  Volumes: '-v/--volume',
  Privileged: '--privileged',
  CapAdd: '--cap-add',
  CapDrop: '--cap-drop',
  SecurityOpt: '--security-opt',
  Ulimits: '--ulimit',
  ShmSize: '--shm-size',
  Init: '--init',
  PidMode: '--pid',
  IpcMode: '--ipc',
  UTSMode: '--uts',
  UsernsMode: '--userns',
  CgroupParent: '--cgroup-parent',
  ReadonlyRootfs: '--read-only',
  OomKillDisable: '--oom-kill-disable',
  OomScoreAdj: '--oom-score-adj',
  GroupAdd: '--group-add',
  Healthcheck: '--health-cmd',
  StopTimeout: '--stop-timeout',
  NetworkDisabled: '--network none',
};

/** Null, false, 0, '', and lists or objects holding only such: a field the client did not really set. */
function isZero(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.every(isZero);
  if (typeof value === 'object') return Object.values(value as Body).every(isZero);
  return false;
}

/**
 * Volumes ({"/data": {}}) is a map whose keys are what it asks for. A
 * Healthcheck whose test is ["NONE"] (--no-healthcheck, compose's `disable:
 * true`) asks for no check, which is what skiff does.
 */
function asks(field: string, value: unknown): boolean {
  if (field === 'Volumes') return value !== null && typeof value === 'object' && Object.keys(value).length > 0;
  if (field === 'Healthcheck') {
    const test = (value as Body | null)?.['Test'];
    if (Array.isArray(test) && test.length === 1 && test[0] === 'NONE') return false;
  }
  return !isZero(value);
}

function refuse(section: string, field: string, why: string): never {
  const flag = FLAGS[field];
  throw invalid(`skiff does not support ${section}.${field}${flag === undefined ? '' : ` (${flag})`}: ${why}`);
}

const reasonFor = (field: string): string => {
  if (/^(Memory|Cpu|Nano|Blkio|Pids|Oom|Kernel|IOMaximum|ShmSize|Ulimits)/.test(field))
    return 'of the resource limits skiff carries out only --memory, --memory-swap, --memory-reservation, --cpus, --cpu-shares, --cpu-period, --cpu-quota, --cpuset-cpus, --cpuset-mems and --pids-limit';
  if (/^Device/.test(field)) return 'skiff gives containers no host devices';
  return 'not carried out by skiff';
};

/** Throws a 400 naming the first option of a create request that skiff would otherwise drop. */
export function refuseUnsupported(body: Body, host: Body): void {
  for (const [field, value] of Object.entries(host)) {
    if (HOST_CONFIG_CARRIED_OUT.has(field) || !asks(field, value)) continue;
    refuse('HostConfig', field, reasonFor(field));
  }
  const logType = (host['LogConfig'] as Body | undefined)?.['Type'];
  if (typeof logType === 'string' && logType !== '' && logType !== 'json-file')
    throw invalid(`skiff does not support HostConfig.LogConfig (--log-driver ${logType}): logs are kept as json-file`);
  const isolation = host['Isolation'];
  if (typeof isolation === 'string' && isolation !== '' && isolation !== 'default')
    throw invalid(`skiff does not support HostConfig.Isolation (--isolation ${isolation}): Linux containers have the default isolation only`);
  const swappiness = host['MemorySwappiness'];
  if (typeof swappiness === 'number' && swappiness !== -1) refuse('HostConfig', 'MemorySwappiness', reasonFor('Memory'));
  for (const [field, value] of Object.entries(body)) {
    if (CONFIG_CARRIED_OUT.has(field) || !asks(field, value)) continue;
    refuse('Config', field, reasonFor(field));
  }
  const user = body['User'];
  if (typeof user === 'string' && !['', 'root', '0', '0:0', 'root:root'].includes(user))
    throw invalid(`skiff does not support Config.User (-u/--user ${user}): processes run as root`);
  const stopSignal = body['StopSignal'];
  if (typeof stopSignal === 'string' && !['', 'SIGTERM', 'TERM', '15'].includes(stopSignal))
    throw invalid(`skiff does not support Config.StopSignal (--stop-signal ${stopSignal}): docker stop sends SIGTERM`);
  const shell = body['Shell'];
  if (Array.isArray(shell) && shell.length > 0 && !(shell.length === 2 && shell[0] === '/bin/sh' && shell[1] === '-c'))
    throw invalid('skiff does not support Config.Shell: only /bin/sh -c');
}

/** docker update: the restart policy and the limits skiff carries out; another resource it asks to change is refused by name. */
export function refuseUnsupportedUpdate(body: Body): void {
  for (const [field, value] of Object.entries(body)) {
    if (field === 'RestartPolicy' || RESOURCE_FIELDS.includes(field) || isZero(value)) continue;
    refuse('HostConfig', field, reasonFor(field));
  }
}
