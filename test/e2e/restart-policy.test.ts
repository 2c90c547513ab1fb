/**
 * Restart policies through the docker CLI: a process killed inside its
 * container comes back (with a new pid and RestartCount), docker stop keeps
 * it down, on-failure:N gives up after N restarts, docker update changes the
 * policy, and a daemon restart brings back always and unless-stopped
 * containers that were down, but not an unless-stopped one the user stopped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
});

const inspect = async (format: string, name: string) => (await daemon.ok('inspect', '-f', format, name)).trim();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until the container's "status pid restartCount" satisfies the check (10 s at most). */
async function waitFor(name: string, check: (status: string, pid: number, restarts: number) => boolean): Promise<[string, number, number]> {
  let seen: [string, number, number] = ['', 0, 0];
  for (let attempt = 0; attempt < 100; attempt++) {
    const [status = '', pid = '0', restarts = '0'] = (await inspect('{{.State.Status}} {{.State.Pid}} {{.RestartCount}}', name)).split(' ');
    seen = [status, Number(pid), Number(restarts)];
    if (check(...seen)) return seen;
    await sleep(100);
  }
  assert.fail(`${name} never reached the expected state; last seen ${seen.join(' ')}`);
}

test('--restart always: a process killed inside comes back; docker stop keeps it down; docker start resets the count', async () => {
  await daemon.ok('network', 'create', 'rp');
  await daemon.ok('run', '-d', '--name', 'phoenix', '--network', 'rp', '--restart', 'always', 'busybox', 'sleep', '300');
  assert.equal(await inspect('{{json .HostConfig.RestartPolicy}}', 'phoenix'), '{"Name":"always","MaximumRetryCount":0}');
  const [, firstPid] = await waitFor('phoenix', (status) => status === 'running');
  process.kill(firstPid, 'SIGKILL');
  const [, secondPid] = await waitFor('phoenix', (status, pid, restarts) => status === 'running' && pid !== firstPid && restarts === 1);
  assert.match(await daemon.ok('run', '--rm', '--network', 'rp', 'busybox', 'ping', '-c', '1', '-W', '2', 'phoenix'), /1 packets received/);
  await daemon.ok('stop', '-t', '1', 'phoenix');
  await sleep(500);
  assert.equal(await inspect('{{.State.Status}} {{.State.Restarting}}', 'phoenix'), 'exited false', 'docker stop is final');
  await daemon.ok('start', 'phoenix');
  const [, , restarts] = await waitFor('phoenix', (status, pid) => status === 'running' && pid !== secondPid);
  assert.equal(restarts, 0, 'a start by the user resets RestartCount');
  await daemon.ok('kill', 'phoenix');
  await sleep(500);
  assert.equal(await inspect('{{.State.Status}}', 'phoenix'), 'exited', 'docker kill is final too');
  await daemon.ok('rm', 'phoenix');
  await daemon.ok('network', 'rm', 'rp');
});

test('on-failure:2 restarts a failing process twice, then leaves it exited; a clean exit is not restarted', async () => {
  await daemon.ok('run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3');
  await waitFor('flaky', (status, _pid, restarts) => status === 'exited' && restarts === 2);
  await sleep(1000);
  assert.equal(await inspect('{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}', 'flaky'), 'exited 3 2');
  await daemon.ok('run', '-d', '--name', 'clean', '--restart', 'on-failure', 'busybox', 'true');
  await waitFor('clean', (status) => status === 'exited');
  await sleep(500);
  assert.equal(await inspect('{{.State.Status}} {{.RestartCount}}', 'clean'), 'exited 0');
  await daemon.ok('rm', 'flaky', 'clean');
});

test('bad policies get Docker errors and make nothing; --rm with a policy is refused; docker update --restart', async () => {
  const bad = await daemon.http(
    'POST',
    '/containers/create?name=bad',
    JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'sometimes' } } }),
  );
  assert.deepEqual([bad.status, JSON.parse(bad.body)], [400, { message: "invalid restart policy 'sometimes'" }]);
  const counted = await daemon.http(
    'POST',
    '/containers/create?name=bad',
    JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } }),
  );
  assert.deepEqual([counted.status, JSON.parse(counted.body)], [400, { message: "maximum retry count cannot be used with restart policy 'always'" }]);
  const autoRemove = await daemon.http(
    'POST',
    '/containers/create?name=bad',
    JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } }),
  );
  assert.deepEqual([autoRemove.status, JSON.parse(autoRemove.body)], [400, { message: "can't create 'AutoRemove' container with restart policy" }]);
  assert.equal((await daemon.ok('ps', '-aq', '--filter', 'name=bad')).trim(), '');

  await daemon.ok('run', '-d', '--name', 'later', 'busybox', 'sleep', '300');
  await daemon.ok('update', '--restart', 'unless-stopped', 'later');
  assert.equal(await inspect('{{.HostConfig.RestartPolicy.Name}}', 'later'), 'unless-stopped');
  const [, pid] = await waitFor('later', (status) => status === 'running');
  process.kill(pid, 'SIGKILL');
  await waitFor('later', (status, newPid, restarts) => status === 'running' && newPid !== pid && restarts === 1);
  const limits = await daemon.docker('update', '--blkio-weight', '500', 'later');
  assert.notEqual(limits.code, 0);
  assert.match(limits.stderr, /skiff does not support HostConfig.BlkioWeight \(--blkio-weight\)/);
  await daemon.ok('rm', '-f', 'later');
});

test('a daemon restart starts always and unless-stopped containers that are down, but not one the user stopped', async () => {
  await daemon.ok('run', '-d', '--name', 'always-stopped', '--restart', 'always', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'unless-stopped', '--restart', 'unless-stopped', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'unless-running', '--restart', 'unless-stopped', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'never', 'busybox', 'sleep', '300');
  await daemon.ok('stop', '-t', '1', 'always-stopped', 'unless-stopped', 'never');
  // Killed while the daemon is away: the restarted daemon finds it exited and its policy brings it back.
  const [, pid] = await waitFor('unless-running', (status) => status === 'running');
  await daemon.kill('SIGTERM');
  process.kill(pid, 'SIGKILL');
  daemon = await daemon.restart();
  await waitFor('always-stopped', (status) => status === 'running');
  await waitFor('unless-running', (status, newPid) => status === 'running' && newPid !== pid);
  await sleep(500);
  assert.equal(await inspect('{{.State.Status}}', 'unless-stopped'), 'exited', 'stopped by the user: stays down');
  assert.equal(await inspect('{{.State.Status}}', 'never'), 'exited');
  await daemon.ok('rm', '-f', 'always-stopped', 'unless-stopped', 'unless-running', 'never');
});
