/**
 * A workload for crash tests: opens the engine on the given roots and churns
 * networks, sandboxes, joins and leaves (bounded) until it is killed.
 *   node churn.js DATA_ROOT EXEC_ROOT
 */
import { Engine } from '../../src/engine/engine.js';

const [dataRoot, execRoot] = process.argv.slice(2) as [string, string];
const engine = await Engine.open({ dataRoot, execRoot });
process.stdout.write('ready\n');
for (let round = 0; round < 200; round++) {
  const name = `churn${round % 3}`;
  const existing = engine.listNetworks().find((network) => network.name === name);
  if (existing !== undefined) {
    for (const endpoint of engine.endpointsOfNetwork(existing.id)) await engine.deleteSandbox(endpoint.sandboxId).catch(() => undefined);
    await engine.deleteNetwork(existing.id);
  }
  await engine.createNetwork({ name });
  const sandboxes = await Promise.all([engine.createSandbox(), engine.createSandbox()]);
  for (const sandbox of sandboxes) await engine.join(sandbox.id, name, { name: `c${round}` });
  await engine.join(sandboxes[0].id, 'bridge', { name: `c${round}` });
  await engine.leave(sandboxes[0].id, name);
}
await engine.close();
