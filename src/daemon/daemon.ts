/**
 * The daemon: opens the engine (which reconciles the kernel with the store),
 * mounts the API routes and listens on the socket.
 */
import type { Server } from 'node:http';
import { Engine, type EngineOptions } from '../engine/engine.js';
import { Router } from '../api/http.js';
import { createApiServer, listenUnix } from '../api/server.js';
import { addNetworkRoutes } from '../api/routes/networks.js';
import { addSystemRoutes } from '../api/routes/system.js';
import { addContainerRoutes } from '../api/routes/containers.js';
import { addImageRoutes } from '../api/routes/images.js';
import { addEventRoutes } from '../api/routes/events.js';
import { Containers } from '../engine/containers.js';
import { ContainerRuntime } from '../runtime/containers.js';
import { ImageStore } from '../runtime/images.js';
import { NameService } from '../engine/name-service.js';
import { PublishedPorts } from '../engine/published-ports.js';
import { readFileSync } from 'node:fs';

/**
 * Where the embedded DNS forwards: the daemon's --dns, else the host's
 * resolv.conf without loopback servers (they are not reachable from the
 * containers' point of view), as Docker does.
 */
function daemonUpstreams(dnsServers: string[]): string[] {
  if (dnsServers.length > 0) return dnsServers;
  let text = '';
  try { text = readFileSync('/etc/resolv.conf', 'utf8'); } catch { return []; }
  return text.split('\n').map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1]).filter((server): server is string => server !== undefined && !server.startsWith('127.') && server !== '::1');
}

export interface DaemonOptions extends EngineOptions {
  socketPath: string;
}

export class Daemon {
  private constructor(
    readonly engine: Engine,
    private readonly server: Server,
    readonly socketPath: string,
    private readonly parts: { names: NameService; runtime: ContainerRuntime; ports: PublishedPorts },
  ) {}

  static async start(options: DaemonOptions): Promise<Daemon> {
    const log = options.log ?? ((message: string) => process.stderr.write(`skiff: ${message}\n`));
    const engine = await Engine.open({ ...options, log });
    const runtime = new ContainerRuntime({ dataRoot: options.dataRoot, execRoot: options.execRoot, log });
    const images = new ImageStore(options.dataRoot);
    const names = new NameService(daemonUpstreams(options.dnsServers ?? []), log);
    engine.onNetworkRemoved((network) => names.networkRemoved(network.id));
    const ports = new PublishedPorts(engine.firewallTable, options.defaultBridge?.hostBindingIpv4 ?? '0.0.0.0');
    engine.setPortSource(() => ports.firewallPorts());
    const containers = new Containers(engine, runtime, images, names, ports, { dataRoot: options.dataRoot, dnsServers: options.dnsServers ?? [], log });
    await containers.restore();
    // The table was rendered before the running containers' ports were known.
    await engine.applyWholeFirewall();
    const router = new Router();
    addSystemRoutes(router, engine, {
      dataRoot: options.dataRoot,
      daemonId: engine.daemonId,
      containerCounts: () => {
        const all = containers.list();
        const running = all.filter((record) => record.state.status === 'running').length;
        return { total: all.length, running, paused: 0, stopped: all.length - running };
      },
      imageCount: () => images.list().length,
    });
    addNetworkRoutes(router, engine);
    addImageRoutes(router, images);
    addEventRoutes(router, engine.events);
    const upgrade = addContainerRoutes(router, containers, runtime, log);
    const server = createApiServer(router, log, [upgrade]);
    await listenUnix(server, options.socketPath);
    return new Daemon(engine, server, options.socketPath, { names, runtime, ports });
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Idle keep-alive connections and followers of /events would hold close() open.
    this.server.closeAllConnections();
    await closed;
    await this.parts.names.close();
    this.parts.runtime.close();
    this.parts.ports.close();
    this.engine.close();
  }
}
