/**
 * Live restore: containers keep running and keep their network while the
 * daemon is stopped (SIGTERM) or killed (SIGKILL) and started again; one that
 * exits meanwhile is shown exited and its network released.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, sh, worldLinks } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { backgroundTeardownsDone } from '../helpers/invariants.js';

assertInWorld();

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
});

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
  await backgroundTeardownsDone(daemon);
  const veths = (await worldLinks()).filter((link) => link.startsWith('veth'));
  assert.equal(veths.length, 2, 'only the two running containers hold a veth');
  await daemon.ok('stop', '-t', '1', 'one');
  assert.deepEqual(await running(), ['two'], 'a restored container can be stopped');
  await daemon.ok('rm', '-f', 'one', 'two', 'brief');
  await daemon.ok('network', 'rm', 'keep');
});

test("skiff network diagnose finds what broke behind skiff's back; a restart repairs it", async () => {
  await daemon.ok('network', 'create', 'checked');
  await daemon.ok('run', '-d', '--name', 'probe', '--network', 'checked', 'busybox', 'sleep', '300');
  const healthy = await daemon.skiff('network', 'diagnose', 'checked');
  assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
  assert.doesNotMatch(healthy.stdout, /FAIL/);
  // Someone deletes the container's veth and a firewall element by hand.
  const [network] = JSON.parse(await daemon.ok('network', 'inspect', 'checked')) as Array<{ Id: string; Containers: Record<string, { EndpointID: string }> }>;
  const endpointId = Object.values(network!.Containers)[0]!.EndpointID;
  await sh('ip', ['link', 'del', `veth${endpointId.slice(0, 7)}`]);
  await sh('nft', ['delete', 'element', 'inet', 'skiff', 'bridges', `{ "br-${network!.Id.slice(0, 12)}" }`]);
  const broken = await daemon.skiff('network', 'diagnose', 'checked');
  assert.equal(broken.code, 1);
  assert.match(broken.stdout, /^FAIL {2}nft skiff bridges holds "br-/m);
  assert.match(broken.stdout, /^FAIL {2}endpoint probe .*is a port of br-/m);
  daemon = await daemon.restart();
  const repaired = await daemon.skiff('network', 'diagnose', 'checked');
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  const gateway = (await daemon.ok('network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', 'checked')).trim();
  assert.equal((await daemon.docker('exec', 'probe', 'ping', '-c', '1', '-W', '2', gateway)).code, 0, 'the container reaches its gateway again');
  await daemon.ok('rm', '-f', 'probe');
  await daemon.ok('network', 'rm', 'checked');
});
