/**
 * Programs the daemon runs (kernel/exec.ts run), started by the addon's
 * posix_spawn (native/spawn.c): the same results and failures execFile gave
 * (output, stdin, exit codes in the error's cause, a missing program, a
 * timeout, a signal, big outputs), a child that starts clean (no descriptor
 * of the daemon's, no signal ignored or blocked), and no thread or zombie
 * left once the calls are done.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { assertInWorld } from '../helpers/world.js';
import { failureOf, run, type CommandFailure } from '../../src/kernel/exec.js';

assertInWorld();

async function failure(promise: Promise<unknown>): Promise<{ message: string; cause: CommandFailure }> {
  try {
    await promise;
  } catch (error) {
    return { message: (error as Error).message, cause: (error as Error).cause as CommandFailure };
  }
  assert.fail('the command should have failed');
}

/** The addon's own threads that watch a program (named skiff-spawn), still alive. */
const spawnThreads = () => readdirSync('/proc/self/task').filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'skiff-spawn').length;

describe('run: programs started by posix_spawn', () => {
  it('gives stdout and stderr, and feeds stdin', async () => {
    assert.deepEqual(await run('sh', ['-c', 'echo out; echo err >&2']), { stdout: 'out\n', stderr: 'err\n' });
    assert.equal((await run('cat', [], { input: 'line one\nline two\n' })).stdout, 'line one\nline two\n');
    assert.equal((await run('cat', [])).stdout, '', 'without input, stdin is at its end at once');
  });

  it('fails as execFile did: the command and its stderr in the message, the exit code or errno in the cause', async () => {
    const exited = await failure(run('sh', ['-c', 'echo "Device does not exist" >&2; exit 2']));
    assert.equal(exited.message, 'sh -c echo "Device does not exist" >&2; exit 2: Device does not exist');
    assert.equal(exited.cause.code, 2);
    const quiet = await failure(run('false', []));
    assert.equal(quiet.message, 'false : Command failed: false');
    assert.equal(quiet.cause.code, 1);
    const missing = await failure(run('skiff-no-such-program', ['x']));
    assert.equal(missing.message, 'skiff-no-such-program x: spawn skiff-no-such-program ENOENT');
    assert.equal(missing.cause.code, 'ENOENT');
    const killed = await failure(run('sh', ['-c', 'kill -KILL $$']));
    assert.equal(killed.cause.signal, 'SIGKILL');
  });

  it('kills a program that outlives its timeout', async () => {
    const slow = await failure(run('sleep', ['30'], { timeoutMs: 200 }));
    assert.match(slow.message, /killed after 200 ms/);
    assert.equal(slow.cause.killed, true);
  });

  it('carries outputs and inputs of megabytes', async () => {
    assert.equal((await run('head', ['-c', '8000000', '/dev/zero'])).stdout.length, 8_000_000);
    assert.equal((await run('wc', ['-c'], { input: 'x'.repeat(3_000_000) })).stdout.trim(), '3000000');
  });

  it('starts the program clean: only stdio open, no signal ignored or blocked', async () => {
    const held = openSync('/proc/self/status', 'r'); // a descriptor of the daemon's that must not leak
    try {
      // Each program reads its own /proc entry: a shell's would show the mask it sets around its own forks.
      const fds = (await run('ls', ['-1', '/proc/self/fd'])).stdout.split('\n').filter((line) => /^\d+$/.test(line));
      const status = (await run('cat', ['/proc/self/status'])).stdout;
      const [blocked, ignored] = [/SigBlk:\s*(\w+)/.exec(status)?.[1], /SigIgn:\s*(\w+)/.exec(status)?.[1]];
      assert.deepEqual(
        fds.filter((fd) => Number(fd) <= 2),
        ['0', '1', '2'],
      );
      assert.ok(!fds.includes(String(held)), `the daemon's descriptor ${held} reached the program (${fds.join(' ')})`);
      assert.equal(BigInt(`0x${blocked}`), 0n);
      // Signals 1-31 at their defaults (glibc keeps its own two real-time signals as they were, as libuv's children get them).
      assert.equal(BigInt(`0x${ignored}`) & 0x7fffffffn, 0n);
    } finally {
      closeSync(held);
    }
  });

  it('runs many at once and leaves no thread or zombie behind', async () => {
    const outputs = await Promise.all(Array.from({ length: 60 }, (_, index) => run('echo', [String(index)])));
    assert.deepEqual(
      outputs.map(({ stdout }) => Number(stdout)),
      Array.from({ length: 60 }, (_, index) => index),
    );
    for (let attempt = 0; attempt < 50 && spawnThreads() > 0; attempt++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(spawnThreads(), 0, 'each call’s thread has ended');
    const children = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .filter((pid) => {
        try {
          return new RegExp(`^PPid:\\s*${process.pid}$`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'));
        } catch {
          return false;
        }
      });
    assert.deepEqual(children, [], 'every child was reaped');
  });

  it('names the failure from the outcome alone (pure)', () => {
    const ended = { status: 0, signal: 0, timedOut: false, overflowed: false, spawnErrno: 0 };
    assert.equal(failureOf('true', [], ended, 1000), undefined);
    assert.equal(failureOf('x', [], { ...ended, spawnErrno: 13 }, 1000)?.message, 'spawn x EACCES');
    assert.equal(failureOf('x', ['a'], { ...ended, status: -1, signal: 15 }, 1000)?.signal, 'SIGTERM');
    assert.equal(failureOf('x', ['a'], { ...ended, status: 4 }, 1000)?.code, 4);
  });
});
