/**
 * The test runner's sweep for containers a killed world left frozen
 * (helpers/frozen-leftovers.ts), on a real cgroup v1 freezer: a frozen
 * process with SIGKILL pending is thawed (so it dies) and its cgroup removed;
 * a frozen one nobody killed (a paused container of a live daemon) is left
 * as it is.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld } from '../helpers/world.js';
import { killPending, thawCondemned } from '../helpers/frozen-leftovers.js';

assertInWorld();

const FREEZER = '/sys/fs/cgroup/freezer/skiff';
const v1Freezer = existsSync('/sys/fs/cgroup/freezer');
const made: string[] = [];

/** A sleeping process in a new frozen cgroup of its own under skiff's freezer. */
async function frozenSleeper(): Promise<{ child: ChildProcess; cgroup: string; id: string }> {
  const id = randomBytes(32).toString('hex');
  const cgroup = join(FREEZER, id);
  mkdirSync(cgroup, { recursive: true });
  made.push(cgroup);
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  writeFileSync(join(cgroup, 'cgroup.procs'), String(child.pid));
  writeFileSync(join(cgroup, 'freezer.state'), 'FROZEN');
  for (let attempt = 0; attempt < 100 && readFileSync(join(cgroup, 'freezer.state'), 'utf8').trim() !== 'FROZEN'; attempt++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  return { child, cgroup, id };
}

const exited = (child: ChildProcess) => new Promise((resolve) => child.once('exit', resolve));

after(async () => {
  for (const cgroup of made.filter(existsSync)) {
    writeFileSync(join(cgroup, 'freezer.state'), 'THAWED');
    for (const pid of readFileSync(join(cgroup, 'tasks'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    for (let attempt = 0; attempt < 100 && readFileSync(join(cgroup, 'tasks'), 'utf8') !== ''; attempt++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    rmdirSync(cgroup);
  }
});

describe('containers left frozen by a killed world', { skip: v1Freezer ? false : 'no cgroup v1 freezer here' }, () => {
  it('reads SIGKILL among the pending signals', () => {
    assert.equal(killPending('SigPnd:\t0000000000000000\nShdPnd:\t0000000000000100\n'), true);
    assert.equal(killPending('SigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\n'), true);
    assert.equal(killPending('SigPnd:\t0000000000004000\nShdPnd:\t0000000000000000\n'), false, 'SIGTERM is not SIGKILL');
  });

  it('thaws a frozen process that was killed, which then dies, and removes its cgroup', async () => {
    const { child, cgroup, id } = await frozenSleeper();
    const gone = exited(child);
    child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(child.exitCode, null, 'frozen, it cannot die yet');
    assert.ok(killPending(readFileSync(`/proc/${child.pid}/status`, 'utf8')));
    const thawed = await thawCondemned();
    assert.ok(thawed.includes(id), `thawed ${thawed.join(', ')}`);
    await gone;
    assert.equal(existsSync(cgroup), false);
  });

  it('leaves a frozen process nobody killed (a paused container) frozen', async () => {
    const { child, cgroup, id } = await frozenSleeper();
    assert.equal((await thawCondemned()).includes(id), false);
    assert.equal(readFileSync(join(cgroup, 'freezer.state'), 'utf8').trim(), 'FROZEN');
    assert.equal(child.exitCode, null);
  });
});
