/**
 * A leaving endpoint's veth is deleted after the API answered (the kernel
 * takes ~25 ms for it; src/engine/endpoint-teardowns.ts): at the answer the
 * interface is cut off, its record says 'removing' and its address stays
 * held until the link is gone. A daemon SIGKILLed between the answer and the
 * delete (failpoint endpoint-leave:answered) leaves nothing once restarted:
 * no veth, the address free again. Without a kill, an address still held by
 * a link being deleted is waited for, not refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, sh, worldLinks } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { backgroundTeardownsDone, invariantViolations } from '../helpers/invariants.js';

assertInWorld();

const POINT = 'endpoint-leave:answered';
let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
  await daemon.ok('network', 'create', '--subnet', '10.77.0.0/24', 'td');
  await daemon.ok('run', '-d', '--name', 'holder', 'busybox', 'sleep', '600');
});
after(async () => {
  await daemon.cleanup();
});

async function endpointVeth(network: string, container: string): Promise<string> {
  const id = (await daemon.ok('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container)).trim();
  return `veth${id.slice(0, 7)}`;
}

async function linkState(name: string): Promise<{ operstate: string; master?: string } | undefined> {
  const links = JSON.parse(await sh('ip', ['-json', 'link', 'show'])) as Array<{ ifname: string; operstate: string; master?: string }>;
  return links.find((link) => link.ifname === name);
}

async function addressesIn(container: string): Promise<string> {
  return daemon.ok('exec', container, 'ip', '-o', '-4', 'addr');
}

/** Restarts with the failpoint armed, makes the request (raw, so its status is seen), waits for the kill, and returns the status. */
async function killedAfterAnswer(method: string, path: string, body?: unknown): Promise<number> {
  daemon = await daemon.restart({ failpoints: [POINT] });
  const reply = await daemon.http(method, path, body === undefined ? undefined : JSON.stringify(body)).catch(() => ({ status: 0, body: '' }));
  await daemon.exited();
  assert.ok(daemon.log().includes(`failpoint ${POINT}: SIGKILL`), `the daemon died at ${POINT}:\n${daemon.log()}`);
  return reply.status;
}

describe('a daemon killed between the answer and the veth delete', () => {
  it('disconnect: answered, then the restart deletes the veth and frees the address', async () => {
    await daemon.ok('network', 'connect', '--ip', '10.77.0.9', 'td', 'holder');
    const veth = await endpointVeth('td', 'holder');
    const status = await killedAfterAnswer('POST', '/networks/td/disconnect', { Container: 'holder' });
    assert.equal(status, 200, 'the client had its answer before the delete');
    const window = await linkState(veth);
    assert.ok(window === undefined || (window.master === undefined && window.operstate === 'DOWN'), `cut off at the answer: ${JSON.stringify(window)}`);
    daemon = await daemon.restart({ failpoints: [] });
    assert.equal(await linkState(veth), undefined, `${veth} is gone after the restart`);
    assert.doesNotMatch(await addressesIn('holder'), /10\.77\.0\.9/, 'the container no longer has the address');
    assert.deepEqual(Object.keys(JSON.parse(await daemon.ok('network', 'inspect', '-f', '{{json .Containers}}', 'td')) as object), []);
    assert.deepEqual(await invariantViolations(daemon, { reachability: true }), [], daemon.log());
    await daemon.ok('network', 'connect', '--ip', '10.77.0.9', 'td', 'holder');
    assert.match(await addressesIn('holder'), /10\.77\.0\.9\//, 'the address is free again');
    await daemon.ok('network', 'disconnect', 'td', 'holder');
  });

  it('rm -f of a running container: the restart deletes the veth and frees the address', async () => {
    await daemon.ok('run', '-d', '--name', 'doomed', '--network', 'td', '--ip', '10.77.0.10', 'busybox', 'sleep', '600');
    const veth = await endpointVeth('td', 'doomed');
    // The delete starts while runc still removes the container (both at once), so the kill may come before the answer.
    const status = await killedAfterAnswer('DELETE', '/containers/doomed?force=1');
    assert.ok(status === 204 || status === 0, `answered or cut short, nothing else: ${status}`);
    daemon = await daemon.restart({ failpoints: [] });
    assert.equal(await linkState(veth), undefined, `${veth} is gone after the restart`);
    assert.deepEqual(await invariantViolations(daemon), [], daemon.log());
    if (status === 0) await daemon.ok('rm', '-f', 'doomed');
    assert.equal((await daemon.docker('inspect', 'doomed')).code, 1, 'the container is gone');
    await daemon.ok('run', '-d', '--name', 'again', '--network', 'td', '--ip', '10.77.0.10', 'busybox', 'sleep', '600');
    await daemon.ok('rm', '-f', 'again');
  });
});

describe('links deleted after the answer, without a kill', () => {
  it('a static address still held by a link being deleted is waited for; a reconnect gets a fresh interface', async () => {
    const connect = (ip?: string) =>
      daemon.http(
        'POST',
        '/networks/td/connect',
        JSON.stringify({ Container: 'holder', ...(ip === undefined ? {} : { EndpointConfig: { IPAMConfig: { IPv4Address: ip } } }) }),
      );
    const disconnect = () => daemon.http('POST', '/networks/td/disconnect', JSON.stringify({ Container: 'holder' }));
    for (let round = 0; round < 5; round++) {
      assert.equal((await connect('10.77.0.20')).status, 200);
      assert.equal((await disconnect()).status, 200);
    }
    // Dynamic: back at once, on an interface of its own beside the one still being deleted.
    assert.equal((await connect()).status, 200);
    assert.equal((await disconnect()).status, 200);
    assert.equal((await connect()).status, 200);
    await backgroundTeardownsDone(daemon);
    const inside = await addressesIn('holder');
    assert.equal(inside.match(/10\.77\.0\./g)?.length, 1, `one address on td: ${inside}`);
    const peer = await daemon.ok('run', '-d', '--network', 'td', 'busybox', 'sleep', '600');
    const ip = (await daemon.ok('inspect', '-f', '{{(index .NetworkSettings.Networks "td").IPAddress}}', 'holder')).trim();
    assert.equal((await daemon.docker('exec', peer.trim(), 'ping', '-c', '1', '-W', '2', ip)).code, 0, 'the reconnected interface carries traffic');
    await daemon.ok('rm', '-f', peer.trim());
    assert.equal((await disconnect()).status, 200);
    assert.deepEqual(await invariantViolations(daemon), [], daemon.log());
  });

  it('network rm right after the last member left: no veth is left when it answers', async () => {
    await daemon.ok('network', 'create', 'td-gone');
    await daemon.ok('network', 'connect', 'td-gone', 'holder');
    assert.equal((await daemon.http('POST', '/networks/td-gone/disconnect', JSON.stringify({ Container: 'holder' }))).status, 200);
    assert.equal((await daemon.http('DELETE', '/networks/td-gone')).status, 204);
    assert.deepEqual(
      (await worldLinks()).filter((link) => link.startsWith('veth')),
      [await endpointVeth('bridge', 'holder')],
      'only the holder’s default-bridge veth',
    );
  });
});
