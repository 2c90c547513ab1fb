/**
 * The daemon's log: one line per event on stderr, with a timestamp and a
 * level, in logrus's shapes as dockerd writes them, so journald, a file or a
 * log shipper set up for dockerd reads skiff's lines the same way:
 *   text: time="2024-05-01T10:00:00.123456789Z" level=info msg="API listen on /run/skiff/skiff.sock"
 *   json: {"level":"info","msg":"API listen on /run/skiff/skiff.sock","time":"2024-05-01T10:00:00.123456789Z"}
 * The level can change while the daemon runs (SIGHUP reload).
 */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, fatal: 4 };
/** logrus prints warn as "warning". */
const printed: Record<LogLevel, string> = { debug: 'debug', info: 'info', warn: 'warning', error: 'error', fatal: 'fatal' };

/** RFC 3339 with nanoseconds, as logrus's RFC3339Nano (Node has milliseconds: the rest is zeros). */
function timestamp(now: Date): string {
  return now.toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** Go's %q-like quoting of a logrus text value: backslash and double quote escaped, newlines as \n. */
function quoted(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function formatLine(format: LogFormat, level: LogLevel, message: string, now: Date): string {
  const time = timestamp(now);
  if (format === 'json') return `${JSON.stringify({ level: printed[level], msg: message, time })}\n`;
  return `time=${quoted(time)} level=${printed[level]} msg=${quoted(message)}\n`;
}

export class Logger {
  constructor(
    private level: LogLevel = 'info',
    private readonly format: LogFormat = 'text',
    private readonly write: (line: string) => void = (line) => {
      process.stderr.write(line);
    },
  ) {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  get currentLevel(): LogLevel {
    return this.level;
  }

  log(level: LogLevel, message: string): void {
    if (rank[level] < rank[this.level]) return;
    this.write(formatLine(this.format, level, message, new Date()));
  }

  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warn(message: string): void {
    this.log('warn', message);
  }
  error(message: string): void {
    this.log('error', message);
  }
}
