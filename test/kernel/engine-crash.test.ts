/**
 * SIGKILL in the middle of create/join/leave/delete, then restart: the store
 * and the kernel agree, no leaked veth or namespace, no address given twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/engine/engine.js';
import { listLinks, SKIFF_LINK_ALIAS } from '../../src/kernel/links.js';
import { isMountPoint, listNetnsFiles } from '../../src/kernel/netns.js';
import { deleteTable } from '../../src/firewall/index.js';
import { assertInWorld, leftovers, scratchDir, sh } from '../helpers/world.js';
import { cidrOf } from '../../src/model/address.js';

assertInWorld();

const churnScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'churn.js');

async function runAndKill(dataRoot: string, execRoot: string, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, [churnScript, dataRoot, execRoot], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`churn exited early with ${code}`)));
  });
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function assertConsistent(engine: Engine, netnsDir: string): Promise<void> {
  const links = await listLinks();
  const linkNames = new Set(links.map((link) => link.ifname));
  const owned = new Set<string>();
  for (const network of engine.listNetworks()) {
    if (network.bridge === undefined) continue;
    assert.ok(linkNames.has(network.bridge.bridgeName), `bridge of ${network.name} exists`);
    owned.add(network.bridge.bridgeName);
  }
  const addresses = new Set<string>();
  for (const sandbox of engine.listSandboxes()) {
    assert.ok(isMountPoint(sandbox.netnsPath), `namespace of sandbox ${sandbox.id} is mounted`);
    const inside = JSON.parse(await sh('nsenter', [`--net=${sandbox.netnsPath}`, 'ip', '-json', 'addr'])) as Array<{
      ifname: string;
      addr_info: Array<{ local: string; prefixlen: number; family: string }>;
    }>;
    for (const endpoint of engine.endpointsOfSandbox(sandbox.id)) {
      assert.ok(linkNames.has(endpoint.hostIfName), `veth ${endpoint.hostIfName} of endpoint exists`);
      owned.add(endpoint.hostIfName);
      const iface = inside.find((candidate) => candidate.ifname === endpoint.ifName);
      assert.ok(iface, `${endpoint.ifName} exists in the sandbox`);
      const ipv4 = endpoint.ipv4 === undefined ? undefined : cidrOf(endpoint.ipv4);
      assert.ok(
        iface.addr_info.some((a) => `${a.local}/${a.prefixlen}` === ipv4),
        `${endpoint.ifName} has ${ipv4}`,
      );
      const key = `${endpoint.networkId} ${ipv4}`;
      assert.ok(!addresses.has(key), `address ${ipv4} given once`);
      addresses.add(key);
    }
    assert.equal(inside.filter((i) => i.ifname !== 'lo').length, engine.endpointsOfSandbox(sandbox.id).length, 'no stray interface in the sandbox');
  }
  for (const link of links) {
    if (link.alias === SKIFF_LINK_ALIAS) assert.ok(owned.has(link.ifname), `link ${link.ifname} is owned`);
  }
  const known = new Set(engine.listSandboxes().map((sandbox) => sandbox.netnsPath));
  for (const path of await listNetnsFiles(netnsDir)) assert.ok(known.has(path), `namespace file ${path} is known`);
}

test('SIGKILL at many points of churn, then restart: consistent every time', async () => {
  const dir = scratchDir();
  const dataRoot = join(dir.path, 'data');
  const execRoot = join(dir.path, 'exec');
  try {
    for (const delayMs of [40, 130, 260, 410, 577, 800, 1100]) {
      await runAndKill(dataRoot, execRoot, delayMs);
      const engine = await Engine.open({ dataRoot, execRoot });
      try {
        await assertConsistent(engine, join(execRoot, 'netns'));
        // New allocations never collide with what survived.
        const churn = engine.listNetworks().find((network) => network.name.startsWith('churn'));
        if (churn !== undefined) {
          const sandbox = await engine.createSandbox();
          const endpoint = await engine.join(sandbox.id, churn.id, { name: 'probe' });
          const others = engine
            .endpointsOfNetwork(churn.id)
            .filter((e) => e.id !== endpoint.id)
            .map((e) => e.ipv4);
          assert.ok(!others.includes(endpoint.ipv4), 'a fresh address');
          await engine.deleteSandbox(sandbox.id);
        }
      } finally {
        await engine.close();
      }
    }
  } finally {
    const engine = await Engine.open({ dataRoot, execRoot });
    for (const sandbox of engine.listSandboxes()) await engine.deleteSandbox(sandbox.id);
    for (const network of engine.listNetworks()) if (network.name.startsWith('churn')) await engine.deleteNetwork(network.id);
    await engine.close();
    await sh('ip', ['link', 'del', 'skiff0']);
    await deleteTable('skiff');
    assert.deepEqual(await leftovers(dir.path), []);
    dir.remove();
  }
});

test("a restart isolates again an ICC-off network's ports that lost it (endpoints of an older skiff relied on br_netfilter)", async () => {
  const dir = scratchDir();
  const dataRoot = join(dir.path, 'data');
  const execRoot = join(dir.path, 'exec');
  const isolated = async (link: string) => {
    const [port] = JSON.parse(await sh('ip', ['-json', '-details', 'link', 'show', link])) as Array<{
      linkinfo?: { info_slave_data?: { isolated?: boolean } };
    }>;
    return port?.linkinfo?.info_slave_data?.isolated === true;
  };
  let engine = await Engine.open({ dataRoot, execRoot });
  try {
    await engine.createNetwork({ name: 'quiet', options: { 'com.docker.network.bridge.enable_icc': 'false' } });
    const sandbox = await engine.createSandbox();
    const endpoint = await engine.join(sandbox.id, 'quiet', { name: 'q' });
    assert.equal(await isolated(endpoint.hostIfName), true);
    await engine.close();
    await sh('bridge', ['link', 'set', 'dev', endpoint.hostIfName, 'isolated', 'off']);
    engine = await Engine.open({ dataRoot, execRoot });
    assert.equal(await isolated(endpoint.hostIfName), true);
    await engine.deleteSandbox(sandbox.id);
    await engine.deleteNetwork('quiet');
  } finally {
    await engine.close();
    await sh('ip', ['link', 'del', 'skiff0']);
    await deleteTable('skiff');
    assert.deepEqual(await leftovers(dir.path), []);
    dir.remove();
  }
});
