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
import { Containers } from '../containers/controller.js';
import { ContainerRuntime } from '../runtime/containers.js';
import { ImageStore } from '../runtime/images.js';

export interface DaemonOptions extends EngineOptions {
  socketPath: string;
}

export class Daemon {
  private constructor(
    readonly engine: Engine,
    private readonly server: Server,
    readonly socketPath: string,
    private readonly runtime: ContainerRuntime,
  ) {}

  static async start(options: DaemonOptions): Promise<Daemon> {
    const log = options.log ?? ((message: string) => process.stderr.write(`skiff: ${message}\n`));
    const engine = await Engine.open({ ...options, log });
    const runtime = new ContainerRuntime({ dataRoot: options.dataRoot, execRoot: options.execRoot, log });
    const images = new ImageStore(options.dataRoot);
    const containers = new Containers(engine, runtime, images, { dataRoot: options.dataRoot, dnsServers: options.dnsServers ?? [], log });
    await containers.restore();
    const router = new Router();
    addSystemRoutes(router, engine, {
      dataRoot: options.dataRoot,
      daemonId: engine.daemonId,
      containerCounts: () => {
        const all = containers.all();
        const running = all.filter((record) => record.state.status === 'running').length;
        return { total: all.length, running, paused: 0, stopped: all.length - running };
      },
      imageCount: () => images.list().length,
    });
    addNetworkRoutes(router, engine);
    addImageRoutes(router, images);
    addEventRoutes(router, engine.events);
    const upgrade = addContainerRoutes(router, containers, log);
    const server = createApiServer(router, log, [upgrade]);
    await listenUnix(server, options.socketPath);
    return new Daemon(engine, server, options.socketPath, runtime);
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Idle keep-alive connections and followers of /events would hold close() open.
    this.server.closeAllConnections();
    await closed;
    this.runtime.close();
    await this.engine.close();
  }
}
