/**
 * Container lifecycle through the docker CLI and dockerode: create/start,
 * stop/restart/kill/wait, ps filters, events, --link, --mac-address,
 * connect/disconnect errors, images.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import Docker from 'dockerode';
import { assertInWorld } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;
let client: Docker;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
  client = new Docker({ socketPath: daemon.socketPath });
});
after(async () => {
  await daemon.cleanup();
});

test('create, start, stop, restart, kill, wait and ps filters', async () => {
  const id = (await daemon.ok('create', '--name', 'life', '--label', 'team=net', 'busybox', 'sleep', '300')).trim();
  assert.match(await daemon.ok('ps', '-a', '--filter', 'status=created', '--format', '{{.Names}}'), /^life$/m);
  await daemon.ok('start', 'life');
  assert.equal((await daemon.ok('ps', '-q', '--no-trunc', '--filter', 'label=team=net')).trim(), id);
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}} {{.State.Running}}', 'life')).trim(), 'running true');
  await daemon.ok('restart', '-t', '1', 'life');
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}}', 'life')).trim(), 'running');
  await daemon.ok('kill', 'life');
  assert.equal((await daemon.ok('wait', 'life')).trim(), '137');
  assert.match(await daemon.ok('ps', '-a', '--filter', 'name=life', '--format', '{{.Status}}'), /^Exited \(137\)/);
  const notRunning = await daemon.docker('kill', 'life');
  assert.match(notRunning.stderr, /is not running/);
  assert.equal(
    (await daemon.ok('ps', '-ql', '--no-trunc')).trim(),
    id,
    "docker ps -ql: the newest container, stopped or not (the seeds' container:$(docker ps -ql))",
  );
  await daemon.ok('rm', 'life');
  const gone = await daemon.docker('inspect', 'life');
  assert.equal(gone.code, 1);
});

test('docker events reports network and container events as they happen', async () => {
  const events = spawn('docker', ['events', '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'], {
    env: { ...process.env, DOCKER_HOST: `unix://${daemon.socketPath}` },
  });
  let seen = '';
  events.stdout.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
  });
  // The stream is known to be listening once it shows an event made after it started.
  await daemon.ok('network', 'create', 'listening');
  for (let attempt = 0; attempt < 50 && !seen.includes('network create listening'); attempt++) {
    await daemon.ok('network', 'rm', 'listening');
    await daemon.ok('network', 'create', 'listening');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await daemon.ok('network', 'rm', 'listening');
  await daemon.ok('network', 'create', 'evented');
  await daemon.ok('run', '--rm', '--network', 'evented', '--name', 'brief', 'busybox', 'true');
  await daemon.ok('network', 'rm', 'evented');
  for (let attempt = 0; attempt < 30 && !seen.includes('network destroy evented'); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
  events.kill();
  for (const line of [
    'network create evented',
    'container create brief',
    'network connect evented',
    'container start brief',
    'container die brief',
    'network disconnect evented',
    'container destroy brief',
    'network destroy evented',
  ]) {
    assert.ok(seen.includes(line), `events show "${line}":\n${seen}`);
  }
});

test('--link writes hosts and environment on the default bridge; --mac-address sets the MAC', async () => {
  await daemon.ok('run', '-d', '--name', 'db', '--expose', '5432', '-e', 'SECRET=x', 'busybox', 'sleep', '300');
  const env = await daemon.ok('run', '--rm', '--link', 'db:database', 'busybox', 'env');
  const dbIp = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'db')).trim();
  assert.match(env, new RegExp(`^DATABASE_PORT_5432_TCP=tcp://${dbIp.replaceAll('.', '\\.')}:5432$`, 'm'));
  assert.match(env, /^DATABASE_ENV_SECRET=x$/m);
  const hosts = await daemon.ok('run', '--rm', '--link', 'db:database', 'busybox', 'cat', '/etc/hosts');
  assert.match(hosts, new RegExp(`^${dbIp.replaceAll('.', '\\.')}\\tdatabase `, 'm'));
  const missing = await daemon.docker('run', '--rm', '--link', 'nosuch:x', 'busybox', 'true');
  assert.match(missing.stderr, /could not get container for nosuch/);
  // The 28.x CLI sends --mac-address only to API 1.44+ daemons; the 1.41 field (Config.MacAddress) is what 20.10 clients send.
  const withMac = await client.createContainer({ Image: 'busybox', Cmd: ['sleep', '300'], name: 'mac', MacAddress: '02:42:de:ad:be:ef' });
  await withMac.start();
  assert.equal((await daemon.ok('exec', 'mac', 'cat', '/sys/class/net/eth0/address')).trim(), '02:42:de:ad:be:ef');
  await withMac.remove({ force: true });
  await daemon.ok('rm', '-f', 'db');
});

test('connect and disconnect refuse what Docker refuses', async () => {
  await daemon.ok('network', 'create', 'side');
  await daemon.ok('run', '-d', '--name', 'hosted', '--network', 'host', 'busybox', 'sleep', '300');
  const hostConnect = await daemon.docker('network', 'connect', 'side', 'hosted');
  assert.notEqual(hostConnect.code, 0);
  await daemon.ok('run', '-d', '--name', 'member', '--network', 'side', 'busybox', 'sleep', '300');
  const twice = await daemon.docker('network', 'connect', 'side', 'member');
  assert.match(twice.stderr, /endpoint with name member already exists in network side/);
  const notThere = await daemon.docker('network', 'disconnect', 'bridge', 'member');
  assert.match(notThere.stderr, /is not connected to network bridge/);
  const noContainer = await daemon.docker('network', 'connect', 'side', 'nosuch');
  assert.match(noContainer.stderr, /No such container: nosuch/);
  assert.equal((await daemon.docker('network', 'disconnect', '-f', 'side', 'nosuch')).code, 0, 'forced disconnect of a gone container is fine');
  await daemon.ok('rm', '-f', 'hosted', 'member');
  await daemon.ok('network', 'rm', 'side');
});

test('dockerode drives skiff as a TypeScript client', async () => {
  const networks = await client.listNetworks();
  assert.deepEqual(
    networks
      .map((n) => n.Name)
      .filter((n) => ['bridge', 'host', 'none'].includes(n))
      .sort(),
    ['bridge', 'host', 'none'],
  );
  const network = await client.createNetwork({ Name: 'dockerode-net', Driver: 'bridge', IPAM: { Driver: 'default', Config: [{ Subnet: '10.77.0.0/24' }] } });
  const container = await client.createContainer({
    Image: 'busybox',
    Cmd: ['sleep', '300'],
    name: 'from-dockerode',
    HostConfig: { NetworkMode: 'dockerode-net' },
  });
  await container.start();
  const info = await container.inspect();
  assert.equal(info.State.Running, true);
  assert.match(info.NetworkSettings.Networks['dockerode-net']!.IPAddress, /^10\.77\.0\.\d+$/);
  const inspected = (await network.inspect()) as { Containers: Record<string, { Name: string }> };
  assert.deepEqual(
    Object.values(inspected.Containers).map((c) => c.Name),
    ['from-dockerode'],
  );
  await container.remove({ force: true });
  await network.remove();
  const images = await client.listImages();
  assert.ok(images.some((image) => (image.RepoTags ?? []).includes('busybox:latest')));
  const version = await client.version();
  assert.equal(version.ApiVersion, '1.41');
});

test('images: tag, inspect, rmi', async () => {
  await daemon.ok('tag', 'busybox', 'mybox:v1');
  assert.match(await daemon.ok('images', '--format', '{{.Repository}}:{{.Tag}}'), /^mybox:v1$/m);
  const config = JSON.parse(await daemon.ok('image', 'inspect', 'mybox:v1')) as Array<{ Id: string; RepoTags: string[] }>;
  assert.ok(config[0]!.RepoTags.includes('busybox:latest'));
  assert.match(await daemon.ok('rmi', 'mybox:v1'), /Untagged: mybox:v1/);
  const unknown = await daemon.docker('run', 'nosuchimage');
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /nosuchimage/);
});

/**
 * Runs a docker command on a real terminal (script(1) gives it a pty). Each
 * step types its keys once the screen shows what the step waits for (bounded).
 */
async function onTerminal(command: string[], steps: Array<{ after: RegExp; keys: string }>): Promise<{ code: number | null; screen: string }> {
  const terminal = spawn('script', ['-qefc', command.join(' '), '/dev/null'], { env: { ...process.env, DOCKER_HOST: `unix://${daemon.socketPath}` } });
  let screen = '';
  terminal.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString().replaceAll('\r', '');
  });
  const exited = new Promise<number | null>((resolve) => terminal.once('exit', resolve));
  const timer = setTimeout(() => terminal.kill('SIGKILL'), 15_000);
  for (const step of steps) {
    for (let attempt = 0; attempt < 50 && !step.after.test(screen); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
    terminal.stdin.write(step.keys);
  }
  const code = await exited;
  clearTimeout(timer);
  return { code, screen };
}

test('docker attach and docker exec -it on a terminal, as the seeds do', async () => {
  await daemon.ok('run', '-dit', '--name', 'interactive', 'busybox', 'ash');
  // Type a command in the attached shell, then detach with ctrl-p ctrl-q: the container keeps running.
  const attached = await onTerminal(
    ['docker', 'attach', 'interactive'],
    [
      { after: /^/, keys: 'echo attached-$((6*7))\r' },
      { after: /attached-42/, keys: '\x10\x11' },
    ],
  );
  assert.match(attached.screen, /attached-42/);
  assert.match(attached.screen, /read escape sequence/, 'detached with ctrl-p ctrl-q');
  assert.match(await daemon.ok('ps', '--filter', 'name=interactive', '--format', '{{.Status}}'), /^Up/);
  const exec = await onTerminal(['docker', 'exec', '-it', 'interactive', 'sh'], [{ after: /# /, keys: 'hostname; exit 5\r' }]);
  assert.equal(exec.code, 5, exec.screen);
  const id = (await daemon.ok('inspect', '-f', '{{.Id}}', 'interactive')).trim();
  assert.match(exec.screen, new RegExp(`^${id.slice(0, 12)}$`, 'm'));
  await daemon.ok('rm', '-f', 'interactive');
});
