/** /_ping, /version, /info. */
import { cpus, hostname, release, totalmem } from 'node:os';
import type { Engine } from '../../engine/engine.js';
import type { AddressPoolSpec } from '../../ipam/index.js';
import { cgroupVersion, hostCapacity } from '../../runtime/cgroups.js';
import type { RuntimeSet } from '../../runtime/oci-runtimes.js';
import { runtimesToWire } from '../wire/runtimes.js';
import { sendJson, type Router } from '../http.js';
import { API_VERSION, ENGINE_VERSION, MIN_API_VERSION } from '../version.js';

export interface SystemInfoSource {
  dataRoot: string;
  daemonId: string;
  containerCounts: () => { total: number; running: number; paused: number; stopped: number };
  imageCount: () => number;
  /** What the daemon's configuration puts in force now (a reload may change it). */
  settings: () => { labels: string[]; liveRestore: boolean; debug: boolean; defaultAddressPools: AddressPoolSpec[] };
  /** The OCI runtimes containers may ask for, and the default. */
  runtimes: RuntimeSet;
}

export function addSystemRoutes(router: Router, engine: Engine, source: SystemInfoSource): void {
  router.add('GET', '/_ping', (request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache' });
    response.end(request.method === 'HEAD' ? undefined : 'OK');
  });

  router.add('GET', '/version', (_request, response) => {
    const details = {
      ApiVersion: API_VERSION,
      Arch: 'amd64',
      GitCommit: 'skiff',
      GoVersion: process.version,
      KernelVersion: release(),
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
      BuildTime: '',
    };
    sendJson(response, 200, {
      Platform: { Name: 'skiff' },
      Components: [{ Name: 'Engine', Version: ENGINE_VERSION, Details: details }],
      Version: ENGINE_VERSION,
      ...details,
    });
  });

  router.add('GET', '/info', (_request, response) => {
    const counts = source.containerCounts();
    const settings = source.settings();
    sendJson(response, 200, {
      ID: source.daemonId,
      Containers: counts.total,
      ContainersRunning: counts.running,
      ContainersPaused: counts.paused,
      ContainersStopped: counts.stopped,
      Images: source.imageCount(),
      Driver: 'overlay',
      DriverStatus: [],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'macvlan', 'null'], Authorization: null, Log: ['json-file'] },
      MemoryLimit: true,
      SwapLimit: hostCapacity().swapLimit,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      // What the 20.10 CLI warns about when false ("bridge-nf-call-iptables is disabled"): that ICC and
      // isolation go unenforced within a bridge. skiff enforces them without it (firewall/bridge-netfilter.ts),
      // so there is nothing to warn of, whatever the sysctl says.
      BridgeNfIptables: true,
      BridgeNfIp6tables: true,
      Debug: settings.debug,
      NFd: 0,
      OomKillDisable: false,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: String(cgroupVersion()),
      NEventsListener: 0,
      KernelVersion: release(),
      OperatingSystem: 'skiff',
      OSVersion: '',
      OSType: 'linux',
      Architecture: 'x86_64',
      IndexServerAddress: '',
      RegistryConfig: null,
      NCPU: cpus().length,
      MemTotal: totalmem(),
      GenericResources: null,
      DockerRootDir: source.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: hostname(),
      Labels: settings.labels,
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: runtimesToWire(source.runtimes),
      DefaultRuntime: source.runtimes.defaultName,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: settings.liveRestore,
      Isolation: '',
      InitBinary: '',
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: '', Expected: '' },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: [],
      Warnings: [],
      // Only pools the configuration names, as dockerd (Docker's own defaults are not listed).
      DefaultAddressPools: settings.defaultAddressPools.map((pool) => ({ Base: pool.base, Size: pool.size })),
      NetworkCount: engine.listNetworks().length,
    });
  });
}
