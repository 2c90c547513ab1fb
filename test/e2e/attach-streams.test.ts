/**
 * What an attached socket carries, as Docker 20.10 decides it; the causes of
 * compose's flaky one-off runs (COMPOSE_INTERACTIVE_NO_CLI, dockerpty):
 * dockerpty attaches stdin, stdout and stderr on three sockets and never
 * reads the stdin one, so output sent there was lost; and it starts an
 * exited one-off again, so an attach to an exited container must follow its
 * next run (Docker's attach waits for it), not replay the old run's log
 * right behind the 101 (docker-py takes the raw socket from under its HTTP
 * reader, and bytes that came with the headers are lost).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

/** Opens a hijacked attach connection; resolves with the socket once the 101 came. */
function attach(id: string, query: string): Promise<{ received: () => Buffer; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const upgrade = request({
      socketPath: daemon.socketPath,
      method: 'POST',
      path: `/v1.41/containers/${id}/attach?${query}`,
      headers: { Connection: 'Upgrade', Upgrade: 'tcp', 'Content-Type': 'text/plain' },
    });
    upgrade.on('upgrade', (response, socket, head) => {
      assert.equal(response.statusCode, 101);
      const chunks: Buffer[] = [head];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      const ended = new Promise<void>((done) => socket.on('close', () => done()));
      resolve({ received: () => Buffer.concat(chunks), ended });
    });
    upgrade.on('error', reject);
    upgrade.end();
  });
}

/** The payload of Docker's multiplexed frames (8-byte header: stream, 0, 0, 0, length). */
function payload(frames: Buffer): string {
  let text = '';
  for (let at = 0; at + 8 <= frames.length;) {
    const length = frames.readUInt32BE(at + 4);
    text += frames.subarray(at + 8, at + 8 + length).toString();
    at += 8 + length;
  }
  return text;
}

test('an attach that asks for stdin only gets no output; the stdout and stderr sockets get their own stream', async () => {
  const id = (await daemon.ok('create', '-i', 'busybox', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2')).trim();
  const [stdin, stdout, stderr] = await Promise.all([attach(id, 'stdin=1&stream=1'), attach(id, 'stdout=1&stream=1'), attach(id, 'stderr=1&stream=1')]);
  await daemon.ok('start', id);
  await Promise.all([stdout.ended, stderr.ended]);
  assert.equal(payload(stdout.received()), 'to-stdout\n');
  assert.equal(payload(stderr.received()), 'to-stderr\n');
  await daemon.ok('wait', id);
  await daemon.ok('rm', '-f', id);
  await stdin.ended;
  assert.equal(stdin.received().length, 0, 'nothing on the stdin socket');
});

test("an attach to an exited container follows its next run: docker start -a shows the new run's output only", async () => {
  // Each run prints a nonce of its own.
  const id = (await daemon.ok('create', 'busybox', 'sh', '-c', 'echo run-$(cat /proc/sys/kernel/random/uuid)')).trim();
  const first = (await daemon.ok('start', '-a', id)).trim();
  const second = (await daemon.ok('start', '-a', id)).trim();
  assert.match(first, /^run-[0-9a-f-]{36}$/);
  assert.match(second, /^run-[0-9a-f-]{36}$/);
  assert.notEqual(second, first, 'the second start -a shows the second run, not the first replayed');
  const attached = await attach(id, 'stdout=1&stream=1');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(attached.received().length, 0, 'nothing before the start: the old runs are not replayed');
  await daemon.ok('start', id);
  await attached.ended;
  const third = payload(attached.received()).trim();
  assert.match(third, /^run-[0-9a-f-]{36}$/);
  assert.ok(third !== first && third !== second, 'the run started after the attach');
  await daemon.ok('rm', '-f', id);
});
