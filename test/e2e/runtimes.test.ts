/**
 * OCI runtimes as dockerd has them: --add-runtime and --runtime through the
 * docker CLI, docker info's Runtimes, inspect's HostConfig.Runtime, a second
 * runc under another name running, stopping and surviving a daemon restart,
 * crun (the default where installed; on a hybrid cgroup host through skiff's
 * v1 view) and runc running the same container alike, and dockerd's errors
 * for an unknown runtime and bad --add-runtime flags.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir, tryRun } from '../helpers/world.js';
import { importBusybox, skiffBin, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { cgroupVersion } from '../../src/runtime/cgroups.js';

assertInWorld();

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((path) => existsSync(path))!;
const CRUN = '/usr/bin/crun';

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon({ extraArgs: ['--add-runtime', `myrunc=${RUNC}`] });
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
});

test("docker info lists the runtimes as dockerd's JSON, with the default", async () => {
  const info = JSON.parse(await daemon.ok('info', '--format', '{{json .}}')) as { Runtimes: Record<string, { path: string }>; DefaultRuntime: string };
  assert.deepEqual(info.Runtimes['myrunc'], { path: RUNC });
  assert.deepEqual(info.Runtimes['runc'], { path: 'runc' });
  assert.deepEqual(info.Runtimes['io.containerd.runc.v2'], { path: 'runc' });
  if (existsSync(CRUN)) assert.deepEqual(info.Runtimes['crun'], { path: CRUN });
  // With no --default-runtime, crun is the default where installed (on a hybrid host too, through the v1 view).
  assert.equal(info.DefaultRuntime, existsSync(CRUN) ? 'crun' : 'runc');
});

test("--runtime of an unknown name gets Docker 20.10's error and creates nothing", async () => {
  const refused = await daemon.docker('run', '--runtime', 'nope', '--network', 'none', 'busybox', 'true');
  assert.equal(refused.code, 125);
  assert.match(refused.stderr, /Error response from daemon: Unknown runtime specified nope/);
  const raw = await daemon.http('POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { Runtime: 'nope' } }));
  assert.deepEqual([raw.status, JSON.parse(raw.body)], [400, { message: 'Unknown runtime specified nope' }]);
  assert.equal((await daemon.ok('ps', '-aq')).trim(), '');
});

test('a second runc under another name runs a container, kept in inspect and its own state root, found again after a restart', async () => {
  await daemon.ok('network', 'create', 'rtnet');
  const id = (await daemon.ok('run', '-d', '--name', 'other', '--runtime', 'myrunc', '--network', 'rtnet', 'busybox', 'sleep', '1000')).trim();
  await daemon.ok('run', '-d', '--name', 'plain', '--network', 'rtnet', 'busybox', 'sleep', '1000');
  assert.equal((await daemon.ok('inspect', '-f', '{{.HostConfig.Runtime}}', 'other')).trim(), 'myrunc');
  const defaultName = (await daemon.ok('info', '--format', '{{.DefaultRuntime}}')).trim();
  assert.equal((await daemon.ok('inspect', '-f', '{{.HostConfig.Runtime}}', 'plain')).trim(), defaultName, 'the default is resolved at create');
  assert.ok(readdirSync(join(daemon.execRoot, 'myrunc')).includes(id), "myrunc's state is under <execRoot>/myrunc");
  assert.equal(await daemon.ok('exec', 'other', 'echo', 'in-myrunc'), 'in-myrunc\n');
  assert.match(await daemon.ok('top', 'other'), /sleep 1000/);
  await daemon.ok('pause', 'other');
  await daemon.ok('unpause', 'other');
  const pid = (await daemon.ok('inspect', '-f', '{{.State.Pid}}', 'other')).trim();

  daemon = await daemon.restart();
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}} {{.State.Pid}} {{.HostConfig.Runtime}}', 'other')).trim(), `running ${pid} myrunc`);
  assert.equal(await daemon.ok('exec', 'other', 'echo', 'still'), 'still\n');
  await daemon.ok('stop', '-t', '1', 'other');
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}}', 'other')).trim(), 'exited');
  await daemon.ok('start', 'other');
  await daemon.ok('rm', '-f', 'other', 'plain');
  assert.deepEqual(readdirSync(join(daemon.execRoot, 'myrunc')), [], 'nothing left in its state root');
  await daemon.ok('network', 'rm', 'rtnet');
});

/** The container's memory limit as its cgroup holds it (v1: the memory controller's directory; v2: the one directory). */
function memoryLimit(id: string): string {
  const file = cgroupVersion() === 2 ? `/sys/fs/cgroup/skiff/${id}/memory.max` : `/sys/fs/cgroup/memory/skiff/${id}/memory.limit_in_bytes`;
  return readFileSync(file, 'utf8').trim();
}

test('runc and crun run the same container alike: output, exit code, limits in the same cgroup, stats, pause, update, exec, stop', async (context) => {
  if (!existsSync(CRUN)) return context.skip('crun is not installed');
  const seen: Record<string, unknown> = {};
  for (const runtime of ['runc', 'crun']) {
    const name = `same-${runtime}`;
    const id = (
      await daemon.ok(
        'run',
        '-d',
        '--name',
        name,
        '--runtime',
        runtime,
        '--memory',
        '64m',
        '--pids-limit',
        '50',
        '--network',
        'none',
        'busybox',
        'sleep',
        '1000',
      )
    ).trim();
    const limitAtStart = memoryLimit(id);
    const stats = (await daemon.ok('stats', '--no-stream', '--format', '{{.MemUsage}} {{.PIDs}}', name)).trim().replace(/^\S+ \/ /, '');
    await daemon.ok('pause', name);
    const paused = (await daemon.ok('inspect', '-f', '{{.State.Status}}', name)).trim();
    await daemon.ok('unpause', name);
    await daemon.ok('update', '--memory', '32m', name);
    const limitAfterUpdate = memoryLimit(id);
    // Without --cpus the update writes "no CFS quota" back (crun cannot on v1: skiff does).
    const quotaAfterUpdate = cgroupVersion() === 2 ? '' : readFileSync(`/sys/fs/cgroup/cpu/skiff/${id}/cpu.cfs_quota_us`, 'utf8').trim();
    const exec = await daemon.ok('exec', name, 'sh', '-c', 'echo in-container; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max');
    await daemon.ok('stop', '-t', '1', name);
    const stopped = (await daemon.ok('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.HostConfig.Runtime}}', name)).trim();
    const oneOff = await daemon.docker('run', '--rm', '--runtime', runtime, '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    seen[runtime] = {
      limitAtStart,
      stats,
      paused,
      limitAfterUpdate,
      quotaAfterUpdate,
      exec,
      stopped: stopped.replace(runtime, 'RUNTIME'),
      oneOff: [oneOff.code, oneOff.stdout, oneOff.stderr],
    };
    assert.ok(readdirSync(join(daemon.execRoot, runtime)).includes(id), `${runtime}'s state is under <execRoot>/${runtime}`);
    await daemon.ok('rm', name);
  }
  assert.deepEqual(seen['crun'], seen['runc']);
  assert.deepEqual(seen['runc'], {
    limitAtStart: '67108864',
    stats: '64MiB 1',
    paused: 'paused',
    limitAfterUpdate: '33554432',
    quotaAfterUpdate: cgroupVersion() === 2 ? '' : '-1',
    exec: 'in-container\n50\n',
    stopped: 'exited 137 RUNTIME',
    oneOff: [3, 'out\n', 'err\n'],
  });
});

test("--add-runtime of runc, of a name given twice, without a path, and an unknown --default-runtime stop the daemon with dockerd's words", async () => {
  const scratch = scratchDir('skiff-runtimes-');
  try {
    const start = (...flags: string[]) =>
      tryRun(process.execPath, [
        skiffBin,
        'daemon',
        '-H',
        `unix://${join(scratch.path, 's.sock')}`,
        '--data-root',
        join(scratch.path, 'data'),
        '--exec-root',
        join(scratch.path, 'exec'),
        ...flags,
      ]);
    const cases: Array<[string[], string]> = [
      [['--add-runtime', `runc=${CRUN}`], `invalid argument "runc=${CRUN}" for "--add-runtime" flag: runtime name 'runc' is reserved`],
      [['--add-runtime', `a=${RUNC}`, '--add-runtime', `a=${CRUN}`], `invalid argument "a=${CRUN}" for "--add-runtime" flag: runtime 'a' was already defined`],
      [['--add-runtime', 'abc'], 'invalid argument "abc" for "--add-runtime" flag: invalid runtime argument: abc'],
      [['--default-runtime', 'nope'], "specified default runtime 'nope' does not exist"],
    ];
    for (const [flags, message] of cases) {
      const result = await start(...flags);
      assert.notEqual(result.code, 0, flags.join(' '));
      assert.ok(result.stderr.includes(message), `${flags.join(' ')}: ${result.stderr}`);
    }
    assert.equal(existsSync(join(scratch.path, 'data')), false, 'nothing was made');
  } finally {
    scratch.remove();
  }
});
