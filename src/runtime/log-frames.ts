/**
 * Docker's stream framing, used both on the wire (attach, logs, exec without a
 * tty) and in the container log file the shim writes: an 8-byte header
 * (stream byte 1 = stdout / 2 = stderr, three zero bytes, uint32 big-endian
 * payload length) followed by the payload. In the log file the shim sets the
 * second byte to 1 and puts the time the output was read (uint64 big-endian
 * Unix nanoseconds) between header and payload; frames of older shims have none.
 * An empty frame of stream 0 ends a file the shim rotated (see skiff-shim.c).
 */
export type StreamId = 1 | 2;

export interface LogRecord {
  stream: StreamId;
  data: Buffer;
  /** When the shim read it, Unix nanoseconds; undefined in frames written without a time. */
  time?: bigint;
}

export function encodeFrame(stream: StreamId, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/**
 * Splits whole frames off the front of buffer; rest is an incomplete frame to
 * keep; rotated: the last whole frame was the rotation mark.
 */
export function decodeFrames(buffer: Buffer): { records: LogRecord[]; rest: Buffer; rotated?: true } {
  const records: LogRecord[] = [];
  let rotated = false;
  let offset = 0;
  while (buffer.length - offset >= 8) {
    const length = buffer.readUInt32BE(offset + 4);
    const timed = buffer[offset + 1] === 1;
    const headerLength = timed ? 16 : 8;
    if (buffer.length - offset - headerLength < length) break;
    rotated = buffer[offset] === 0;
    if (!rotated) {
      const stream = buffer[offset] === 2 ? 2 : 1;
      const data = buffer.subarray(offset + headerLength, offset + headerLength + length);
      records.push(timed ? { stream, data, time: buffer.readBigUInt64BE(offset + 8) } : { stream, data });
    }
    offset += headerLength + length;
  }
  return rotated ? { records, rest: buffer.subarray(offset), rotated } : { records, rest: buffer.subarray(offset) };
}

/**
 * Regroups records into lines per stream (as Docker's log drivers store them),
 * so `--tail N` counts lines; a line has the time of its first piece; a final
 * partial line of a stream is kept as is.
 */
export function splitLines(records: readonly LogRecord[]): LogRecord[] {
  const lines: LogRecord[] = [];
  const pending: Record<StreamId, { pieces: Buffer[]; time?: bigint }> = { 1: { pieces: [] }, 2: { pieces: [] } };
  const take = (stream: StreamId) => {
    const { pieces, time } = pending[stream];
    pending[stream] = { pieces: [] };
    const data = Buffer.concat(pieces);
    return time === undefined ? { stream, data } : { stream, data, time };
  };
  for (const record of records) {
    let start = 0;
    while (start < record.data.length) {
      const newline = record.data.indexOf(10, start);
      const end = newline < 0 ? record.data.length : newline + 1;
      const open = pending[record.stream];
      if (open.pieces.length === 0) open.time = record.time;
      open.pieces.push(record.data.subarray(start, end));
      if (newline >= 0) lines.push(take(record.stream));
      start = end;
    }
  }
  for (const stream of [1, 2] as const) {
    if (pending[stream].pieces.length > 0) lines.push(take(stream));
  }
  return lines;
}

/** Docker's time of a log line (RFC 3339 with nine fixed digits of nanoseconds, UTC, jsonmessage.RFC3339NanoFixed). */
export function formatLogTime(time: bigint | undefined): string {
  if (time === undefined) return '0001-01-01T00:00:00.000000000Z';
  const seconds = new Date(Number(time / 1_000_000_000n) * 1000).toISOString().slice(0, 19);
  return `${seconds}.${String(time % 1_000_000_000n).padStart(9, '0')}Z`;
}

/** The records a reader asked for, framed (no tty) or raw (tty), each prefixed with its time for --timestamps. */
export function renderRecords(records: readonly LogRecord[], options: { stdout: boolean; stderr: boolean; tty: boolean; timestamps?: boolean }): Buffer {
  const wanted = records.filter((record) => (record.stream === 1 ? options.stdout : options.stderr));
  return Buffer.concat(
    wanted.map((record) => {
      const data = options.timestamps === true ? Buffer.concat([Buffer.from(`${formatLogTime(record.time)} `), record.data]) : record.data;
      return options.tty ? data : encodeFrame(record.stream, data);
    }),
  );
}
