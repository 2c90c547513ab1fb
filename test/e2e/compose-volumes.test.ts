/**
 * docker-compose v1 (Debian's) with a named volume, a bind mount and restart
 * policies (and a service with volumes_from and tmpfs): data in the volume
 * survives `rm` and `down` (without -v) and a new container sees it; a process killed inside a service's container (by
 * `docker exec … kill 1`, or from the host) comes back with RestartCount
 * grown; after the daemon is SIGKILLed and a service's process dies while it
 * is away, the restarted daemon starts the services again; `down -v` removes
 * the named volume.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { runCompose } from '../helpers/compose.js';

assertInWorld();

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
const project = () => join(scratch.path, 'project');

before(async () => {
  scratch = scratchDir('skiff-compose-volumes-');
  daemon = await startDaemon();
  await importBusybox(daemon);
  mkdirSync(join(project(), 'host'), { recursive: true });
  writeFileSync(join(project(), 'host', 'greeting'), 'from the host\n');
  writeFileSync(
    join(project(), 'docker-compose.yml'),
    [
      'version: "2.4"',
      'services:',
      '  store:',
      '    image: busybox',
      // PID 1 of a namespace ignores signals it has no handler for: the trap lets `kill 1` end it.
      `    command: ["sh", "-c", "trap 'exit 3' TERM; echo up >> /data/starts; while true; do sleep 1; done"]`,
      '    restart: always',
      '    volumes:',
      '      - data:/data',
      '      - ./host:/host:ro',
      '  helper:',
      '    image: busybox',
      '    command: sleep 3600',
      '    restart: unless-stopped',
      '  reader:',
      '    image: busybox',
      '    command: sleep 3600',
      '    volumes_from: ["store:ro"]',
      '    tmpfs: ["/scratch:size=1m"]',
      'volumes:',
      '  data: {}',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await daemon.cleanup();
  scratch.remove();
});

function compose(...args: string[]): Promise<string> {
  return runCompose(daemon.socketPath, project(), 'keep', args);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inspect = async (format: string, name: string) => (await daemon.ok('inspect', '-f', format, name)).trim();

/** Polls until the container is running with a pid the check accepts (30 s at most: the back-off after a kill is 100 ms, a daemon start longer). */
async function waitRunning(name: string, check: (pid: number, restarts: number) => boolean): Promise<{ pid: number; restarts: number }> {
  let seen = '';
  for (let attempt = 0; attempt < 300; attempt++) {
    seen = await inspect('{{.State.Status}} {{.State.Pid}} {{.RestartCount}}', name);
    const [status, pid = '0', restarts = '0'] = seen.split(' ');
    if (status === 'running' && check(Number(pid), Number(restarts))) return { pid: Number(pid), restarts: Number(restarts) };
    await sleep(100);
  }
  assert.fail(`${name} never came back as expected; last seen: ${seen}`);
}

test('data in the named volume survives rm and down without -v; the bind mount is there', async () => {
  await compose('up', '-d');
  await waitRunning('keep_store_1', () => true);
  await compose('exec', '-T', 'store', 'sh', '-c', 'echo kept > /data/file');
  assert.equal(await compose('exec', '-T', 'store', 'cat', '/host/greeting'), 'from the host\n');

  await compose('rm', '-s', '-f', 'store');
  assert.equal((await daemon.ok('ps', '-aq', '--filter', 'name=keep_store_1')).trim(), '');
  await compose('up', '-d');
  assert.equal(await compose('exec', '-T', 'store', 'cat', '/data/file'), 'kept\n', 'a new container sees the data');

  // volumes_from and tmpfs as compose sends them (HostConfig.VolumesFrom with the container's id, HostConfig.Tmpfs).
  assert.equal(await compose('exec', '-T', 'reader', 'cat', '/data/file', '/host/greeting'), 'kept\nfrom the host\n');
  assert.notEqual((await daemon.docker('exec', 'keep_reader_1', 'touch', '/data/other')).code, 0, 'read-only through store:ro');
  assert.match(
    await compose('exec', '-T', 'reader', 'grep', ' /scratch ', '/proc/mounts'),
    /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k /,
  );

  await compose('down');
  assert.equal((await daemon.ok('ps', '-aq', '--filter', 'label=com.docker.compose.project=keep')).trim(), '');
  assert.deepEqual((await daemon.ok('volume', 'ls', '-q')).trim(), 'keep_data', 'down without -v keeps the named volume');
  await compose('up', '-d');
  assert.equal(await compose('exec', '-T', 'store', 'cat', '/data/file'), 'kept\n');
});

test('a process killed inside a service comes back (RestartCount grows): docker exec kill 1, and SIGKILL from the host', async () => {
  const store = await waitRunning('keep_store_1', () => true);
  await daemon.ok('exec', 'keep_store_1', 'kill', '1');
  await waitRunning('keep_store_1', (pid, restarts) => pid !== store.pid && restarts === store.restarts + 1);
  assert.equal(await inspect('{{.State.ExitCode}}', 'keep_store_1'), '0', 'running again, its exit code reset');

  const helper = await waitRunning('keep_helper_1', () => true);
  process.kill(helper.pid, 'SIGKILL');
  await waitRunning('keep_helper_1', (pid, restarts) => pid !== helper.pid && restarts === helper.restarts + 1);

  const starts = await compose('exec', '-T', 'store', 'cat', '/data/starts');
  assert.ok(starts.split('\n').filter(Boolean).length >= 2, `started more than once: ${starts}`);
});

test('after a SIGKILLed daemon, services whose processes died meanwhile are started again; down -v removes the named volume', async () => {
  const store = await waitRunning('keep_store_1', () => true);
  const helper = await waitRunning('keep_helper_1', () => true);
  await daemon.kill('SIGKILL');
  // The containers outlive the daemon (live restore): their processes die while it is away.
  process.kill(store.pid, 'SIGKILL');
  process.kill(helper.pid, 'SIGKILL');
  daemon = await daemon.restart();
  await waitRunning('keep_store_1', (pid) => pid !== store.pid);
  await waitRunning('keep_helper_1', (pid) => pid !== helper.pid);
  assert.equal(await compose('exec', '-T', 'store', 'cat', '/data/file'), 'kept\n');

  await compose('down', '-v');
  assert.equal((await daemon.ok('ps', '-aq')).trim(), '');
  assert.equal((await daemon.ok('volume', 'ls', '-q')).trim(), '', 'down -v removed keep_data');
  assert.equal((await daemon.ok('network', 'ls', '-q', '--filter', 'name=keep_default')).trim(), '');
});
