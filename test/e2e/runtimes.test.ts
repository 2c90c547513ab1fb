/**
 * OCI runtimes as dockerd has them: --add-runtime and --runtime through the
 * docker CLI, docker info's Runtimes, inspect's HostConfig.Runtime, a second
 * runc under another name running, stopping and surviving a daemon restart,
 * crun as this machine lets it run (or Docker's error with crun's own words),
 * and dockerd's errors for an unknown runtime and bad --add-runtime flags.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir, tryRun } from '../helpers/world.js';
import { importBusybox, skiffBin, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { crunCgroupRefusal, cgroupLayout } from '../../src/runtime/oci-runtimes.js';

assertInWorld();

const RUNC = ['/usr/sbin/runc', '/usr/bin/runc'].find((path) => existsSync(path))!;
const CRUN = '/usr/bin/crun';

let daemon: TestDaemon;

before(async () => {
  const crun = existsSync(CRUN) ? ['--add-runtime', `crun=${CRUN}`] : [];
  daemon = await startDaemon({ extraArgs: ['--add-runtime', `myrunc=${RUNC}`, ...crun] });
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
  // With no --default-runtime, crun is the default only where this machine's cgroups let it run.
  assert.equal(info.DefaultRuntime, crunCgroupRefusal(cgroupLayout()) === undefined && existsSync(CRUN) ? 'crun' : 'runc');
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

test("crun runs a container where the machine's cgroups let it, else the start fails with crun's own words", async (context) => {
  if (!existsSync(CRUN)) return context.skip('crun is not installed');
  const refusal = crunCgroupRefusal(cgroupLayout());
  const result = await daemon.docker('run', '--name', 'crunned', '--runtime', 'crun', '--network', 'none', 'busybox', 'echo', 'hi-from-crun');
  if (refusal === undefined) {
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'hi-from-crun\n');
  } else {
    // What dockerd 20.10 with containerd says on the same machine, without its "failed to create shim task: " prefix.
    assert.notEqual(result.code, 0);
    assert.match(
      result.stderr,
      /Error response from daemon: OCI runtime create failed: cgroups in hybrid mode not supported, drop all controllers from cgroupv2: unknown/,
    );
    assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}} {{.HostConfig.Runtime}}', 'crunned')).trim(), 'created crun');
  }
  await daemon.ok('rm', '-f', 'crunned');
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
