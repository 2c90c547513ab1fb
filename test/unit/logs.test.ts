/** docker logs and docker wait decisions: timed log frames, lines with their times, Docker's --timestamps format, since/until as dockerd reads them, wait conditions. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrames, formatLogTime, renderRecords, splitLines } from '../../src/runtime/log-frames.js';
import { unixNanosOf } from '../../src/model/timestamps.js';
import { waitCondition } from '../../src/containers/wait.js';

/** A frame as the shim writes it: stream, 1, 0, 0, length, the time, the payload. */
function timedFrame(stream: 1 | 2, text: string, time: bigint): Buffer {
  const header = Buffer.alloc(16);
  header[0] = stream;
  header[1] = 1;
  header.writeUInt32BE(Buffer.byteLength(text), 4);
  header.writeBigUInt64BE(time, 8);
  return Buffer.concat([header, Buffer.from(text)]);
}

describe('timed log frames', () => {
  it("decodes the shim's timed frames beside older untimed ones, keeping an incomplete one", () => {
    const untimed = Buffer.from([1, 0, 0, 0, 0, 0, 0, 3, 0x6f, 0x6c, 0x64]);
    const bytes = Buffer.concat([untimed, timedFrame(2, 'new\n', 5n), timedFrame(1, 'cut', 6n).subarray(0, 17)]);
    const { records, rest } = decodeFrames(bytes);
    assert.deepEqual(
      records.map((record) => [record.stream, record.data.toString(), record.time]),
      [
        [1, 'old', undefined],
        [2, 'new\n', 5n],
      ],
    );
    assert.equal(rest.length, 17);
  });

  it('gives a line the time of its first piece', () => {
    const lines = splitLines([
      { stream: 1, data: Buffer.from('a\nb'), time: 1n },
      { stream: 1, data: Buffer.from('c\n'), time: 2n },
    ]);
    assert.deepEqual(
      lines.map((line) => [line.data.toString(), line.time]),
      [
        ['a\n', 1n],
        ['bc\n', 1n],
      ],
    );
  });

  it("puts Docker's RFC 3339 time with nine digits before each line for --timestamps", () => {
    assert.equal(formatLogTime(1_764_393_269_387_738_661n), '2025-11-29T05:14:29.387738661Z');
    assert.equal(formatLogTime(1_764_393_269_000_000_000n), '2025-11-29T05:14:29.000000000Z');
    assert.equal(formatLogTime(undefined), '0001-01-01T00:00:00.000000000Z');
    const rendered = renderRecords([{ stream: 1, data: Buffer.from('one\n'), time: 1_764_393_269_387_738_661n }], {
      stdout: true,
      stderr: true,
      tty: true,
      timestamps: true,
    });
    assert.equal(rendered.toString(), '2025-11-29T05:14:29.387738661Z one\n');
  });
});

describe('docker logs --since/--until as dockerd reads them', () => {
  it('reads Unix seconds with nanoseconds, and refuses the rest with strconv words', () => {
    assert.equal(unixNanosOf(''), undefined);
    assert.equal(unixNanosOf('0'), 0n);
    assert.equal(unixNanosOf('1764393269.5'), 1_764_393_269_500_000_000n);
    assert.equal(unixNanosOf('1764393269.000000001'), 1_764_393_269_000_000_001n);
    assert.throws(() => unixNanosOf('abc'), { status: 500, message: 'strconv.ParseInt: parsing "abc": invalid syntax' });
    assert.throws(() => unixNanosOf('1.x'), { message: 'strconv.ParseInt: parsing "x": invalid syntax' });
  });
});

describe('docker wait conditions', () => {
  it('reads next-exit and removed; anything else is not-running, without an error, as 20.10', () => {
    assert.equal(waitCondition('next-exit'), 'next-exit');
    assert.equal(waitCondition('removed'), 'removed');
    assert.equal(waitCondition(null), 'not-running');
    assert.equal(waitCondition('bogus'), 'not-running');
  });
});
