/**
 * Live restore: containers keep running and keep their network while the
 * daemon is stopped (SIGTERM) or killed (SIGKILL) and started again; one that
 * exits meanwhile is shown exited and its network released.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, worldLinks } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
});
after(async () => { await daemon.cleanup(); });


const running = async () => (await daemon.ok('ps', '--format', '{{.Names}}')).split('\n').filter(Boolean).sort();

test('containers survive SIGTERM and SIGKILL of the daemon with their network and names', async () => {
  await daemon.ok('network', 'create', 'keep');
  await daemon.ok('run', '-dit', '--name', 'one', '--network', 'keep', 'busybox', 'sh');
  await daemon.ok('run', '-dit', '--name', 'two', '--network', 'keep', 'busybox', 'sh');
  await daemon.ok('run', '-d', '--name', 'brief', '--network', 'keep', 'busybox', 'sleep', '3');
  const pidBefore = (await daemon.ok('inspect', '-f', '{{.State.Pid}}', 'one')).trim();
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    await daemon.kill(signal);
    daemon = await daemon.restart();
    assert.ok((await running()).includes('one') && (await running()).includes('two'), `both still running after ${signal}`);
    assert.equal((await daemon.ok('inspect', '-f', '{{.State.Pid}}', 'one')).trim(), pidBefore, 'the same process, never restarted');
    const ping = await daemon.docker('exec', 'one', 'ping', '-c', '1', '-W', '2', 'two');
    assert.equal(ping.code, 0, `one pings two by name after ${signal}: ${ping.stdout}${ping.stderr}`);
  }
  // `brief` ended while nobody watched (or soon after): it is shown exited and holds no veth.
  for (let attempt = 0; attempt < 100 && (await running()).includes('brief'); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.match(await daemon.ok('ps', '-a', '--filter', 'name=brief', '--format', '{{.Status}}'), /^Exited \(0\)/);
  const veths = (await worldLinks()).filter((link) => link.startsWith('veth'));
  assert.equal(veths.length, 2, 'only the two running containers hold a veth');
  await daemon.ok('stop', '-t', '1', 'one');
  assert.deepEqual(await running(), ['two'], 'a restored container can be stopped');
  await daemon.ok('rm', '-f', 'one', 'two', 'brief');
  await daemon.ok('network', 'rm', 'keep');
});
