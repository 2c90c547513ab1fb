/** Docker's container and exec JSON to and from skiff's container records: the one place these shapes are converted. */
import type { Containers } from '../../containers/controller.js';
import { argvOf } from '../../containers/decisions.js';
import type { ExecInstance, ExecSpec } from '../../containers/exec.js';
import { anonymousVolumes, checkDistinctTargets, checkMount, checkTmpfsPaths, parseBind, parseVolumesFrom } from '../../containers/mounts.js';
import { checkLogOptions } from '../../containers/log-options.js';
import { checkRestartPolicy } from '../../containers/restart-policy.js';
import { invalid } from '../../errors.js';
import type { ContainerRecord, CreateRequest, EndpointRequest, MountRequest, RestartPolicy } from '../../model/container.js';
import { optionalBool, optionalObject, optionalString, optionalStringArray, optionalStringMap } from './json-fields.js';
import { defaultGateways } from '../../engine/routes.js';
import { refuseUnsupported, refuseUnsupportedUpdate } from './unsupported.js';
import { resourcesFromWire, resourcesToWire, resourceUpdateFromWire } from './resources.js';
import type { ResourceUpdate } from '../../containers/limits.js';
import { exposedPortsFromWire, exposedPortsToWire, portBindingsToWire, portRequestsFromWire } from './ports.js';
import { MASKED_PATHS, READONLY_PATHS } from '../../runtime/oci-spec.js';

type Body = Record<string, unknown>;

function stringOrArray(body: Body, field: string): string[] | null {
  const value = body[field];
  if (typeof value === 'string') return [value];
  return optionalStringArray(body, field) ?? null;
}

/** EndpointSettings as a client gives them (create's EndpointsConfig, connect's EndpointConfig). */
function endpointRequestFromWire(body: Body | undefined): EndpointRequest {
  const ipam = body === undefined ? undefined : optionalObject(body, 'IPAMConfig');
  return {
    ipv4: (ipam && optionalString(ipam, 'IPv4Address')) || undefined,
    ipv6: (ipam && optionalString(ipam, 'IPv6Address')) || undefined,
    linkLocalIps: (ipam && optionalStringArray(ipam, 'LinkLocalIPs')) ?? [],
    aliases: (body && optionalStringArray(body, 'Aliases')) ?? [],
    links: (body && optionalStringArray(body, 'Links')) ?? [],
    driverOpts: (body && optionalStringMap(body, 'DriverOpts')) ?? null,
    macAddress: (body && optionalString(body, 'MacAddress')) ?? '',
  };
}

/** IPAMConfig as the client gave it: only the fields it set (Docker omits empty ones), null when it set none. */
function ipamConfigToWire(request: EndpointRequest): Body | null {
  const config: Body = {};
  if (request.ipv4) config['IPv4Address'] = request.ipv4;
  if (request.ipv6) config['IPv6Address'] = request.ipv6;
  if (request.linkLocalIps.length > 0) config['LinkLocalIPs'] = request.linkLocalIps;
  return Object.keys(config).length === 0 ? null : config;
}

/** --mount's TmpfsOptions ({SizeBytes, Mode}); undefined when not given. */
function tmpfsOptionsFromWire(mount: Body): { sizeBytes: number; mode: number } | undefined {
  const options = optionalObject(mount, 'TmpfsOptions');
  if (options === undefined) return undefined;
  const number = (key: string) => {
    const value = options[key];
    if (value !== undefined && value !== null && (typeof value !== 'number' || !Number.isInteger(value)))
      throw invalid(`json: cannot unmarshal TmpfsOptions.${key}: not an integer`);
    return typeof value === 'number' ? value : 0;
  };
  return { sizeBytes: number('SizeBytes'), mode: number('Mode') };
}

/** HostConfig.Binds, HostConfig.Mounts, then Config.Volumes where no other mount is, as one checked list. */
function mountsFromWire(body: Body, host: Body): MountRequest[] {
  const binds = (optionalStringArray(host, 'Binds') ?? []).map(parseBind);
  const given = host['Mounts'];
  if (given !== undefined && given !== null && !Array.isArray(given)) throw invalid('json: cannot unmarshal Mounts: not a list');
  const mounts = ((given ?? []) as unknown[]).map((entry) => {
    if (entry === null || typeof entry !== 'object') throw invalid('json: cannot unmarshal Mounts: an entry is not an object');
    const mount = entry as Body;
    const tmpfs = tmpfsOptionsFromWire(mount);
    return checkMount({
      type: optionalString(mount, 'Type') ?? '',
      source: optionalString(mount, 'Source') ?? '',
      target: optionalString(mount, 'Target') ?? '',
      readOnly: optionalBool(mount, 'ReadOnly') ?? false,
      ...(tmpfs === undefined ? {} : { tmpfs }),
    });
  });
  const explicit = [...binds, ...mounts];
  checkDistinctTargets(explicit);
  checkTmpfsPaths(optionalStringMap(host, 'Tmpfs') ?? {}, binds);
  return [...explicit, ...anonymousVolumes(Object.keys(optionalObject(body, 'Volumes') ?? {}), explicit)];
}

/** HostConfig.VolumesFrom as given, each entry checked (the containers it names are found at create). */
function volumesFromWire(host: Body): string[] {
  const specs = optionalStringArray(host, 'VolumesFrom') ?? [];
  for (const spec of specs) parseVolumesFrom(spec);
  return specs;
}

/** docker inspect's Mounts: what is mounted, as Docker shows binds, volumes and --mount tmpfs (--tmpfs is under HostConfig.Tmpfs only). */
function mountPointsToWire(containers: Containers, record: ContainerRecord): Body[] {
  return record.hostConfig.mounts.map((mount) => {
    if (mount.type === 'bind') return { Type: 'bind', Source: mount.source, Destination: mount.target, Mode: '', RW: !mount.readOnly, Propagation: 'rprivate' };
    if (mount.type === 'tmpfs') return { Type: 'tmpfs', Source: '', Destination: mount.target, Mode: '', RW: !mount.readOnly, Propagation: '' };
    return {
      Type: 'volume',
      Name: mount.source,
      Source: containers.volumes.dataPath(mount.source),
      Destination: mount.target,
      Driver: 'local',
      Mode: mount.createSource ? 'z' : '',
      RW: !mount.readOnly,
      Propagation: '',
    };
  });
}

/** HostConfig.Mounts: the --mount entries as given, empty fields left out as Docker leaves them (omitted without any). */
function mountsToWire(record: ContainerRecord): Body[] | undefined {
  // Anonymous volumes of Config.Volumes came from neither -v nor --mount: createSource false and source an id, target in Config.Volumes.
  const mounts = record.hostConfig.mounts.filter(
    (mount) => !mount.createSource && mount.copiedFrom === undefined && !record.config.volumes.includes(mount.target),
  );
  if (mounts.length === 0) return undefined;
  return mounts.map((mount) => {
    const tmpfs = mount.tmpfs === undefined ? undefined : { SizeBytes: mount.tmpfs.sizeBytes || undefined, Mode: mount.tmpfs.mode || undefined };
    return { Type: mount.type, Source: mount.source || undefined, Target: mount.target, ReadOnly: mount.readOnly || undefined, TmpfsOptions: tmpfs };
  });
}

/** HostConfig.RestartPolicy (create, docker update): absent is "no". */
export function restartPolicyFromWire(body: Body | undefined): RestartPolicy {
  if (body === undefined) return { name: 'no', maximumRetryCount: 0 };
  const count = body['MaximumRetryCount'];
  return checkRestartPolicy(optionalString(body, 'Name') ?? '', typeof count === 'number' ? count : 0);
}

/** HostConfig.LogConfig.Config (--log-opt) as given, checked as json-file's options. */
function logOptionsFromWire(host: Body): Record<string, string> {
  const options = optionalStringMap(optionalObject(host, 'LogConfig') ?? {}, 'Config') ?? {};
  checkLogOptions(options);
  return options;
}

export function containerCreateFromWire(body: Body, name: string | null): CreateRequest {
  const host = optionalObject(body, 'HostConfig') ?? {};
  refuseUnsupported(body, host);
  const networking = optionalObject(body, 'NetworkingConfig') ?? {};
  const endpointsConfig = optionalObject(networking, 'EndpointsConfig') ?? {};
  const endpoints: Record<string, EndpointRequest> = {};
  for (const [network, config] of Object.entries(endpointsConfig)) endpoints[network] = endpointRequestFromWire(config as Body | undefined);
  return {
    name: name ?? undefined,
    config: {
      image: optionalString(body, 'Image') ?? '',
      cmd: stringOrArray(body, 'Cmd'),
      entrypoint: stringOrArray(body, 'Entrypoint'),
      env: optionalStringArray(body, 'Env') ?? [],
      hostname: optionalString(body, 'Hostname') ?? '',
      domainname: optionalString(body, 'Domainname') ?? '',
      workingDir: optionalString(body, 'WorkingDir') ?? '',
      tty: optionalBool(body, 'Tty') ?? false,
      openStdin: optionalBool(body, 'OpenStdin') ?? false,
      labels: optionalStringMap(body, 'Labels') ?? {},
      exposedPorts: exposedPortsFromWire(optionalObject(body, 'ExposedPorts')),
      macAddress: optionalString(body, 'MacAddress') ?? '',
      attachStdin: optionalBool(body, 'AttachStdin') ?? false,
      attachStdout: optionalBool(body, 'AttachStdout') ?? false,
      attachStderr: optionalBool(body, 'AttachStderr') ?? false,
      volumes: Object.keys(optionalObject(body, 'Volumes') ?? {}),
    },
    hostConfig: {
      networkMode: optionalString(host, 'NetworkMode') ?? 'default',
      dns: optionalStringArray(host, 'Dns') ?? [],
      dnsSearch: optionalStringArray(host, 'DnsSearch') ?? [],
      dnsOptions: optionalStringArray(host, 'DnsOptions') ?? [],
      extraHosts: optionalStringArray(host, 'ExtraHosts') ?? [],
      links: optionalStringArray(host, 'Links') ?? [],
      autoRemove: optionalBool(host, 'AutoRemove') ?? false,
      portBindings: portRequestsFromWire(host['PortBindings']),
      publishAll: optionalBool(host, 'PublishAllPorts') ?? false,
      restartPolicy: restartPolicyFromWire(optionalObject(host, 'RestartPolicy')),
      binds: optionalStringArray(host, 'Binds') ?? [],
      mounts: mountsFromWire(body, host),
      tmpfs: optionalStringMap(host, 'Tmpfs') ?? {},
      volumesFrom: volumesFromWire(host),
      resources: resourcesFromWire(host),
      runtime: optionalString(host, 'Runtime') ?? '',
      sysctls: optionalStringMap(host, 'Sysctls') ?? {},
      logOptions: logOptionsFromWire(host),
    },
    endpoints,
  };
}

/** POST /containers/{id}/update: the restart policy to keep (undefined when the body sets none) and the limits it names. */
export function containerUpdateFromWire(body: Body): { policy: RestartPolicy | undefined; resources: ResourceUpdate } {
  refuseUnsupportedUpdate(body);
  const policy = optionalObject(body, 'RestartPolicy');
  return {
    policy: policy === undefined || policy['Name'] === undefined || policy['Name'] === '' ? undefined : restartPolicyFromWire(policy),
    resources: resourceUpdateFromWire(body),
  };
}

export function endpointRequestFromConnect(body: Body): { container: string; request: EndpointRequest; force: boolean } {
  return {
    container: optionalString(body, 'Container') ?? '',
    request: endpointRequestFromWire(optionalObject(body, 'EndpointConfig')),
    force: optionalBool(body, 'Force') ?? false,
  };
}

/** State / State.Status: paused and restarting are shown over running and exited, as Docker shows them. */
function stateName(containers: Containers, record: ContainerRecord): string {
  if (containers.isRestarting(record)) return 'restarting';
  return record.state.paused ? 'paused' : record.state.status;
}

function statusText(containers: Containers, record: ContainerRecord): string {
  const since = (time: string) => {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(time)) / 1000));
    if (seconds < 1) return 'Less than a second';
    if (seconds === 1) return '1 second';
    if (seconds < 60) return `${seconds} seconds`;
    const minutes = Math.round(seconds / 60);
    return minutes === 1 ? 'About a minute' : minutes < 60 ? `${minutes} minutes` : `${Math.round(minutes / 60)} hours`;
  };
  if (containers.isRestarting(record)) return `Restarting (${record.state.exitCode}) ${since(record.state.finishedAt)} ago`;
  if (record.state.status === 'running') return `Up ${since(record.state.startedAt)}${record.state.paused ? ' (Paused)' : ''}`;
  if (record.state.status === 'exited') return `Exited (${record.state.exitCode}) ${since(record.state.finishedAt)} ago`;
  return 'Created';
}

/**
 * HostConfig fields of options skiff refuses unless at their default, shown
 * with dockerd 20.10's values for a plain `docker create` (which are then
 * what every skiff container has): clients read some of them (docker-py's
 * attrs, templates), and a missing key is not a zero value to every client.
 */
const FIXED_HOST_CONFIG = {
  ContainerIDFile: '',
  VolumeDriver: '',
  CapAdd: null,
  CapDrop: null,
  CgroupnsMode: 'host',
  GroupAdd: null,
  IpcMode: 'private',
  Cgroup: '',
  OomScoreAdj: 0,
  PidMode: '',
  Privileged: false,
  ReadonlyRootfs: false,
  SecurityOpt: null,
  UTSMode: '',
  UsernsMode: '',
  ShmSize: 64 * 1024 * 1024,
  ConsoleSize: [0, 0],
  Isolation: '',
  CgroupParent: '',
  BlkioWeight: 0,
  BlkioWeightDevice: [],
  BlkioDeviceReadBps: [],
  BlkioDeviceWriteBps: [],
  BlkioDeviceReadIOps: [],
  BlkioDeviceWriteIOps: [],
  CpuRealtimePeriod: 0,
  CpuRealtimeRuntime: 0,
  Devices: [],
  DeviceCgroupRules: null,
  DeviceRequests: null,
  KernelMemory: 0,
  KernelMemoryTCP: 0,
  OomKillDisable: false,
  Ulimits: [],
  CpuCount: 0,
  CpuPercent: 0,
  IOMaximumIOps: 0,
  IOMaximumBandwidth: 0,
  MaskedPaths: MASKED_PATHS,
  ReadonlyPaths: READONLY_PATHS,
} as const;

/** A network entry without an endpoint, as dockerd shows one. */
const NO_ENDPOINT: Body = {
  IPAMConfig: null,
  Links: null,
  Aliases: null,
  NetworkID: '',
  EndpointID: '',
  Gateway: '',
  IPAddress: '',
  IPPrefixLen: 0,
  IPv6Gateway: '',
  GlobalIPv6Address: '',
  GlobalIPv6PrefixLen: 0,
  MacAddress: '',
  DriverOpts: null,
};

function networksWire(containers: Containers, record: ContainerRecord): Record<string, Body> {
  const networks: Record<string, Body> = {};
  const mode = record.hostConfig.networkMode;
  if (mode === 'host' || mode === 'none') networks[mode] = { ...NO_ENDPOINT };
  for (const { network, endpoint, request } of containers.networkOf(record)) {
    const v4Gateway = endpoint?.ipv4 === undefined ? undefined : defaultGateways(network.ipam.pools, [endpoint.ipv4])[0];
    const v6Gateway = endpoint?.ipv6 === undefined ? undefined : defaultGateways(network.ipam.pools, [endpoint.ipv6])[0];
    const userDefined = !network.bridge?.isDefaultBridge;
    networks[network.name] = {
      IPAMConfig: ipamConfigToWire(request),
      Links: request.links.length > 0 ? request.links : null,
      Aliases: userDefined ? [...request.aliases, record.id.slice(0, 12)] : null,
      NetworkID: network.id,
      EndpointID: endpoint?.id ?? '',
      Gateway: v4Gateway ?? '',
      IPAddress: endpoint?.ipv4?.address ?? '',
      IPPrefixLen: endpoint?.ipv4?.prefix ?? 0,
      IPv6Gateway: v6Gateway ?? '',
      GlobalIPv6Address: endpoint?.ipv6?.address ?? '',
      GlobalIPv6PrefixLen: endpoint?.ipv6?.prefix ?? 0,
      MacAddress: endpoint?.macAddress ?? request.macAddress,
      DriverOpts: request.driverOpts,
      DNSNames: userDefined && endpoint ? [record.name, record.id.slice(0, 12), ...request.aliases] : null,
    };
  }
  // dockerd -b none: the default mode names the bridge network there is not (dockerd shows it empty, without DNSNames).
  const defaultMode = mode === '' || mode === 'default' || mode === 'bridge';
  if (defaultMode && Object.keys(networks).length === 0) networks['bridge'] = { ...NO_ENDPOINT };
  return networks;
}

/** NetworkSettings.Ports: every exposed or published port, with its host bindings (null when not published). */
function portsToWire(containers: Containers, record: ContainerRecord): Record<string, Array<{ HostIp: string; HostPort: string }> | null> {
  if (record.state.status !== 'running') return {};
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  const exposed = [...(containers.imageConfig(record)?.exposedPorts ?? []), ...record.config.exposedPorts];
  for (const key of exposed) ports[key] = null;
  for (const binding of record.ports) {
    const key = `${binding.containerPort}/${binding.protocol}`;
    ports[key] = [...(ports[key] ?? []), { HostIp: binding.hostIp, HostPort: String(binding.hostPort) }];
  }
  return ports;
}

export function containerSummaryToWire(containers: Containers, record: ContainerRecord): Body {
  const image = containers.imageConfig(record);
  const argv = argvOf(record, image);
  return {
    Id: record.id,
    Names: [`/${record.name}`],
    Image: containers.listedImage(record),
    ImageID: record.imageId,
    Command: argv.join(' '),
    Created: Math.floor(Date.parse(record.created) / 1000),
    Ports: record.ports.map((binding) => ({ IP: binding.hostIp, PrivatePort: binding.containerPort, PublicPort: binding.hostPort, Type: binding.protocol })),
    Labels: record.config.labels,
    State: stateName(containers, record),
    Status: statusText(containers, record),
    HostConfig: { NetworkMode: record.hostConfig.networkMode },
    NetworkSettings: { Networks: networksWire(containers, record) },
    Mounts: mountPointsToWire(containers, record),
  };
}

/** HostConfig.Links as Docker shows its link graph: "/db:/web/alias"; null without links. */
function legacyLinksToWire(containers: Containers, record: ContainerRecord): string[] | null {
  const links = containers.legacyLinks(record).map(({ linked, alias }) => `/${linked.name}:/${record.name}/${alias}`);
  return links.length > 0 ? links : null;
}

export function containerToWire(containers: Containers, record: ContainerRecord): Body {
  const image = containers.imageConfig(record);
  const argv = argvOf(record, image);
  const networks = networksWire(containers, record);
  const bridge = Object.entries(networks).find(([name]) => name === 'bridge')?.[1];
  const files = containers.filesOf(record.id);
  const running = record.state.status === 'running';
  return {
    Id: record.id,
    Created: record.created,
    Path: argv[0] ?? '',
    Args: argv.slice(1),
    State: {
      Status: stateName(containers, record),
      Running: running,
      Paused: record.state.paused,
      Restarting: containers.isRestarting(record),
      OOMKilled: record.state.oomKilled,
      Dead: false,
      Pid: record.state.pid,
      ExitCode: record.state.exitCode,
      Error: record.state.error ?? '',
      StartedAt: record.state.startedAt,
      FinishedAt: record.state.finishedAt,
    },
    Image: record.imageId,
    ResolvConfPath: files.resolvConf,
    HostnamePath: files.hostname,
    HostsPath: files.hosts,
    LogPath: '',
    Name: `/${record.name}`,
    RestartCount: record.restartCount,
    Driver: 'overlay',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      ...FIXED_HOST_CONFIG,
      NetworkMode: record.hostConfig.networkMode,
      PortBindings: portBindingsToWire(record.hostConfig.portBindings),
      PublishAllPorts: record.hostConfig.publishAll,
      AutoRemove: record.hostConfig.autoRemove,
      Dns: record.hostConfig.dns,
      DnsSearch: record.hostConfig.dnsSearch,
      DnsOptions: record.hostConfig.dnsOptions,
      ExtraHosts: record.hostConfig.extraHosts.length > 0 ? record.hostConfig.extraHosts : null,
      Links: legacyLinksToWire(containers, record),
      // Logs are kept as json-file, as Docker's default; docker-py's containers.run reads this to decide how to get them.
      // Go's JSON writes a map's keys sorted.
      LogConfig: {
        Type: 'json-file',
        Config: Object.fromEntries(Object.entries(record.hostConfig.logOptions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      },
      Binds: record.hostConfig.binds.length > 0 ? record.hostConfig.binds : null,
      Mounts: mountsToWire(record),
      Tmpfs: Object.keys(record.hostConfig.tmpfs).length > 0 ? record.hostConfig.tmpfs : undefined,
      VolumesFrom: record.hostConfig.volumesFrom.length > 0 ? record.hostConfig.volumesFrom : null,
      RestartPolicy: { Name: record.hostConfig.restartPolicy.name, MaximumRetryCount: record.hostConfig.restartPolicy.maximumRetryCount },
      Runtime: record.hostConfig.runtime,
      Sysctls: Object.keys(record.hostConfig.sysctls).length > 0 ? record.hostConfig.sysctls : undefined,
      ...resourcesToWire(record.hostConfig.resources),
    },
    Mounts: mountPointsToWire(containers, record),
    Config: {
      Hostname: record.config.hostname,
      Domainname: record.config.domainname,
      User: '',
      AttachStdin: record.config.attachStdin,
      AttachStdout: record.config.attachStdout,
      AttachStderr: record.config.attachStderr,
      ExposedPorts: record.config.exposedPorts.length > 0 ? exposedPortsToWire(record.config.exposedPorts) : undefined,
      Tty: record.config.tty,
      OpenStdin: record.config.openStdin,
      StdinOnce: false,
      Env: record.config.env,
      Cmd: record.config.cmd ?? image?.cmd ?? null,
      Image: record.config.image,
      Volumes: record.config.volumes.length > 0 ? Object.fromEntries(record.config.volumes.map((path) => [path, {}])) : null,
      WorkingDir: record.config.workingDir,
      Entrypoint: record.config.entrypoint ?? image?.entrypoint ?? null,
      OnBuild: null,
      Labels: record.config.labels,
    },
    NetworkSettings: {
      Bridge: '',
      SandboxID: record.sandboxId,
      HairpinMode: false,
      LinkLocalIPv6Address: '',
      LinkLocalIPv6PrefixLen: 0,
      Ports: portsToWire(containers, record),
      SandboxKey: containers.sandboxKey(record),
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: bridge?.['EndpointID'] ?? '',
      Gateway: bridge?.['Gateway'] ?? '',
      GlobalIPv6Address: bridge?.['GlobalIPv6Address'] ?? '',
      GlobalIPv6PrefixLen: bridge?.['GlobalIPv6PrefixLen'] ?? 0,
      IPAddress: bridge?.['IPAddress'] ?? '',
      IPPrefixLen: bridge?.['IPPrefixLen'] ?? 0,
      IPv6Gateway: bridge?.['IPv6Gateway'] ?? '',
      MacAddress: bridge?.['MacAddress'] ?? '',
      Networks: networks,
    },
  };
}

export function execSpecFromWire(body: Body): ExecSpec {
  return {
    args: optionalStringArray(body, 'Cmd') ?? [],
    env: optionalStringArray(body, 'Env') ?? [],
    tty: optionalBool(body, 'Tty') ?? false,
    attachStdin: optionalBool(body, 'AttachStdin') ?? false,
    workingDir: optionalString(body, 'WorkingDir') ?? '',
  };
}

export function execInspectToWire(exec: ExecInstance): Body {
  return {
    ID: exec.id,
    Running: exec.running,
    ExitCode: exec.exitCode,
    ContainerID: exec.containerId,
    Pid: exec.pid,
    OpenStdin: false,
    OpenStdout: true,
    OpenStderr: true,
    ProcessConfig: { entrypoint: exec.args[0], arguments: exec.args.slice(1), tty: exec.tty, privileged: false, user: '' },
  };
}
