/**
 * json-file's --log-opt max-size / max-file as dockerd 20.10 carries them out:
 * the log rotates into container.log.1 …, at most max-file files kept;
 * docker logs (and --tail) reads across them, oldest first; a follower
 * started before the rotations gets every line after; what skiff does not
 * carry out is refused by name. The container writes each batch of lines
 * only when the test tells it the follower has the last one (a file it
 * polls for), so no follower falls behind by the kept files, whatever the
 * machine's load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld } from '../helpers/world.js';
import { busyboxDaemonForFile, importBusybox, startDaemon } from '../helpers/daemon.js';
import { decodeFrames } from '../../src/runtime/log-frames.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// A batch (~450 bytes) is less than half of max-size: it rotates the log once at most, so a follower holding
// the file before never finds the one after already rotated away, even with max-file 1.
const BATCHES = 30;
const LINES = 8;
/** Lines of ~50 bytes: 1k holds about 20 of them, however the shim's reads group them. */
const PAD = 'x'.repeat(40);

/** What the container writes: "first", then its batches of lines, then "last". */
const expectedLines = (): string[] => {
  const lines = ['first'];
  for (let batch = 0; batch < BATCHES; batch++) for (let line = 0; line < LINES; line++) lines.push(`b${batch}-l${line}-${PAD}`);
  return [...lines, 'last'];
};

const script = [
  'echo first',
  'b=0',
  `while [ $b -lt ${BATCHES} ]; do`,
  '  while [ ! -e /tmp/go-$b ]; do sleep 0.05; done',
  `  l=0; while [ $l -lt ${LINES} ]; do echo b$b-l$l-${PAD}; l=$((l+1)); done`,
  '  b=$((b+1))',
  'done',
  `while [ ! -e /tmp/go-${BATCHES} ]; do sleep 0.05; done`,
  'echo last',
].join('\n');

/** docker logs -f over the API: the stdout text so far, and the end of the stream. */
function follow(name: string): { text: () => string; ended: Promise<void> } {
  let received = Buffer.alloc(0);
  const ended = new Promise<void>((resolve, reject) => {
    const outgoing = request(
      { socketPath: daemon.socketPath, method: 'GET', path: `/v1.41/containers/${name}/logs?follow=1&stdout=1&stderr=1` },
      (response) => {
        response.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
        response.on('end', () => resolve());
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
  const text = () =>
    decodeFrames(received)
      .records.map((record) => record.data.toString())
      .join('');
  return { text, ended };
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (check()) return;
    await sleep(50);
  }
  assert.fail(`never: ${what}`);
}

async function rotatingRun(name: string, maxFile: string): Promise<void> {
  const id = (
    await daemon.ok('run', '-d', '--name', name, '--log-opt', 'max-size=1k', '--log-opt', `max-file=${maxFile}`, 'busybox', 'sh', '-c', script)
  ).trim();
  const follower = follow(name);
  await until('the follower got "first"', () => follower.text() === 'first\n');
  for (let batch = 0; batch <= BATCHES; batch++) {
    await daemon.ok('exec', name, 'touch', `/tmp/go-${batch}`);
    const lastOfBatch = batch < BATCHES ? `b${batch}-l${LINES - 1}-${PAD}\n` : 'last\n';
    await until(`the follower got ${lastOfBatch.trim()}`, () => follower.text().endsWith(lastOfBatch));
  }
  await follower.ended;
  const all = expectedLines();
  assert.equal(follower.text(), all.map((line) => `${line}\n`).join(''), 'a follower from the start sees every line, in order, across the rotations');

  const files = readdirSync(join(daemon.dataRoot, 'containers', id)).filter((entry) => entry.startsWith('container.log'));
  assert.ok(files.length <= Number(maxFile), `at most max-file files: ${files.join(' ')}`);
  assert.ok(files.includes('container.log'));

  const kept = (await daemon.ok('logs', name)).split('\n').slice(0, -1);
  assert.ok(kept.length > 0 && kept.length < all.length, `the oldest lines were rotated away: ${kept.length} of ${all.length} kept`);
  assert.deepEqual(kept, all.slice(-kept.length), 'docker logs shows the latest lines, in order');
  // A file ends at the first line end at or past 1k: one holds at most 21 of these lines, two full ones at least 38.
  if (Number(maxFile) > 1) assert.ok(kept.length > 30, `the rotated files are read too: ${kept.length}`);
  const tail = Math.min(kept.length, 50);
  assert.equal(
    await daemon.ok('logs', '--tail', String(tail), name),
    all
      .slice(-tail)
      .map((line) => `${line}\n`)
      .join(''),
    '--tail across files',
  );

  const logConfig = JSON.parse(await daemon.ok('inspect', '-f', '{{json .HostConfig.LogConfig}}', name)) as unknown;
  assert.deepEqual(logConfig, { Type: 'json-file', Config: { 'max-size': '1k', 'max-file': maxFile } });
}

test('--log-opt max-size=1k max-file=3: rotated files, docker logs and --tail across them, a follower across rotations', async () => {
  await rotatingRun('rotating', '3');
  const id = (await daemon.ok('inspect', '-f', '{{.Id}}', 'rotating')).trim();
  await daemon.ok('rm', 'rotating');
  assert.deepEqual(
    readdirSync(join(daemon.dataRoot, 'containers')).filter((entry) => entry === id),
    [],
    'removal removes the rotated files with the rest',
  );
});

test('--log-opt max-size=1k max-file=1: the full file replaced, a follower goes on in the new one', async () => {
  await rotatingRun('single', '1');
  await daemon.ok('rm', 'single');
});

test('--log-opt values refused with Docker words; keys skiff does not carry out refused by name', async () => {
  const refused = async (options: string[], message: string) => {
    const result = await daemon.docker('create', ...options.flatMap((option) => ['--log-opt', option]), 'busybox', 'true');
    assert.notEqual(result.code, 0, `${options.join(' ')} refused`);
    assert.ok(result.stderr.includes(message), `${options.join(' ')}: ${result.stderr}`);
  };
  await refused(['foo=bar'], "unknown log opt 'foo' for json-file log driver");
  await refused(['max-size=10x'], "failed to initialize logging driver: invalid size: '10x'");
  await refused(['max-size=0'], 'failed to initialize logging driver: max-size must be a positive number');
  await refused(['max-size=1k', 'max-file=0'], 'failed to initialize logging driver: max-file cannot be less than 1');
  await refused(['max-size=1k', 'max-file=x'], 'failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax');
  await refused(['max-size=1k', 'max-file=2', 'compress=true'], 'skiff does not support --log-opt compress=true');
  await refused(['tag={{.Name}}'], 'skiff does not support --log-opt tag');
  await refused(['labels=a'], 'skiff does not support --log-opt labels');
  // Docker ignores max-file without max-size, as it does compress=false.
  const accepted = (await daemon.ok('create', '--name', 'unrotated', '--log-opt', 'max-file=2', '--log-opt', 'compress=false', 'busybox', 'true')).trim();
  assert.match(accepted, /^[0-9a-f]{64}$/);
  assert.equal(await daemon.ok('inspect', '-f', '{{json .HostConfig.LogConfig.Config}}', 'unrotated'), '{"compress":"false","max-file":"2"}\n');
  assert.equal((await daemon.ok('start', '-a', 'unrotated')).trim(), '');
  await daemon.ok('rm', 'unrotated');
});

test("the daemon's --log-opt: containers get the options they do not give themselves, and their logs rotate", async () => {
  const defaults = await startDaemon({ extraArgs: ['--log-opt', 'max-size=1k', '--log-opt', 'max-file=2'] });
  try {
    await importBusybox(defaults);
    const config = async (name: string) => JSON.parse(await defaults.ok('inspect', '-f', '{{json .HostConfig.LogConfig.Config}}', name)) as unknown;
    const lines = `i=0; while [ $i -lt 200 ]; do echo line-$i-${PAD}; i=$((i+1)); done`;
    const id = (await defaults.ok('run', '-d', '--name', 'plain', 'busybox', 'sh', '-c', lines)).trim();
    await defaults.ok('wait', 'plain');
    assert.equal(
      await defaults.ok('inspect', '-f', '{{json .HostConfig.LogConfig}}', 'plain'),
      '{"Type":"json-file","Config":{"max-file":"2","max-size":"1k"}}\n',
      'shown merged, as dockerd does',
    );
    const files = readdirSync(join(defaults.dataRoot, 'containers', id)).filter((entry) => entry.startsWith('container.log'));
    assert.deepEqual(files.sort(), ['container.log', 'container.log.1'], "rotated with the daemon's options");
    const kept = (await defaults.ok('logs', 'plain')).split('\n').slice(0, -1);
    assert.equal(kept.at(-1), `line-199-${PAD}`);
    assert.ok(kept.length < 200, `rotated away: ${kept.length} kept`);
    await defaults.ok('create', '--name', 'own', '--log-opt', 'max-file=3', 'busybox', 'true');
    assert.deepEqual(await config('own'), { 'max-size': '1k', 'max-file': '3' }, "the container's own wins");
  } finally {
    await defaults.cleanup();
  }
});

test("a restart keeps the log, as dockerd's json-file does: each run's output in order, rotated files and all", async () => {
  await daemon.ok('run', '--name', 'again', 'busybox', 'sh', '-c', 'echo run-$(cat /proc/uptime | cut -d. -f1)-$$; echo done');
  await daemon.ok('start', '-a', 'again');
  await daemon.ok('restart', 'again');
  await daemon.ok('wait', 'again');
  const runs = (await daemon.ok('logs', 'again')).split('\n').filter((line) => line === 'done');
  assert.equal(runs.length, 3, 'three runs, three "done"');
  // A rotating log goes on from where the last run left it: the files stay within max-file.
  await daemon.ok(
    'run',
    '--name',
    'again-rotating',
    '--log-opt',
    'max-size=1k',
    '--log-opt',
    'max-file=2',
    'busybox',
    'sh',
    '-c',
    `i=0; while [ $i -lt 30 ]; do echo $i-${PAD}; i=$((i+1)); done`,
  );
  await daemon.ok('start', '-a', 'again-rotating');
  const id = (await daemon.ok('inspect', '-f', '{{.Id}}', 'again-rotating')).trim();
  const files = readdirSync(join(daemon.dataRoot, 'containers', id)).filter((entry) => entry.startsWith('container.log'));
  assert.deepEqual(files.sort(), ['container.log', 'container.log.1']);
  const kept = (await daemon.ok('logs', 'again-rotating')).split('\n').slice(0, -1);
  assert.equal(kept.at(-1), `29-${PAD}`, 'the second run ends the log');
  assert.ok(kept.length < 60, `the oldest lines rotated away (${kept.length} of 60 kept)`);
  await daemon.ok('rm', 'again', 'again-rotating');
});
