/**
 * docker logs with --timestamps, --since, --until, --tail and -f, and docker
 * wait's conditions (not-running, next-exit, removed) through the docker CLI
 * and the API, as dockerd 20.10 answers them. The container writes each line
 * when the test tells it to (a file it polls for), so the times between lines
 * are the test's own, never a guess.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const untilFile = (name: string) => `while [ ! -e /tmp/${name} ]; do sleep 0.1; done`;

/** Polls docker logs until the text is there (the container writes it in its own time). */
async function waitForLogs(name: string, text: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if ((await daemon.ok('logs', name)).includes(text)) return;
    await sleep(50);
  }
  assert.fail(`${name} never logged ${JSON.stringify(text)}`);
}

/** A request whose answer comes later: `accepted` settles when the daemon sent the headers (the wait is registered), `answer` with the body. */
function pendingRequest(method: string, path: string): { accepted: Promise<number>; answer: Promise<string> } {
  let accept: (status: number) => void = () => undefined;
  const accepted = new Promise<number>((resolve) => (accept = resolve));
  const answer = new Promise<string>((resolve, reject) => {
    const outgoing = request({ socketPath: daemon.socketPath, method, path }, (response) => {
      accept(response.statusCode ?? 0);
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
  return { accepted, answer };
}

test('docker logs: --timestamps in RFC 3339 with nanoseconds, --since and --until between lines, --tail before --since, -f ends with the container', async () => {
  await daemon.ok('run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', `echo one; ${untilFile('go')}; echo two >&2; ${untilFile('end')}; echo three`);
  await waitForLogs('talker', 'one');
  const between = Date.now();
  await sleep(20); // the shim's clock and ours are the same clock: "two" is read after this
  await daemon.ok('exec', 'talker', 'touch', '/tmp/go');
  for (let attempt = 0; attempt < 200 && !(await daemon.docker('logs', 'talker')).stderr.includes('two'); attempt++) await sleep(50);

  const stamped = await daemon.ok('logs', '-t', 'talker');
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{9})Z) one\n$/.exec(stamped);
  assert.ok(match !== null, `Docker's timestamp format: ${stamped}`);
  assert.ok(Date.parse(match[1]!) <= between, 'one was written before the mark');

  const sinceUnix = (between / 1000).toFixed(3);
  const afterMark = await daemon.docker('logs', '--since', sinceUnix, 'talker');
  assert.deepEqual([afterMark.stdout, afterMark.stderr], ['', 'two\n'], '--since as Unix seconds');
  const afterIso = await daemon.docker('logs', '--since', new Date(between).toISOString(), 'talker');
  assert.deepEqual([afterIso.stdout, afterIso.stderr], ['', 'two\n'], '--since as an RFC 3339 time');
  const beforeMark = await daemon.docker('logs', '--until', sinceUnix, 'talker');
  assert.deepEqual([beforeMark.stdout, beforeMark.stderr], ['one\n', ''], '--until');
  const following = await daemon.docker('logs', '-f', '--until', sinceUnix, 'talker');
  assert.equal(following.stdout, 'one\n', '-f with an --until already past ends at once, the container still running');

  const follower = daemon.docker('logs', '-f', 'talker');
  await daemon.ok('exec', 'talker', 'touch', '/tmp/end');
  const followed = await follower;
  assert.deepEqual([followed.code, followed.stdout, followed.stderr], [0, 'one\nthree\n', 'two\n'], '-f ended when the container stopped');

  assert.equal(await daemon.ok('logs', '--tail', '1', 'talker'), 'three\n');
  assert.equal(await daemon.ok('logs', '--tail', '0', 'talker'), '');
  assert.equal(await daemon.ok('logs', '--tail', '2', '--until', sinceUnix, 'talker'), '', '--tail counts before --until chooses');
  const all = await daemon.docker('logs', '--tail', 'all', '--since', '0', 'talker');
  assert.deepEqual([all.stdout, all.stderr], ['one\nthree\n', 'two\n']);

  const bad = await daemon.http('GET', '/v1.41/containers/talker/logs?stdout=1&since=abc');
  assert.deepEqual([bad.status, JSON.parse(bad.body)], [500, { message: 'strconv.ParseInt: parsing "abc": invalid syntax' }]);
  await daemon.ok('rm', 'talker');
});

test('docker wait: not-running answers an exited container at once; next-exit waits for the next run; removed for the removal', async () => {
  assert.equal((await daemon.docker('run', '--name', 'finished', 'busybox', 'sh', '-c', 'exit 3')).code, 3);
  assert.equal((await daemon.ok('wait', 'finished')).trim(), '3');
  const bogus = await daemon.http('POST', '/v1.41/containers/finished/wait?condition=bogus');
  assert.deepEqual([bogus.status, bogus.body], [200, '{"Error":null,"StatusCode":3}\n'], '20.10 reads an unknown condition as not-running');

  const nextExit = pendingRequest('POST', '/v1.41/containers/finished/wait?condition=next-exit');
  assert.equal(await nextExit.accepted, 200);
  await daemon.ok('start', 'finished');
  assert.equal(await nextExit.answer, '{"Error":null,"StatusCode":3}\n');

  await daemon.ok('run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '300');
  const removed = pendingRequest('POST', '/v1.41/containers/sleeper/wait?condition=removed');
  assert.equal(await removed.accepted, 200);
  await daemon.ok('kill', 'sleeper');
  assert.equal((await daemon.ok('wait', 'sleeper')).trim(), '137');
  await daemon.ok('rm', 'sleeper');
  assert.equal(await removed.answer, '{"Error":null,"StatusCode":137}\n', 'answered once removed, with the last exit code');

  await daemon.ok('create', '--name', 'never', 'busybox', 'true');
  const neverRun = pendingRequest('POST', '/v1.41/containers/never/wait?condition=removed');
  assert.equal(await neverRun.accepted, 200);
  await daemon.ok('rm', 'never');
  assert.equal(await neverRun.answer, '{"Error":null,"StatusCode":0}\n');
  const removedRun = await daemon.docker('run', '--rm', 'busybox', 'sh', '-c', 'exit 4');
  assert.equal(removedRun.code, 4, 'docker run --rm waits for the removal and exits with the code');
  await daemon.ok('rm', 'finished');
  assert.equal((await daemon.ok('ps', '-aq')).trim(), '');
});
