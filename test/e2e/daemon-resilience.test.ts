/**
 * A failure while serving one request, DNS question or event stays local:
 * the daemon keeps serving. Here with no uplink at all: the daemon forwards
 * to the world's resolv.conf servers, which have no route (the case that used
 * to end the daemon on the first outside lookup); malformed requests; and a
 * seeded chaos run of network and container operations with outside lookups
 * and SIGKILLs of the daemon at random moments.
 *
 * Replay a chaos run with SKIFF_CHAOS_SEED=N.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { assertInWorld, sh, tryRun, worldLinks } from '../helpers/world.js';
import { assertNeverFatal, importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { invariantViolations, runtimeContainers } from '../helpers/invariants.js';
import { seededRandom } from '../helpers/random.js';

assertInWorld();

/** Not routable from this world (it has no uplink): the "host's resolvers" of a laptop gone offline. */
const UNREACHABLE_RESOLVERS = ['192.0.2.1', '2001:db8::1'];

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon({ hostResolvers: UNREACHABLE_RESOLVERS });
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
});

function daemonAlive(): boolean {
  return daemon.process.exitCode === null && daemon.process.signalCode === null;
}

/** Raw bytes to the API socket; the reply's status line (or '' when the connection closed with none). */
function rawRequest(socketPath: string, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    socket.on('error', () => resolve(reply.split('\r\n')[0] ?? ''));
    socket.on('close', () => resolve(reply.split('\r\n')[0] ?? ''));
    socket.on('connect', () => socket.end(bytes));
  });
}

describe('a daemon with no way out', () => {
  it('answers an outside name with SERVFAIL and keeps running (nslookup example.com 127.0.0.11)', async () => {
    await daemon.ok('network', 'create', 'dn');
    await daemon.ok('run', '-d', '--name', 'q1', '--network', 'dn', 'busybox', 'sleep', '120');
    await daemon.ok('run', '-d', '--name', 'q2', '--network', 'dn', 'busybox', 'sleep', '120');
    for (let attempt = 0; attempt < 3; attempt++) {
      const lookup = await daemon.docker('exec', 'q1', 'nslookup', 'example.com', '127.0.0.11');
      assert.notEqual(lookup.code, 0);
      assert.match(lookup.stdout + lookup.stderr, /SERVFAIL|can't find/, lookup.stdout + lookup.stderr);
    }
    const ping = await daemon.docker('exec', 'q1', 'ping', '-c', '1', '-W', '2', 'outside.example');
    assert.notEqual(ping.code, 0, 'an outside name does not resolve');
    assert.ok(daemonAlive(), `the daemon is still running:\n${daemon.log()}`);
    const local = await daemon.docker('exec', 'q1', 'nslookup', 'q2', '127.0.0.11');
    assert.equal(local.code, 0, `local names still answer: ${local.stdout}${local.stderr}`);
    await daemon.ok('version');
    await daemon.ok('rm', '-f', 'q1', 'q2');
    await daemon.ok('network', 'rm', 'dn');
  });

  it('answers malformed requests with an error and keeps serving', async () => {
    const replies = [
      await rawRequest(daemon.socketPath, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'),
      await rawRequest(daemon.socketPath, 'GET /v1.41/containers/%E0%A4%A/json HTTP/1.1\r\nHost: x\r\n\r\n'),
      await rawRequest(
        daemon.socketPath,
        'POST /v1.41/networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{"Name":[',
      ),
      await rawRequest(daemon.socketPath, 'POST /v1.41/containers/%E0%A4%A/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n'),
      await rawRequest(daemon.socketPath, 'NOT HTTP AT ALL\r\n\r\n'),
    ];
    for (const status of replies.slice(0, 4)) assert.match(status, /^HTTP\/1\.1 4\d\d /, `a client error: ${replies.join(' | ')}`);
    assert.ok(daemonAlive(), `the daemon is still running:\n${daemon.log()}`);
    assert.equal((await daemon.http('GET', '/_ping')).body, 'OK');
  });
});

/**
 * The daemon SIGKILLs itself at one named point (src/failpoints.ts); the
 * restarted daemon must leave nothing of the cut-short operation behind.
 */
async function killedAt(point: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  daemon = await daemon.restart({ failpoints: [point] });
  const result = await daemon.docker(...args);
  await daemon.exited();
  assert.ok(daemon.log().includes(`failpoint ${point}: SIGKILL`), `the daemon died at ${point}:\n${daemon.log()}`);
  daemon = await daemon.restart({ failpoints: [] });
  return result;
}

async function assertConsistent(when: string): Promise<void> {
  assert.deepEqual(await invariantViolations(daemon, { reachability: true }), [], `${when}:\n${daemon.log()}`);
}

describe('a daemon killed at an exact point', () => {
  before(async () => {
    daemon = await daemon.restart({ failpoints: [] });
    // Three user networks on touching subnets (172.18/16 … beside the default bridge's 172.17/16): a
    // subnet between two neighbours is the one nft 1.0.6's get element misses.
    for (const name of ['kp0', 'kp1', 'kp2']) await daemon.ok('network', 'create', name);
    await daemon.ok('run', '-d', '--name', 'kp-peer', '--network', 'kp0', 'busybox', 'sleep', '600');
  });
  after(async () => {
    await daemon.docker('rm', '-f', 'kp-peer', 'kp-run');
    for (const name of ['kp0', 'kp1', 'kp2', 'kp-new']) await daemon.docker('network', 'rm', name);
  });

  it('diagnoses every network ok on touching subnets, before and after a clean restart', async () => {
    await assertConsistent('before a restart');
    daemon = await daemon.restart();
    await assertConsistent('after a clean restart');
  });

  for (const point of ['container-start:sandbox-made', 'container-start:networks-joined', 'container-start:runtime-created']) {
    it(`rolls back a docker run killed at ${point}: Created, no endpoint, no netns file, then starts`, async () => {
      const run = await killedAt(point, 'run', '-d', '--name', 'kp-run', '--network', 'kp1', '-p', '18080:80', 'busybox', 'sleep', '600');
      assert.notEqual(run.code, 0, 'the client saw its daemon go');
      assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}}', 'kp-run')).trim(), 'created');
      const members = JSON.parse(await daemon.ok('network', 'inspect', '-f', '{{json .Containers}}', 'kp1')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(members), [], 'the half-started container holds no endpoint');
      assert.deepEqual(
        runtimeContainers(daemon),
        (await daemon.ok('ps', '-q', '--no-trunc')).split('\n').filter(Boolean).sort(),
        'the runtime keeps only running containers',
      );
      await assertConsistent(`after the kill at ${point}`);
      await daemon.ok('start', 'kp-run');
      await daemon.ok('network', 'connect', 'kp0', 'kp-run');
      await assertConsistent(`after starting the rolled-back container (${point})`);
      await daemon.ok('rm', '-f', 'kp-run');
    });
  }

  it('rolls back a network create killed after its bridge and nft elements were made', async () => {
    const create = await killedAt('network-create:kernel-done', 'network', 'create', 'kp-new');
    assert.notEqual(create.code, 0);
    assert.equal((await daemon.docker('network', 'inspect', 'kp-new')).code, 1, 'the network is gone');
    assert.deepEqual((await worldLinks()).filter((link) => link.startsWith('br-')).length, 3, 'only kp0..kp2 have bridges');
    await assertConsistent('after the kill mid network create');
    await daemon.ok('network', 'create', 'kp-new');
    await daemon.ok('network', 'connect', 'kp-new', 'kp-peer');
    await assertConsistent('after creating it again');
    await daemon.ok('network', 'disconnect', 'kp-new', 'kp-peer');
  });

  it('rolls back a network connect killed after the veth was plumbed', async () => {
    const connect = await killedAt('endpoint-join:plumbed', 'network', 'connect', 'kp2', 'kp-peer');
    assert.notEqual(connect.code, 0);
    assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}}', 'kp-peer')).trim(), 'running', 'the container kept running');
    const members = JSON.parse(await daemon.ok('network', 'inspect', '-f', '{{json .Containers}}', 'kp2')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(members), []);
    await assertConsistent('after the kill mid connect');
    await daemon.ok('network', 'connect', 'kp2', 'kp-peer');
    await assertConsistent('after connecting again');
    await daemon.ok('network', 'disconnect', 'kp2', 'kp-peer');
  });
});

interface InspectedNetwork {
  Name: string;
  Containers: Record<string, { Name: string; IPv4Address: string }>;
}

describe('chaos: random operations, outside lookups and SIGKILLs', () => {
  const seed = Number(process.env['SKIFF_CHAOS_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  // The short run of the tests; `npm run chaos` sets these for the long one (scripts/chaos.sh).
  const count = (name: string, fallback: number) => Number(process.env[`SKIFF_CHAOS_${name}`] ?? fallback);
  const NETWORKS = Array.from({ length: count('NETWORKS', 3) }, (_, index) => `c${index}`);
  const CONTAINERS = Array.from({ length: count('CONTAINERS', 6) }, (_, index) => `k${index}`);
  const OPERATIONS = count('OPERATIONS', 45);
  const KILLS = count('KILLS', 3);
  const trail: string[] = [];
  const context = () => `seed ${seed} (replay with SKIFF_CHAOS_SEED=${seed}); operations: ${trail.join('; ')}`;

  interface Seen {
    networks: string[];
    running: string[];
    stopped: string[];
  }
  /** What exists now, so that most operations are ones a user would try (a few still fail, as users' do). */
  const look = async (): Promise<Seen> => {
    const networks = (await daemon.ok('network', 'ls', '--format', '{{.Name}}')).split('\n').filter((name) => (NETWORKS as readonly string[]).includes(name));
    const states = (await daemon.ok('ps', '-a', '--format', '{{.Names}} {{.State}}'))
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(' ') as [string, string]);
    return {
      networks,
      running: states.filter(([, state]) => state === 'running').map(([name]) => name),
      stopped: states.filter(([, state]) => state !== 'running').map(([name]) => name),
    };
  };
  const orAny = (names: string[], fallback: readonly string[]) => pick(names.length > 0 ? names : fallback);
  const operations: Array<[weight: number, make: (seen: Seen) => string[]]> = [
    [2, () => ['network', 'create', pick(NETWORKS)]],
    [1, (seen) => ['network', 'rm', orAny(seen.networks, NETWORKS)]],
    [4, (seen) => ['run', '-d', '--name', pick(CONTAINERS), '--network', pick([...seen.networks, 'bridge']), 'busybox', 'sleep', '3600']],
    [
      1,
      (seen) => [
        'run',
        '-d',
        '--name',
        pick(CONTAINERS),
        '--network',
        orAny(seen.networks, NETWORKS),
        '-p',
        `${18100 + Math.floor(random() * 20)}:80`,
        'busybox',
        'sleep',
        '3600',
      ],
    ],
    // Behind skiff's back: a veth or an nft element deleted by hand, repaired by the next restart.
    [1, () => ['@delete-veth']],
    [1, () => ['@delete-nft-element']],
    [1, () => ['@restart']],
    [1, (seen) => ['rm', '-f', orAny([...seen.running, ...seen.stopped], CONTAINERS)]],
    [1, (seen) => ['stop', '-t', '0', orAny(seen.running, CONTAINERS)]],
    [1, (seen) => ['start', orAny(seen.stopped, CONTAINERS)]],
    [2, (seen) => ['network', 'connect', orAny(seen.networks, NETWORKS), orAny(seen.running, CONTAINERS)]],
    [2, (seen) => ['network', 'disconnect', orAny(seen.networks, NETWORKS), orAny(seen.running, CONTAINERS)]],
    [3, (seen) => ['exec', orAny(seen.running, CONTAINERS), 'nslookup', pick(['example.com', 'outside.example', 'q.test']), '127.0.0.11']],
    [2, (seen) => ['exec', orAny(seen.running, CONTAINERS), 'nslookup', pick(CONTAINERS), '127.0.0.11']],
  ];
  const totalWeight = operations.reduce((sum, [weight]) => sum + weight, 0);
  const nextOperation = (seen: Seen): string[] => {
    let ticket = random() * totalWeight;
    for (const [weight, make] of operations) {
      ticket -= weight;
      if (ticket < 0) return make(seen);
    }
    return operations[0]![1](seen);
  };

  /** The daemon answers; nothing reached its last-resort handler; no address is held twice on one network. */
  const assertHealthy = async (when: string) => {
    assert.ok(daemonAlive(), `daemon died ${when}; ${context()}\n${daemon.log()}`);
    assertNeverFatal(daemon.log());
    await daemon.ok('version');
    const ids = (await daemon.ok('network', 'ls', '-q')).split('\n').filter(Boolean);
    const networks = JSON.parse(await daemon.ok('network', 'inspect', ...ids)) as InspectedNetwork[];
    for (const network of networks) {
      const addresses = Object.values(network.Containers)
        .map((endpoint) => endpoint.IPv4Address)
        .filter(Boolean);
      assert.equal(new Set(addresses).size, addresses.length, `an address held twice on ${network.Name} ${when}: ${addresses.join(', ')}; ${context()}`);
    }
  };

  /** After a restart: nothing leaked, nothing missing, names answer between neighbours, diagnose ok everywhere. */
  const assertConsistentAfterRestart = async (when: string) => {
    await assertHealthy(when);
    const violations = await invariantViolations(daemon, { reachability: true });
    assert.deepEqual(violations, [], `${when}; ${context()}\n${daemon.log()}`);
  };

  /** The by-hand operations: what an admin (or another tool) does to skiff's kernel objects. */
  const byHand = async (operation: string): Promise<void> => {
    if (operation === '@restart') {
      daemon = await daemon.restart();
      await assertConsistentAfterRestart('after a clean restart');
    } else if (operation === '@delete-veth') {
      const veths = (await worldLinks()).filter((link) => link.startsWith('veth'));
      if (veths.length > 0) await sh('ip', ['link', 'del', pick(veths)]);
    } else {
      const set = pick(['bridges', 'masq_subnets4', 'icc_bridges', 'ports4_any']);
      const listing = (await tryRun('nft', ['list', 'set', 'inet', 'skiff', set])).stdout + (await tryRun('nft', ['list', 'map', 'inet', 'skiff', set])).stdout;
      const elements =
        /elements = \{([\s\S]*?)\}/
          .exec(listing)?.[1]
          ?.split(',')
          .map((element) => element.trim().split(' : ')[0]!)
          .filter(Boolean) ?? [];
      if (elements.length > 0) await tryRun('nft', ['delete', 'element', 'inet', 'skiff', set, `{ ${pick(elements)} }`]);
    }
  };

  it('keeps serving and stays consistent', async () => {
    process.stdout.write(`chaos seed ${seed}\n`);
    const killAt = new Set(Array.from({ length: KILLS }, () => 1 + Math.floor(random() * (OPERATIONS - 1))));
    for (let step = 0; step < OPERATIONS; step++) {
      const args = nextOperation(await look());
      trail.push(`${step}:${args.join(' ')}`);
      if (args[0]!.startsWith('@')) {
        await byHand(args[0]!);
        continue;
      }
      if (!killAt.has(step)) {
        const result = await daemon.docker(...args);
        // An exec's own command may fail (a name that does not resolve); anything else that fails says why.
        if (result.code !== 0 && args[0] !== 'exec') assert.match(result.stderr, /\S/, `a failed operation says why: docker ${args.join(' ')}; ${context()}`);
        assert.ok(daemonAlive(), `daemon died after docker ${args.join(' ')}; ${context()}\n${daemon.log()}`);
        continue;
      }
      // SIGKILL while the operation is under way, then a restart.
      const underWay = daemon.docker(...args);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 250)));
      trail.push(`${step}:SIGKILL`);
      await daemon.kill('SIGKILL');
      await underWay;
      daemon = await daemon.restart();
      await assertConsistentAfterRestart(`after the SIGKILL at step ${step}`);
    }
    daemon = await daemon.restart();
    await assertConsistentAfterRestart('at the end, after a clean restart');
    process.stdout.write(`chaos trail: ${trail.join('; ')}\n`);
    const all = (await daemon.ok('ps', '-aq')).split('\n').filter(Boolean);
    if (all.length > 0) await daemon.ok('rm', '-f', ...all);
    for (const network of NETWORKS) await daemon.docker('network', 'rm', network);
    assert.deepEqual(
      (await worldLinks()).filter((link) => link.startsWith('veth') || link.startsWith('br-')),
      [],
      `no veth or bridge left; ${context()}`,
    );
  });
});
