/** Restart policies as Docker's restart manager decides them: which exits bring a container back, and the back-off between starts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkRestartPolicy, nextRestartDelay, shouldRestart } from '../../src/containers/restart-policy.js';
import type { RestartPolicy } from '../../src/model/container.js';

const policy = (name: RestartPolicy['name'], maximumRetryCount = 0): RestartPolicy => ({ name, maximumRetryCount });
const exit = (exitCode: number, restartCount = 0, manuallyStopped = false) => ({ exitCode, restartCount, manuallyStopped });

describe('restart policy', () => {
  it('is checked with Docker messages; an empty name is "no"', () => {
    assert.deepEqual(checkRestartPolicy('', 0), policy('no'));
    assert.deepEqual(checkRestartPolicy('on-failure', 3), policy('on-failure', 3));
    assert.throws(() => checkRestartPolicy('always', 2), /maximum retry count cannot be used with restart policy 'always'/);
    assert.throws(() => checkRestartPolicy('on-failure', -1), /maximum retry count cannot be negative/);
    assert.throws(() => checkRestartPolicy('sometimes', 0), /invalid restart policy 'sometimes'/);
  });

  it('decides which exits are followed by a start', () => {
    assert.equal(shouldRestart(policy('no'), exit(1)), false);
    assert.equal(shouldRestart(policy('always'), exit(0, 0, true)), true, 'always: even after a stop (the daemon restart case)');
    assert.equal(shouldRestart(policy('unless-stopped'), exit(0)), true);
    assert.equal(shouldRestart(policy('unless-stopped'), exit(137, 0, true)), false, 'stopped by the user stays down');
    assert.equal(shouldRestart(policy('on-failure'), exit(0)), false, 'a clean exit is no failure');
    assert.equal(shouldRestart(policy('on-failure'), exit(1, 50)), true, 'no maximum');
    assert.equal(shouldRestart(policy('on-failure', 2), exit(1, 1)), true);
    assert.equal(shouldRestart(policy('on-failure', 2), exit(1, 2)), false, 'the maximum reached');
  });

  it('backs off from 100 ms, doubling to a minute, and starts over after a run of 10 s', () => {
    const delays: number[] = [];
    let delay = 0;
    for (let i = 0; i < 12; i++) delays.push((delay = nextRestartDelay(delay, 50)));
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
    assert.equal(nextRestartDelay(60000, 10_000), 100);
    assert.equal(nextRestartDelay(800, 9_999), 1600);
  });
});
