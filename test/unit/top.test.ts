/** docker top's reading of ps: only the container's processes, the command with its spaces, thread lines with their process. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePsOutput } from '../../src/containers/top.js';

const PS = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root        4242    4240  0 10:01 ?        00:00:00 sleep 300
root           -       -  0 10:01 -        00:00:00 -
root        4243    4242  0 10:01 ?        00:00:00 sh -c echo hi there
`;

describe('docker top', () => {
  it("keeps the container's processes, the command whole, a thread line after its process", () => {
    const top = parsePsOutput(PS, [4242, 4243]);
    assert.deepEqual(top.titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(
      top.processes.map((process) => process.at(-1)),
      ['sleep 300', '-', 'sh -c echo hi there'],
    );
    assert.equal(parsePsOutput(PS, [1]).processes.length, 1, 'the thread line follows only its own process');
  });

  it('refuses ps output without a PID column', () => {
    assert.throws(() => parsePsOutput('USER CMD\nroot x\n', [1]), /Couldn't find PID field in ps output/);
  });
});
