/**
 * The daemon: opens the engine (which reconciles the kernel with the store),
 * mounts the API routes and listens on its sockets. Holds the configuration
 * in force; reload() applies a new one's reloadable options (SIGHUP).
 */
import type { IncomingMessage, Server } from 'node:http';
import { Engine, NO_DEFAULT_BRIDGE } from '../engine/engine.js';
import { settleBridgeNetfilter } from '../firewall/bridge-netfilter.js';
import { Router } from '../api/http.js';
import { createApiServer, listenTcp, listenUnix } from '../api/server.js';
import { addNetworkRoutes } from '../api/routes/networks.js';
import { addSystemRoutes } from '../api/routes/system.js';
import { addContainerRoutes } from '../api/routes/containers.js';
import { addImageRoutes } from '../api/routes/images.js';
import { addVolumeRoutes } from '../api/routes/volumes.js';
import { addPruneRoutes } from '../api/routes/prune.js';
import { addNotImplementedRoutes } from '../api/routes/not-implemented.js';
import { addArchiveRoutes } from '../api/routes/archive.js';
import { addImageIoRoutes } from '../api/routes/image-io.js';
import { addSwarmRoutes } from '../api/routes/swarm.js';
import { addEventRoutes } from '../api/routes/events.js';
import { addTraceRoutes } from '../api/routes/trace.js';
import type { Tracer } from '../trace/tracer.js';
import type { UiAddress } from '../ui/address.js';
import { Containers } from '../containers/controller.js';
import { ContainerRuntime } from '../runtime/containers.js';
import { chooseRuntimes, findHostRuntimes } from '../runtime/oci-runtimes.js';
import { ImageStore } from '../runtime/images.js';
import { cidrWithin, DEFAULT_BRIDGE_SUBNET, parseCidr, pickDefaultPool } from '../ipam/index.js';
import { readHostNetworks, readInterfaceAddresses } from '../kernel/host-networks.js';
import { configChanges, ConfigError, reloadedConfig, type DaemonConfig } from './config.js';
import { describeListener, type Listener } from './listeners.js';
import { Logger } from './logger.js';
import { IdleCollector } from './idle-gc.js';

/**
 * The default bridge's subnet and address: --bip as given (its address is the
 * bridge's), else the first default pool — dockerd's default-address-pools
 * when set — that shadows none of the host's networks, as dockerd elects it.
 * A restart keeps the bridge's address (it is read back from the bridge); the
 * engine makes the default bridge again when these settings changed and no
 * container is on it.
 */
async function defaultBridgeAddressing(config: DaemonConfig): Promise<{ subnet: string; gateway?: string; ipRange?: string; subnet6?: string }> {
  // Checked here, before the engine touches anything: the planner would refuse them only after.
  const subnet6 = defaultBridgeIpv6Subnet(config);
  const addressing = { ...(await electDefaultBridgeSubnet(config)), ...(subnet6 === undefined ? {} : { subnet6 }) };
  if (config.fixedCidr === '') return addressing;
  if (!cidrWithin(parseCidr(config.fixedCidr), parseCidr(addressing.subnet))) {
    throw new ConfigError(`fixed-cidr ${config.fixedCidr} is not inside the default bridge's subnet ${addressing.subnet}`);
  }
  return { ...addressing, ipRange: config.fixedCidr };
}

/** --ipv6 with --fixed-cidr-v6: the default bridge's IPv6 subnet (dockerd 20.10 refuses --ipv6 alone, in these words). */
function defaultBridgeIpv6Subnet(config: DaemonConfig): string | undefined {
  if (!config.ipv6) return undefined;
  if (config.fixedCidrV6 === '') {
    throw new ConfigError(
      'Error initializing network controller: IPv6 is enabled for the default bridge, but no subnet is configured. Specify an IPv6 subnet using --fixed-cidr-v6',
    );
  }
  let subnet: ReturnType<typeof parseCidr>;
  try {
    subnet = parseCidr(config.fixedCidrV6);
  } catch (error) {
    throw new ConfigError(`fixed-cidr-v6: ${(error as Error).message}`);
  }
  if (subnet.family !== 6) throw new ConfigError(`fixed-cidr-v6: ${config.fixedCidrV6} is not an IPv6 subnet`);
  return subnet.text;
}

async function electDefaultBridgeSubnet(config: DaemonConfig): Promise<{ subnet: string; gateway?: string }> {
  if (config.bip !== '') {
    const address = config.bip.split('/')[0]!;
    const subnet = parseCidr(config.bip).text;
    // 172.17.0.0/16 names a network, not an address: the bridge then takes the first address, as before.
    return { subnet, gateway: address === subnet.split('/')[0] ? undefined : address };
  }
  // The bridge is already up (a restart): its address stands, as dockerd's ElectInterfaceAddresses keeps it.
  const [current] = await readInterfaceAddresses(config.bridge);
  if (current !== undefined) return { subnet: parseCidr(current).text, gateway: current.split('/')[0]! };
  const pools = config.defaultAddressPools.length > 0 ? config.defaultAddressPools : undefined;
  try {
    return { subnet: pickDefaultPool(await readHostNetworks(), 4, pools) };
  } catch (error) {
    if (pools !== undefined) throw new ConfigError(`default-address-pools: no pool is free for the default bridge: ${(error as Error).message}`);
    // Every default overlaps the host: 172.17.0.0/16, as before pools avoided the host.
    return { subnet: DEFAULT_BRIDGE_SUBNET };
  }
}

/** dockerd's --cluster-store / --cluster-advertise pair: both or neither. */
function clusterOptions(config: DaemonConfig): { url: string; advertise: string } | undefined {
  if (config.clusterStore === '' && config.clusterAdvertise === '') return undefined;
  if (config.clusterStore === '') throw new ConfigError('--cluster-advertise must be accompanied by --cluster-store configuration');
  if (config.clusterAdvertise === '')
    throw new ConfigError("--cluster-store needs --cluster-advertise: the address (or interface) other hosts send this host's VXLAN traffic to");
  return { url: config.clusterStore, advertise: config.clusterAdvertise };
}

/** The configuration in force, shared with the closures given to the engine and the routes. */
interface LiveConfig {
  config: DaemonConfig;
}

export class Daemon {
  /** API requests being answered, for the SIGUSR1 summary. */
  private readonly inFlight = new Set<IncomingMessage>();
  /** A full garbage collection once the daemon has been quiet a while after its start and after work (idle-gc.ts). */
  private readonly idleCollector: IdleCollector;
  /** What new containers' resolv.conf and the embedded DNS use; mutated by reload(). */
  private readonly containerDns: {
    dataRoot: string;
    dnsServers: string[];
    dnsSearch: string[];
    dnsOptions: string[];
    logOptions: Record<string, string>;
    log: (message: string) => void;
  };

  private constructor(
    readonly engine: Engine,
    private readonly servers: Server[],
    readonly listeners: Listener[],
    private readonly parts: { runtime: ContainerRuntime; containers: Containers },
    private readonly live: LiveConfig,
    private readonly logger: Logger,
    containerDns: Daemon['containerDns'],
  ) {
    this.containerDns = containerDns;
    this.idleCollector = new IdleCollector((message) => logger.warn(message));
    for (const server of servers) {
      server.on('request', (request: IncomingMessage) => {
        this.inFlight.add(request);
        this.idleCollector.touch();
        request.once('close', () => this.inFlight.delete(request));
      });
    }
  }

  /** options.ui: where the topology page listens (skiff daemon --ui); off when absent. */
  static async start(config: DaemonConfig, listeners: Listener[], logger: Logger, options: { ui?: UiAddress } = {}): Promise<Daemon> {
    const log = (message: string) => logger.warn(message);
    const live: LiveConfig = { config };
    // -b none: no default bridge network, as dockerd (containers without --network get a loopback only).
    const bridge = config.bridge === NO_DEFAULT_BRIDGE ? undefined : await defaultBridgeAddressing(config);
    const cluster = clusterOptions(config);
    const engine = await Engine.open({
      ...(cluster === undefined ? {} : { cluster }),
      dataRoot: config.dataRoot,
      execRoot: config.execRoot,
      firewallTable: config.firewallTable,
      dnsServers: config.dns,
      ipForward: config.ipForward,
      defaultAddressPools: () => live.config.defaultAddressPools,
      defaultBridge:
        bridge === undefined
          ? undefined
          : { bridgeName: config.bridge, ...bridge, hostBindingIpv4: config.ip, mtu: config.mtu, icc: config.icc, ipMasquerade: config.ipMasq },
      withoutDefaultBridge: bridge === undefined,
      log,
    });
    // Not fatal: ICC and isolation hold either way; only bridged traffic's speed depends on it.
    await settleBridgeNetfilter(config.bridgeNfCallIptables).then(
      (summary) => logger.info(summary),
      (error: unknown) =>
        logger.warn(`could not set net.bridge.bridge-nf-call-ip(6)tables: ${String(error)}; frames bridged within a network keep what the host gives them`),
    );
    const host = findHostRuntimes();
    const runtimes = chooseRuntimes(config, host);
    logger.info(`default OCI runtime ${runtimes.defaultName} (${runtimes.runtimes.get(runtimes.defaultName)!.path}): ${runtimes.why}`);
    const runtime = new ContainerRuntime({ dataRoot: config.dataRoot, execRoot: config.execRoot, log, runtimes });
    const images = new ImageStore(config.dataRoot);
    const containerDns = {
      dataRoot: config.dataRoot,
      dnsServers: [...config.dns],
      dnsSearch: [...config.dnsSearch],
      dnsOptions: [...config.dnsOptions],
      logOptions: { ...config.logOpts },
      log,
    };
    const containers = new Containers(engine, runtime, images, containerDns);
    await containers.restore();
    const router = new Router();
    addSystemRoutes(router, engine, {
      dataRoot: config.dataRoot,
      daemonId: engine.daemonId,
      containerCounts: () => {
        const all = containers.all();
        const up = all.filter((record) => record.state.status === 'running');
        const paused = up.filter((record) => record.state.paused).length;
        return { total: all.length, running: up.length - paused, paused, stopped: all.length - up.length };
      },
      imageCount: () => images.list().length,
      settings: () => {
        const current = live.config;
        return {
          labels: current.labels,
          liveRestore: current.liveRestore,
          debug: current.logLevel === 'debug',
          defaultAddressPools: current.defaultAddressPools,
        };
      },
      runtimes,
    });
    addNetworkRoutes(router, engine);
    addImageRoutes(router, images, containers);
    addEventRoutes(router, engine.events);
    let tracer: Tracer | undefined;
    addTraceRoutes(router, async () => (tracer ??= new (await import('../trace/tracer.js')).Tracer(engine, containers)));
    addSwarmRoutes(router);
    const upgrade = addContainerRoutes(router, containers, log);
    addVolumeRoutes(router, containers);
    addArchiveRoutes(router, containers, log);
    addImageIoRoutes(router, containers, images, config.dataRoot, log);
    addPruneRoutes(router, containers);
    addNotImplementedRoutes(router);
    const servers: Server[] = [];
    for (const listener of listeners) {
      const server = createApiServer(router, log, [upgrade], listener.kind === 'tcp' ? listener.tls : undefined);
      if (listener.kind === 'unix') await listenUnix(server, listener.path);
      else if (listener.kind === 'tcp') await listenTcp(server, listener.address, listener.port);
      else await listenFd(server, listener.fd);
      servers.push(server);
      logger.info(`API listen on ${describeListener(listener)}`);
    }
    if (options.ui !== undefined) {
      servers.push(await (await import('../ui/server.js')).startUiServer(options.ui, router, log));
      logger.info(`topology page on http://${options.ui.host.includes(':') ? `[${options.ui.host}]` : options.ui.host}:${options.ui.port}/`);
    }
    const daemon = new Daemon(engine, servers, listeners, { runtime, containers }, live, logger, containerDns);
    if (!config.liveRestore) await daemon.stopRunningContainers('live-restore is off: stopping containers left running by the last daemon');
    daemon.idleCollector.started();
    return daemon;
  }

  get configuration(): DaemonConfig {
    return this.live.config;
  }

  /**
   * Applies a new configuration's reloadable options (dockerd's SIGHUP) and
   * logs every change; changes to the others are logged as waiting for a restart.
   */
  reload(next: DaemonConfig): void {
    const changes = configChanges(this.live.config, next);
    const config = reloadedConfig(this.live.config, next);
    this.live.config = config;
    this.logger.setLevel(config.logLevel);
    this.containerDns.dnsServers = [...config.dns];
    this.containerDns.dnsSearch = [...config.dnsSearch];
    this.containerDns.dnsOptions = [...config.dnsOptions];
    this.engine.setDnsUpstreams(config.dns);
    if (changes.length === 0) this.logger.info('Reloaded configuration: nothing changed');
    for (const change of changes) {
      if (change.applied) this.logger.info(`Reloaded configuration: ${change.key}: ${change.from} -> ${change.to}`);
      else this.logger.warn(`Configuration: ${change.key} changed (${change.from} -> ${change.to}) but needs a daemon restart to take effect`);
    }
  }

  /** SIGUSR1: what the daemon holds, for the log (dockerd dumps goroutine stacks there; skiff has none to show). */
  stateSummary(): string[] {
    const networks = this.engine.listNetworks();
    const containers = this.parts.containers.all();
    const running = containers.filter((record) => record.state.status === 'running').length;
    const config = this.live.config;
    const lines = [
      `state: ${networks.length} networks, ${this.engine.listSandboxes().length} sandboxes, ${containers.length} containers (${running} running), ${this.inFlight.size} API requests in progress`,
      ...networks.map((network) => {
        const subnets = network.ipam.pools.map((pool) => pool.subnet).join(' ') || '-';
        return `network ${network.name} (${network.driver}, ${network.id.slice(0, 12)}): ${subnets}, ${this.engine.endpointsOfNetwork(network.id).length} endpoints`;
      }),
      ...[...this.inFlight].map((request) => `in progress: ${request.method ?? ''} ${request.url ?? ''}`),
      `configuration: live-restore ${String(config.liveRestore)}, log-level ${config.logLevel}, labels [${config.labels.join(' ')}], default-address-pools [${config.defaultAddressPools.map((pool) => `base=${pool.base},size=${pool.size}`).join(' ')}]`,
    ];
    return lines;
  }

  private async stopRunningContainers(why: string): Promise<void> {
    const running = this.parts.containers.all().filter((record) => record.state.status === 'running');
    if (running.length === 0) return;
    this.logger.info(`${why}: ${running.map((record) => record.name).join(', ')}`);
    await Promise.all(
      running.map((record) =>
        this.parts.containers.stop(record.id).catch((error: unknown) => {
          this.logger.error(`stopping container ${record.name}: ${error instanceof Error ? error.message : String(error)}`);
        }),
      ),
    );
  }

  async stop(): Promise<void> {
    // Without live restore, containers do not outlive the daemon (dockerd's default behaviour).
    if (!this.live.config.liveRestore) await this.stopRunningContainers('live-restore is off: stopping containers');
    await Promise.all(
      this.servers.map((server) => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Idle keep-alive connections and followers of /events would hold close() open.
        server.closeAllConnections();
        return closed;
      }),
    );
    this.idleCollector.stop();
    this.parts.runtime.close();
    await this.engine.close();
  }
}

/** Listens on a socket systemd passed (socket activation); the socket file, if any, is systemd's to keep. */
function listenFd(server: Server, fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
