/**
 * The endpoint routes' daemon time (connect-routes.ts) alone, skiff against
 * dockerd, in a world of its own:
 *
 *   node dist/bench/connect-routes-bench.js [--rounds N] [--cli-rounds N]
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { openContainerWorld } from './container-world.js';
import { measureConnectRoutes, type ConnectRoutesOptions, type ConnectRoutesResult } from './connect-routes.js';
import { runStandalone } from './world.js';

const script = fileURLToPath(import.meta.url);
const phasesScript = join(dirname(script), 'network.js');
const OPTIONS_ENV = 'SKIFF_CONNECT_ROUTES_BENCH';

function optionsFrom(argv: readonly string[]): ConnectRoutesOptions {
  const value = (flag: string, fallback: number): number => {
    const index = argv.indexOf(flag);
    return index >= 0 ? Number(argv[index + 1]) : fallback;
  };
  return { rounds: value('--rounds', 50), cliRounds: value('--cli-rounds', 15) };
}

async function connectRoutesPhase(options: ConnectRoutesOptions): Promise<ConnectRoutesResult> {
  const world = await openContainerWorld(phasesScript, 'connect-routes', { withoutPodman: true, traceSkiff: true });
  try {
    for (const { docker } of world.sides) {
      await docker('network', 'create', 'route-a');
      await docker('network', 'create', 'route-b');
    }
    return await measureConnectRoutes(world.sides, options, 'route-a', 'route-b');
  } finally {
    await world.close();
  }
}

await runStandalone({ script, phase: 'connect-routes', timeoutMs: 20 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: connectRoutesPhase });
