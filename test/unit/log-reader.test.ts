/**
 * Following a container log across the end of its run: the shim's exit-status
 * ends it, and so does a restart that deletes the bundle and the log (runc
 * wants a fresh bundle) before the reader saw the exit: the reader still
 * gives the whole run it followed, and nothing of the next one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLog } from '../../src/runtime/log-reader.js';
import { encodeFrame } from '../../src/runtime/log-frames.js';

async function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text;
}

test('a followed run ends with its exit-status', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-log-'));
  try {
    const [logPath, exitStatusPath] = [join(dir, 'container.log'), join(dir, 'bundle', 'exit-status')];
    mkdirSync(join(dir, 'bundle'));
    writeFileSync(logPath, encodeFrame(1, Buffer.from('one\n')));
    const reading = collect(readLog({ logPath, exitStatusPath, tty: true, stdout: true, stderr: true, follow: true }));
    appendFileSync(logPath, encodeFrame(1, Buffer.from('two\n')));
    writeFileSync(exitStatusPath, '0');
    assert.equal(await reading, 'one\ntwo\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a restart that renews the log before the reader saw the exit: the run's last output still comes, the next run's does not", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-log-'));
  try {
    const [logPath, exitStatusPath] = [join(dir, 'container.log'), join(dir, 'bundle', 'exit-status')];
    mkdirSync(join(dir, 'bundle'));
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
