/**
 * json-file's --log-opt (HostConfig.LogConfig.Config) as dockerd 20.10 checks
 * them, with its messages (pure, no I/O): max-size and max-file are carried
 * out (the shim rotates the log); the keys json-file knows that only add
 * attributes to its JSON lines are refused by name, as skiff's log holds
 * frames, not JSON lines. Docker reports a bad value when the container
 * starts ("failed to initialize logging driver: ..."); skiff reports it at
 * create, with the same words, so no container is left that cannot start.
 */
import { invalid } from '../errors.js';
import type { LogRotation } from '../runtime/process-spec.js';

/** The keys json-file knows (jsonfilelog.ValidateLogOpt). */
const JSON_FILE_KEYS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);
/** Keys that only add attributes to Docker's JSON lines: skiff's frames have none to add. */
const ATTRIBUTE_KEYS = new Set(['labels', 'labels-regex', 'env', 'env-regex', 'tag']);

/** go-units' decimal multipliers (units.FromHumanSize: 1k = 1000, as json-file's max-size). */
const DECIMAL: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 };

const logDriverError = (message: string) => invalid(`failed to initialize logging driver: ${message}`);

/** go-units FromHumanSize: "10m", "1.5KB", "100", "1KiB" (decimal whatever the i). */
export function fromHumanSize(text: string): number {
  const match = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(text);
  if (match === null) throw logDriverError(`invalid size: '${text}'`);
  if (!/^\d+(\.\d+)?$/.test(match[1]!)) throw logDriverError(`strconv.ParseFloat: parsing "${match[1]}": invalid syntax`);
  return Math.trunc(Number(match[1]) * DECIMAL[(match[2] ?? '').toLowerCase()]!);
}

/** Go's strconv.Atoi, with its messages. */
function atoi(text: string): number {
  if (!/^[+-]?\d+$/.test(text)) throw logDriverError(`strconv.Atoi: parsing "${text}": invalid syntax`);
  const value = BigInt(text);
  if (value > 2n ** 63n - 1n || value < -(2n ** 63n)) throw logDriverError(`strconv.Atoi: parsing "${text}": value out of range`);
  return Number(value);
}

/** Go's strconv.ParseBool. */
function parseBool(text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw logDriverError(`error reading compress log option: strconv.ParseBool: parsing "${text}": invalid syntax`);
}

/**
 * The rotation json-file's options ask for (undefined: none, as without
 * max-size, where Docker ignores max-file), or Docker's error; what skiff
 * does not carry out is refused by name.
 */
export function checkLogOptions(config: Readonly<Record<string, string>>): LogRotation | undefined {
  for (const key of Object.keys(config)) {
    if (!JSON_FILE_KEYS.has(key)) throw invalid(`unknown log opt '${key}' for json-file log driver`);
  }
  let maxSize: number | undefined;
  if (config['max-size'] !== undefined) {
    maxSize = fromHumanSize(config['max-size']);
    if (maxSize <= 0) throw logDriverError('max-size must be a positive number');
  }
  let maxFile = 1;
  if (config['max-file'] !== undefined) {
    maxFile = atoi(config['max-file']);
    if (maxFile < 1) throw logDriverError('max-file cannot be less than 1');
  }
  if (config['compress'] !== undefined && parseBool(config['compress']))
    throw invalid('skiff does not support --log-opt compress=true: rotated log files are kept uncompressed (leave compress out, or false)');
  for (const key of ATTRIBUTE_KEYS) {
    if (config[key] !== undefined && config[key] !== '')
      throw invalid(`skiff does not support --log-opt ${key}: skiff's container logs carry no attributes besides the stream and time`);
  }
  return maxSize === undefined ? undefined : { maxSize, maxFile };
}
