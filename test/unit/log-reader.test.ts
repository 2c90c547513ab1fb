/**
 * Following a container log across the end of its run: the shim's exit-status
 * ends it, and so does a restart that deletes the bundle and the log (runc
 * wants a fresh bundle) before the reader saw the exit: the reader still
 * gives the whole run it followed, and nothing of the next one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLog } from '../../src/runtime/log-reader.js';
import { encodeFrame } from '../../src/runtime/log-frames.js';

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text;
}

/** A container's log and its bundle directory in a scratch directory, removed after use. */
async function inLogDir(use: (paths: { dir: string; logPath: string; exitStatusPath: string }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-log-'));
  try {
    mkdirSync(join(dir, 'bundle'));
    await use({ dir, logPath: join(dir, 'container.log'), exitStatusPath: join(dir, 'bundle', 'exit-status') });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a followed run ends with its exit-status', async () => {
  await inLogDir(async ({ logPath, exitStatusPath }) => {
    writeFileSync(logPath, encodeFrame(1, Buffer.from('one\n')));
    const reading = collect(readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true }));
    appendFileSync(logPath, encodeFrame(1, Buffer.from('two\n')));
    writeFileSync(exitStatusPath, '0');
    assert.equal(await reading, 'one\ntwo\n');
  });
});

test("a restart that renews the log before the reader saw the exit: the run's last output still comes, the next run's does not", async () => {
  await inLogDir(async ({ logPath, exitStatusPath }) => {
    writeFileSync(logPath, encodeFrame(1, Buffer.from('first-run\n')));
    const chunks = readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true })[Symbol.asyncIterator]();
    const first = await chunks.next(); // the reader holds the run's log from here on
    appendFileSync(logPath, encodeFrame(1, Buffer.from('last-words\n')));
    // The restart: exit-status, bundle and log deleted, a new log begun, all before the reader's next poll.
    rmSync(logPath);
    writeFileSync(logPath, encodeFrame(1, Buffer.from('second-run\n')));
    let text = (first.value as Buffer).toString();
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) text += (next.value as Buffer).toString();
    assert.equal(text, 'first-run\nlast-words\n');
  });
});

/** The shim's rotation mark: an empty timed frame of stream 0, the last frame of a full file. */
const ROTATION_MARK = Buffer.from([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/** What the shim does when the current file is full: mark it, shift the kept ones, start a fresh one. */
function rotate(logPath: string, maxFile: number, next: string): void {
  appendFileSync(logPath, ROTATION_MARK);
  if (maxFile > 1) {
    for (let index = maxFile - 1; index >= 1; index--) {
      const from = index === 1 ? logPath : `${logPath}.${index - 1}`;
      if (existsSync(from)) renameSync(from, `${logPath}.${index}`);
    }
  }
  writeFileSync(`${logPath}.new`, encodeFrame(1, Buffer.from(next)));
  renameSync(`${logPath}.new`, logPath);
}

test('docker logs reads the rotated files oldest first, --tail across them; the mark is no output', async () => {
  await inLogDir(async ({ logPath, exitStatusPath }) => {
    writeFileSync(logPath, encodeFrame(1, Buffer.from('one\n')));
    rotate(logPath, 3, 'two\n');
    rotate(logPath, 3, 'thr');
    appendFileSync(logPath, encodeFrame(1, Buffer.from('ee\n')));
    const read = (tail?: number) =>
      collect(readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: false, ...(tail === undefined ? {} : { tail }) }));
    assert.equal(await read(), 'one\ntwo\nthree\n');
    assert.equal(await read(2), 'two\nthree\n');
    rotate(logPath, 3, 'four\n');
    assert.equal(await read(), 'two\nthree\nfour\n', 'the oldest beyond max-file is gone');
    assert.equal(await read(1), 'four\n');
  });
});

for (const maxFile of [1, 3]) {
  test(`a follower goes on in the fresh file after a rotation (max-file ${maxFile}), to the run's end`, async () => {
    await inLogDir(async ({ logPath, exitStatusPath }) => {
      writeFileSync(logPath, encodeFrame(1, Buffer.from('one\n')));
      const chunks = readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true })[Symbol.asyncIterator]();
      const first = await chunks.next(); // the reader holds the first file from here on
      appendFileSync(logPath, encodeFrame(1, Buffer.from('two\n')));
      rotate(logPath, maxFile, 'three\n');
      rotate(logPath, maxFile, 'four\n');
      writeFileSync(exitStatusPath, '0');
      let text = (first.value as Buffer).toString();
      for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) text += (next.value as Buffer).toString();
      // With one file kept, a reader two rotations behind has lost the file between (as with Docker's truncation).
      assert.equal(text, maxFile === 1 ? 'one\ntwo\nfour\n' : 'one\ntwo\nthree\nfour\n');
    });
  });

  test(`a follower of a rotated file ends at a restart, the next run's log unread (max-file ${maxFile})`, async () => {
    await inLogDir(async ({ dir, logPath, exitStatusPath }) => {
      writeFileSync(logPath, encodeFrame(1, Buffer.from('one\n')));
      const chunks = readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true })[Symbol.asyncIterator]();
      const first = await chunks.next();
      rotate(logPath, maxFile, 'two\n');
      // The restart, before the reader's next poll: bundle and logs deleted, a new bundle, a new log.
      rmSync(join(dir, 'bundle'), { recursive: true });
      for (const name of ['container.log', 'container.log.1', 'container.log.2']) rmSync(join(dir, name), { force: true });
      mkdirSync(join(dir, 'bundle'));
      writeFileSync(logPath, encodeFrame(1, Buffer.from('next-run\n')));
      let text = (first.value as Buffer).toString();
      for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) text += (next.value as Buffer).toString();
      assert.equal(text, 'one\n');
    });
  });
}

test("docker run's attach (all output, from offset 0) begins with the oldest kept file when the log rotated before it looked", async () => {
  await inLogDir(async ({ logPath, exitStatusPath }) => {
    writeFileSync(logPath, encodeFrame(1, Buffer.from('one\n')));
    rotate(logPath, 3, 'two\n');
    writeFileSync(exitStatusPath, '0');
    assert.equal(await collect(readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true, fromOffset: 0 })), 'one\ntwo\n');
  });
});

test('an attach whose offset was measured before a rotation begins with the fresh file, not mid-frame', async () => {
  await inLogDir(async ({ logPath, exitStatusPath }) => {
    writeFileSync(logPath, encodeFrame(1, Buffer.from('one two three four\n')));
    const fromOffset = 23; // measured, then the log rotated
    rotate(logPath, 3, 'five\n');
    writeFileSync(exitStatusPath, '0');
    assert.equal(await collect(readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true, fromOffset })), 'five\n');
  });
});
