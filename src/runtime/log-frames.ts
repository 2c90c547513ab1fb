/**
 * Docker's stream framing, used both on the wire (attach, logs, exec without a
 * tty) and in the container log file the shim writes: an 8-byte header
 * (stream byte 1 = stdout / 2 = stderr, three zero bytes, uint32 big-endian
 * payload length) followed by the payload.
 */
export type StreamId = 1 | 2;

export interface LogRecord {
  stream: StreamId;
  data: Buffer;
}

export function encodeFrame(stream: StreamId, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** Splits whole frames off the front of buffer; rest is an incomplete frame to keep. */
export function decodeFrames(buffer: Buffer): { records: LogRecord[]; rest: Buffer } {
  const records: LogRecord[] = [];
  let offset = 0;
  while (buffer.length - offset >= 8) {
    const length = buffer.readUInt32BE(offset + 4);
    if (buffer.length - offset - 8 < length) break;
    const stream = buffer[offset] === 2 ? 2 : 1;
    records.push({ stream, data: buffer.subarray(offset + 8, offset + 8 + length) });
    offset += 8 + length;
  }
  return { records, rest: buffer.subarray(offset) };
}

/**
 * Regroups records into lines per stream (as Docker's log drivers store them),
 * so `--tail N` counts lines; a final partial line of a stream is kept as is.
 */
export function splitLines(records: readonly LogRecord[]): LogRecord[] {
  const lines: LogRecord[] = [];
  const pending: Record<StreamId, Buffer[]> = { 1: [], 2: [] };
  for (const record of records) {
    let start = 0;
    for (let i = record.data.indexOf(10); i >= 0; i = record.data.indexOf(10, start)) {
      pending[record.stream].push(record.data.subarray(start, i + 1));
      lines.push({ stream: record.stream, data: Buffer.concat(pending[record.stream]) });
      pending[record.stream] = [];
      start = i + 1;
    }
    if (start < record.data.length) pending[record.stream].push(record.data.subarray(start));
  }
  for (const stream of [1, 2] as const) {
    if (pending[stream].length > 0) lines.push({ stream, data: Buffer.concat(pending[stream]) });
  }
  return lines;
}

/** The records a reader asked for, framed (no tty) or raw (tty). */
export function renderRecords(records: readonly LogRecord[], options: { stdout: boolean; stderr: boolean; tty: boolean }): Buffer {
  const wanted = records.filter((record) => (record.stream === 1 ? options.stdout : options.stderr));
  return Buffer.concat(wanted.map((record) => (options.tty ? record.data : encodeFrame(record.stream, record.data))));
}
