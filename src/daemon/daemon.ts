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

export interface DaemonOptions extends EngineOptions {
  socketPath: string;
}

export class Daemon {
  private constructor(readonly engine: Engine, private readonly server: Server, readonly socketPath: string) {}

  static async start(options: DaemonOptions): Promise<Daemon> {
    const log = options.log ?? ((message: string) => process.stderr.write(`skiff: ${message}\n`));
    const engine = await Engine.open({ ...options, log });
    const router = new Router();
    addSystemRoutes(router, engine, {
      dataRoot: options.dataRoot,
      daemonId: engine.daemonId,
      containerCounts: () => ({ total: 0, running: 0, paused: 0, stopped: 0 }),
      imageCount: () => 0,
    });
    addNetworkRoutes(router, engine);
    const server = createApiServer(router, log);
    await listenUnix(server, options.socketPath);
    return new Daemon(engine, server, options.socketPath);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.engine.close();
  }
}
