/**
 * Times as Docker reads them from users (moby's api/types/time): a Go duration
 * counted back from now ("10m", "1h30m"), an RFC 3339 date or time (with or
 * without a zone; without one it is local time), or Unix seconds with
 * optional nanoseconds ("1700000000.5"). Pure; errors carry Go's words, which
 * dockerd answers with a 500.
 */
import { SkiffError } from '../errors.js';

const failure = (message: string) => new SkiffError('internal', message);

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds; undefined when Go would refuse the text. */
export function parseGoDuration(text: string): number | undefined {
  const match = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+|0)$/.exec(text);
  if (match === null) return undefined;
  let total = 0;
  for (const [, number = '', unit = ''] of match[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(number) * DURATION_UNITS[unit]!;
  return match[1] === '-' ? -total : total;
}

/** One piece of a Go time layout, as time.Parse walks it. */
type LayoutElement = { literal: string } | { number: '2006' | '01' | '02' | '15' | '04' | '05' } | { fraction: true } | { zone: true };

const LAYOUTS: Record<string, LayoutElement[]> = {};
function layout(text: string): LayoutElement[] {
  const cached = LAYOUTS[text];
  if (cached !== undefined) return cached;
  const elements: LayoutElement[] = [];
  for (const [piece] of text.matchAll(/2006|01|02|15|04|05|\.999999999|Z07:00|[^0-9.Z]+/g)) {
    if (piece === '.999999999') elements.push({ fraction: true });
    else if (piece === 'Z07:00') elements.push({ zone: true });
    else if (/^\d+$/.test(piece)) elements.push({ number: piece as '2006' });
    else elements.push({ literal: piece });
  }
  LAYOUTS[text] = elements;
  return elements;
}

const elementText = (element: LayoutElement) =>
  'literal' in element ? element.literal : 'number' in element ? element.number : 'zone' in element ? 'Z07:00' : '.999999999';

const quote = (text: string) => JSON.stringify(text);

/**
 * Go's time.Parse for the layouts GetTimestamp uses, in milliseconds since
 * the epoch (fractions kept); a value without a zone is taken in the local
 * zone, as time.ParseInLocation with the daemon's zone.
 */
export function parseGoTime(value: string, layoutText: string): number {
  const fields = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0, fraction: 0 };
  let zoneOffsetMinutes: number | undefined;
  let rest = value;
  const cannotParse = (element: LayoutElement) =>
    failure(`parsing time ${quote(value)} as ${quote(layoutText)}: cannot parse ${quote(rest)} as ${quote(elementText(element))}`);
  for (const element of layout(layoutText)) {
    if ('literal' in element) {
      if (!rest.startsWith(element.literal)) throw cannotParse(element);
      rest = rest.slice(element.literal.length);
    } else if ('number' in element) {
      // 2006 takes four digits, 15 one or two, the others exactly two.
      const pattern = element.number === '2006' ? /^\d{4}/ : element.number === '15' ? /^\d\d?/ : /^\d\d/;
      const digits = pattern.exec(rest)?.[0];
      if (digits === undefined) throw cannotParse(element);
      rest = rest.slice(digits.length);
      const key = ({ '2006': 'year', '01': 'month', '02': 'day', '15': 'hour', '04': 'minute', '05': 'second' } as const)[element.number];
      fields[key] = Number(digits);
      // Go reads a fraction right after the seconds even when the layout has none.
      const fraction = element.number === '05' ? /^[.,]\d+/.exec(rest)?.[0] : undefined;
      if (fraction !== undefined) {
        fields.fraction = Number(`0.${fraction.slice(1)}`);
        rest = rest.slice(fraction.length);
      }
    } else if ('fraction' in element) {
      const fraction = /^[.,]\d+/.exec(rest)?.[0];
      if (fraction !== undefined) {
        fields.fraction = Number(`0.${fraction.slice(1)}`);
        rest = rest.slice(fraction.length);
      }
    } else if (rest.startsWith('Z')) {
      zoneOffsetMinutes = 0;
      rest = rest.slice(1);
    } else {
      const zone = /^([+-])(\d\d):(\d\d)/.exec(rest);
      if (zone === null) throw cannotParse(element);
      zoneOffsetMinutes = (zone[1] === '-' ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3]));
      rest = rest.slice(zone[0].length);
    }
  }
  if (rest !== '') throw failure(`parsing time ${quote(value)}: extra text: ${quote(rest)}`);
  const daysInMonth = new Date(Date.UTC(fields.year, fields.month, 0)).getUTCDate();
  const outOfRange =
    fields.month < 1 || fields.month > 12
      ? 'month'
      : fields.day < 1 || fields.day > daysInMonth
        ? 'day'
        : fields.hour > 23
          ? 'hour'
          : fields.minute > 59
            ? 'minute'
            : fields.second > 59
              ? 'second'
              : undefined;
  if (outOfRange !== undefined) throw failure(`parsing time ${quote(value)}: ${outOfRange} out of range`);
  const { year, month, day, hour, minute, second } = fields;
  const wholeSeconds =
    zoneOffsetMinutes === undefined
      ? new Date(year, month - 1, day, hour, minute, second).getTime()
      : Date.UTC(year, month - 1, day, hour, minute, second) - zoneOffsetMinutes * 60_000;
  return wholeSeconds + fields.fraction * 1000;
}

const INTEGER = /^[-+]?\d+$/;

/** timetypes.parseTimestamp: "SECONDS[.NANOS]" as seconds and nanoseconds, or the part Go's strconv refuses. */
function readTimestamp(value: string): { seconds: number; nanos: number } | { refused: string } {
  const dot = value.indexOf('.');
  const secondsText = dot < 0 ? value : value.slice(0, dot);
  if (!INTEGER.test(secondsText)) return { refused: secondsText };
  if (dot < 0) return { seconds: Number(secondsText), nanos: 0 };
  const nanosText = value.slice(dot + 1);
  if (!INTEGER.test(nanosText)) return { refused: nanosText };
  return { seconds: Number(secondsText), nanos: Math.trunc(Number(nanosText) * 10 ** (9 - nanosText.length)) };
}

/** Unix seconds with optional nanoseconds ("1700000000.5"); undefined when not such a text. */
export function parseUnixTimestamp(value: string): { seconds: number; nanos: number } | undefined {
  const read = readTimestamp(value);
  return 'refused' in read ? undefined : read;
}

/**
 * timetypes.ParseTimestamps as dockerd reads docker logs' since= and until=
 * (the CLI sends Unix seconds): Unix nanoseconds, undefined for '' (none),
 * Go's strconv error (a 500) for anything else.
 */
export function unixNanosOf(value: string): bigint | undefined {
  if (value === '') return undefined;
  const read = readTimestamp(value);
  if ('refused' in read) throw failure(`strconv.ParseInt: parsing ${quote(read.refused)}: invalid syntax`);
  return BigInt(read.seconds) * 1_000_000_000n + BigInt(read.nanos);
}

/**
 * timetypes.GetTimestamp: the instant a user's text names, in milliseconds
 * since the epoch (fractions kept), with Docker's errors.
 */
export function timestampOf(value: string, nowMs: number): number {
  const duration = value === '0' ? undefined : parseGoDuration(value);
  if (duration !== undefined) return nowMs - duration;
  // Without Z, + or a zone's third dash, the time is local (ParseInLocation).
  const local = !(/[zZ+]/.test(value) || value.split('-').length - 1 === 3);
  let format: string;
  if (value.includes('.')) format = local ? '2006-01-02T15:04:05.999999999' : '2006-01-02T15:04:05.999999999Z07:00';
  else if (value.includes('T')) {
    let colons = value.split(':').length - 1;
    // A +hh:mm zone brings a colon of its own.
    if (!local && !/[zZ]/.test(value) && colons > 0) colons -= 1;
    const time = colons === 0 ? '2006-01-02T15' : colons === 1 ? '2006-01-02T15:04' : '2006-01-02T15:04:05';
    format = local ? time : `${time}Z07:00`;
  } else format = local ? '2006-01-02' : '2006-01-02Z07:00';
  try {
    return parseGoTime(value, format);
  } catch (error) {
    // A dash means it was meant as a date: Go's own error. Otherwise it may be Unix seconds.
    if (value.includes('-')) throw error;
    const unix = parseUnixTimestamp(value);
    if (unix === undefined) throw failure(`failed to parse value as time or duration: ${quote(value)}`);
    return unix.seconds * 1000 + unix.nanos / 1e6;
  }
}

/** A stored RFC 3339 time (nanoseconds kept as a fraction of a millisecond) in milliseconds since the epoch. */
export function millisecondsOf(rfc3339: string): number {
  const fraction = /\.(\d+)/.exec(rfc3339)?.[1] ?? '';
  return Date.parse(rfc3339.replace(/\.\d+/, '')) + Number(`0.${fraction || '0'}`) * 1000;
}
