/**
 * Phases "populate" and "teardown": the engine library opened on a stopped
 * skiff daemon's own data and exec roots, inside that daemon's namespace.
 * The daemon owns its engine while it runs, so the 200 endpoints for the
 * inspect benchmark are made here, between a stop and a start.
 */
import { execFileSync } from 'node:child_process';
import { Engine } from '../src/engine/engine.js';
import { deleteTable } from '../src/firewall/index.js';
import { assertInWorld } from './world.js';

function rootsFromEnv(): { dataRoot: string; execRoot: string } {
  const dataRoot = process.env['SKIFF_BENCH_DATA_ROOT'];
  const execRoot = process.env['SKIFF_BENCH_EXEC_ROOT'];
  if (dataRoot === undefined || execRoot === undefined) throw new Error("SKIFF_BENCH_DATA_ROOT and SKIFF_BENCH_EXEC_ROOT must name the stopped daemon's roots");
  return { dataRoot, execRoot };
}

/** Joins SKIFF_BENCH_COUNT new sandboxes to SKIFF_BENCH_NETWORK. */
export async function populatePhase(): Promise<{ endpoints: number }> {
  assertInWorld();
  const network = process.env['SKIFF_BENCH_NETWORK'] ?? '';
  const count = Math.min(Number(process.env['SKIFF_BENCH_COUNT'] ?? '0'), 2000);
  const engine = await Engine.open({ ...rootsFromEnv(), firewallTable: 'skiff' });
  try {
    for (let index = 0; index < count; index++) {
      const sandbox = await engine.createSandbox({ hostname: `crowd-${index}` });
      await engine.join(sandbox.id, network, { name: `crowd-${index}` });
    }
    return { endpoints: engine.endpointsOfNetwork(engine.getNetwork(network).id).length };
  } finally {
    await engine.close();
  }
}

/** Removes every sandbox and user network, the default bridge and skiff's table. */
export async function teardownPhase(): Promise<{ removedSandboxes: number }> {
  assertInWorld();
  const engine = await Engine.open({ ...rootsFromEnv(), firewallTable: 'skiff' });
  try {
    const sandboxes = engine.listSandboxes();
    for (const sandbox of sandboxes) await engine.deleteSandbox(sandbox.id);
    await engine.pruneNetworks();
    execFileSync('ip', ['link', 'del', 'skiff0']);
    await deleteTable('skiff');
    return { removedSandboxes: sandboxes.length };
  } finally {
    await engine.close();
  }
}
