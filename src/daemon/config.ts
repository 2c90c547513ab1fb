/**
 * The daemon's configuration from its flags and its daemon.json, merged as
 * dockerd 20.10 merges them (daemon/config/config.go): a key the file has
 * that no option knows, or an option given both as a flag and in the file,
 * stops the daemon with dockerd's words; otherwise the flags go on top of the
 * file, the file on top of the defaults. Then skiff refuses, with the reason,
 * every value it cannot honour yet: nothing is silently ignored.
 * Pure: the caller reads the file and the command line.
 */
import { isIP } from 'node:net';
import { checkLogOptions } from '../containers/log-options.js';
import { parseCidr, validatePoolSpecs, type AddressPoolSpec } from '../ipam/index.js';
import { DEFAULT_CONFIG, DOCKERD_ONLY_KEYS, OPTIONS, type DaemonConfig, type OptionSpec } from './config-options.js';
import { LOG_FORMATS, type LogLevel } from './logger.js';
import { BUILTIN_RUNTIMES, HOST_FOUND_RUNTIMES, STOCK_RUNTIME, type RuntimeConfig } from '../runtime/oci-runtimes.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** An option given on the command line: its typed value and how dockerd's pflag prints it. */
export interface FlagValue {
  value: unknown;
  display: string;
}

export interface ConfigFile {
  path: string;
  /** The file's text; undefined when it does not exist. */
  text: string | undefined;
  /** --config-file was given: then a missing file is an error, as with dockerd. */
  explicit: boolean;
}

const byKey = new Map(OPTIONS.map((spec) => [spec.key, spec]));
const byFlag = new Map(OPTIONS.map((spec) => [spec.flag, spec]));

// ---- Go's ways of printing and parsing, for dockerd's exact messages

/** fmt's %v of a decoded JSON value: [a b], map[k:v] (keys sorted), 1500, 1e+06. */
export function goFormat(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goFormat).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([key, inner]) => `${key}:${goFormat(inner)}`).join(' ')}]`;
  }
  if (typeof value === 'number') return goFloat(value);
  return String(value);
}

/** fmt's %v of a float64 (shortest %g): exponent form from 1e+06 up or below 1e-04. */
function goFloat(value: number): string {
  if (value === 0) return '0';
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  if (exponent < -4 || exponent >= 6) {
    const [mantissa, power] = value.toExponential().split('e') as [string, string];
    const sign = power.startsWith('-') ? '-' : '+';
    const digits = power.replace(/^[+-]/, '').padStart(2, '0');
    return `${mantissa}e${sign}${digits}`;
  }
  return String(value);
}

const GO_TRUE = ['1', 't', 'T', 'true', 'TRUE', 'True'];
const GO_FALSE = ['0', 'f', 'F', 'false', 'FALSE', 'False'];

function flagError(spec: OptionSpec, raw: string, detail: string): ConfigError {
  return new ConfigError(`invalid argument "${raw}" for "${spec.short === undefined ? '' : `-${spec.short}, `}--${spec.flag}" flag: ${detail}`);
}

/** dockerd's --default-address-pool base=10.10.0.0/16,size=24 (opts.PoolsOpt.Set). */
export function parsePoolFlag(text: string): AddressPoolSpec {
  let base = '';
  let size = 0;
  for (const field of text.split(',')) {
    const equals = field.indexOf('=');
    if (equals < 0) throw new ConfigError(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, equals).toLowerCase();
    const value = field.slice(equals + 1).toLowerCase();
    if (key === 'base') base = value;
    else if (key === 'size') {
      if (!/^[+-]?\d+$/.test(value))
        throw new ConfigError(`invalid size value: "${value}" (must be integer): strconv.Atoi: parsing "${value}": invalid syntax`);
      size = Number(value);
    } else throw new ConfigError(`unexpected key '${key}' in '${field}'`);
  }
  return { base, size };
}

/**
 * A flag's typed value from what the command line parser gave (a string, an
 * array of strings for repeatable flags, true for a bare boolean flag).
 */
export function parseFlag(spec: OptionSpec, raw: unknown): FlagValue {
  const texts = Array.isArray(raw) ? raw.map(String) : [];
  switch (spec.kind) {
    case 'bool': {
      if (raw === true) return { value: true, display: 'true' };
      const text = String(raw);
      if (GO_TRUE.includes(text)) return { value: true, display: 'true' };
      if (GO_FALSE.includes(text)) return { value: false, display: 'false' };
      throw flagError(spec, text, `strconv.ParseBool: parsing "${text}": invalid syntax`);
    }
    case 'int': {
      const text = String(raw);
      if (!/^[+-]?\d+$/.test(text)) throw flagError(spec, text, `strconv.ParseInt: parsing "${text}": invalid syntax`);
      return { value: Number(text), display: String(Number(text)) };
    }
    case 'string':
      return { value: String(raw), display: String(raw) };
    case 'list':
      return { value: texts, display: `[${texts.join(' ')}]` };
    case 'map': {
      // dockerd's opts.MapOpts.Set: KEY=VALUE, a bare KEY an empty value.
      const map: Record<string, string> = {};
      for (const text of texts) {
        const equals = text.indexOf('=');
        map[equals < 0 ? text : text.slice(0, equals)] = equals < 0 ? '' : text.slice(equals + 1);
      }
      return { value: map, display: goFormat(map) };
    }
    case 'pools': {
      const pools = texts.map(parsePoolFlag);
      return { value: pools, display: pools.map((pool) => `${pool.base} ${pool.size}`).join(', ') };
    }
    case 'runtimes': {
      // dockerd's opts.RuntimeOpt.Set, with its words.
      const runtimes: Record<string, RuntimeConfig> = {};
      for (const text of texts) {
        const equals = text.indexOf('=');
        if (equals <= 0) throw flagError(spec, text, `invalid runtime argument: ${text}`);
        const name = text.slice(0, equals);
        if (name === STOCK_RUNTIME) throw flagError(spec, text, `runtime name '${STOCK_RUNTIME}' is reserved`);
        if (Object.hasOwn(runtimes, name)) throw flagError(spec, text, `runtime '${name}' was already defined`);
        runtimes[name] = { path: text.slice(equals + 1) };
      }
      return { value: runtimes, display: `[${Object.keys(runtimes).join(' ')}]` };
    }
  }
}

// ---- the file

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'number' : `number ${goFloat(value)}`;
  return typeof value;
}

const goTypes: Record<OptionSpec['kind'], string> = {
  string: 'string',
  bool: 'bool',
  int: 'int',
  list: '[]string',
  map: 'map[string]string',
  pools: '[]*ipamutils.NetworkToSplit',
  runtimes: 'map[string]types.Runtime',
};

/** The file's value as the option's type, or Go's json error for a value of another type. */
function decodeFileValue(spec: OptionSpec, value: unknown): unknown {
  const mismatch = (found: unknown) =>
    new ConfigError(`json: cannot unmarshal ${jsonType(found)} into Go struct field Config.${spec.key} of type ${goTypes[spec.kind]}`);
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') throw mismatch(value);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw mismatch(value);
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw mismatch(value);
      return value;
    case 'list':
      if (!Array.isArray(value)) throw mismatch(value);
      for (const item of value) if (typeof item !== 'string') throw mismatch(item);
      return value;
    case 'map':
      if (typeof value !== 'object' || Array.isArray(value)) throw mismatch(value);
      for (const item of Object.values(value as Record<string, unknown>)) if (typeof item !== 'string') throw mismatch(item);
      return value;
    case 'pools':
      if (!Array.isArray(value)) throw mismatch(value);
      return value.map((item: unknown) => {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) throw mismatch(item);
        const { base, size, ...rest } = item as Record<string, unknown>;
        const extra = Object.keys(rest);
        if (extra.length > 0) throw new ConfigError(`unexpected key '${extra[0]!}' in default-address-pools entry ${goFormat(item)}`);
        if (typeof base !== 'string') throw mismatch(base);
        if (typeof size !== 'number' || !Number.isInteger(size)) throw mismatch(size);
        return { base, size };
      });
    case 'runtimes':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw mismatch(value);
      return decodeRuntimes(value as Record<string, unknown>);
  }
}

/** daemon.json's "runtimes": {"NAME": {"path": "...", "runtimeArgs": ["..."]}}, with dockerd's errors. */
function decodeRuntimes(value: Record<string, unknown>): Record<string, RuntimeConfig> {
  const runtimeMismatch = (found: unknown, field = '') =>
    new ConfigError(
      `json: cannot unmarshal ${jsonType(found)} into Go struct field Config.runtimes${field} of type ${field === '' ? 'types.Runtime' : field === '.path' ? 'string' : '[]string'}`,
    );
  const runtimes: Record<string, RuntimeConfig> = {};
  for (const [name, runtime] of Object.entries(value)) {
    if (runtime === null || typeof runtime !== 'object' || Array.isArray(runtime)) throw runtimeMismatch(runtime);
    const { path = '', runtimeArgs } = runtime as { path?: unknown; runtimeArgs?: unknown };
    if (typeof path !== 'string') throw runtimeMismatch(path, '.path');
    if (runtimeArgs !== undefined && runtimeArgs !== null && (!Array.isArray(runtimeArgs) || runtimeArgs.some((arg) => typeof arg !== 'string')))
      throw runtimeMismatch(runtimeArgs, '.runtimeArgs');
    runtimes[name] = Array.isArray(runtimeArgs) && runtimeArgs.length > 0 ? { path, runtimeArgs: runtimeArgs as string[] } : { path };
  }
  if (Object.hasOwn(runtimes, STOCK_RUNTIME)) throw new ConfigError(`configuration validation from file failed: runtime name '${STOCK_RUNTIME}' is reserved`);
  return runtimes;
}

/** The file's top-level object; JSON errors in Go's words where they are the same. */
export function parseConfigText(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`json: cannot unmarshal ${jsonType(parsed)} into Go value of type map[string]interface {}`);
  }
  return parsed as Record<string, unknown>;
}

/** dockerd's findConfigurationConflicts: unknown keys first, then keys also given as flags. */
export function findConfigurationConflicts(fileValues: Record<string, unknown>, flags: ReadonlyMap<string, FlagValue>): void {
  const keys = Object.keys(fileValues);
  const unknown = keys.filter((key) => !byKey.has(key) && !Object.hasOwn(DOCKERD_ONLY_KEYS, key)).sort();
  if (unknown.length > 0) {
    // dockerd knows "label", "host" … as flags and then ignores them in the file; skiff says which key was meant.
    const hints = unknown.filter((key) => byFlag.has(key)).map((key) => `"${key}" is a flag: the file's key is "${byFlag.get(key)!.key}"`);
    throw new ConfigError(
      `the following directives don't match any configuration option: ${unknown.join(', ')}${hints.length > 0 ? ` (${hints.join('; ')})` : ''}`,
    );
  }
  // Runtimes from --add-runtime and the file's "runtimes" add up, as in dockerd.
  const conflicts = OPTIONS.filter((spec) => spec.kind !== 'runtimes' && flags.has(spec.key) && Object.hasOwn(fileValues, spec.key))
    .sort((a, b) => (a.flag < b.flag ? -1 : a.flag > b.flag ? 1 : 0))
    .map((spec) => `${spec.key}: (from flag: ${flags.get(spec.key)!.display}, from file: ${goFormat(fileValues[spec.key])})`);
  if (conflicts.length > 0) {
    throw new ConfigError(`the following directives are specified both as a flag and in the configuration file: ${conflicts.join(', ')}`);
  }
}

/** dockerd's own keys skiff has no option for: accepted when they say what skiff does anyway, else refused with the reason. */
function refuseDockerdOnlyKeys(fileValues: Record<string, unknown>): void {
  const refused = Object.entries(fileValues)
    .filter(([key, value]) => Object.hasOwn(DOCKERD_ONLY_KEYS, key) && !DOCKERD_ONLY_KEYS[key]!.accepts(value))
    .map(([key, value]) => `${key} (${goFormat(value)}): ${DOCKERD_ONLY_KEYS[key]!.why}`)
    .sort();
  if (refused.length > 0) throw new ConfigError(`skiff cannot honour these dockerd directives: ${refused.join('; ')}`);
}

function decodeFile(fileValues: Record<string, unknown>): Partial<DaemonConfig> {
  const decoded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fileValues)) {
    const spec = byKey.get(key);
    // null leaves the option as it is, as Go's decoder does.
    if (spec === undefined || value === null) continue;
    decoded[spec.field] = decodeFileValue(spec, value);
  }
  return decoded;
}

// ---- validation of the merged configuration

const DOMAIN = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*\.?$/;

/** logrus.ParseLevel's names, folded onto skiff's levels. */
const LEVEL_NAMES: Record<string, LogLevel> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

export function parseLogLevel(text: string): LogLevel {
  const level = LEVEL_NAMES[text.toLowerCase()];
  if (level === undefined) throw new ConfigError(`Unable to parse logging level: ${text}`);
  return level;
}

/** dockerd's label check (opts.ValidateLabel) and duplicate-key check (GetConflictFreeLabels). */
function validateLabels(labels: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const label of labels) {
    const equals = label.indexOf('=');
    if (equals < 0) throw new ConfigError(`bad attribute format: ${label}`);
    const key = label.slice(0, equals);
    const value = label.slice(equals + 1);
    const earlier = seen.get(key);
    if (earlier !== undefined && earlier !== value) throw new ConfigError(`conflict labels for ${key}=${value} and ${key}=${earlier}`);
    seen.set(key, value);
  }
}

function validateHost(host: string): void {
  if (host.startsWith('unix:///') || host === 'fd://' || /^fd:\/\/\d+$/.test(host)) return;
  if (host.startsWith('tcp://')) {
    parseTcpHost(host);
    return;
  }
  if (/^(ssh|npipe):\/\//.test(host)) throw new ConfigError(`skiff listens on unix sockets, fd:// and tcp:// with mutual TLS: ${host} is not supported`);
  throw new ConfigError(`Invalid bind address format: ${host}`);
}

/** tcp://ADDR:PORT with ADDR an IP address ([…] for IPv6) and an explicit port. */
export function parseTcpHost(host: string): { address: string; port: number } {
  const match = /^tcp:\/\/(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(host);
  const address = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (address === undefined || isIP(address) === 0 || port < 1 || port > 65535) {
    throw new ConfigError(`Invalid bind address format: ${host}: give tcp://ADDR:PORT with an IP address and a port from 1 to 65535`);
  }
  return { address, port };
}

/**
 * dockerd serves a tcp:// host without TLS after a warning, and anyone who
 * reaches the port is root on the machine. skiff serves one only with mutual
 * TLS, and says which of dockerd's flags are missing. TLS flags with no
 * tcp:// host to use them are refused as well: nothing is silently ignored.
 */
function validateTls(config: DaemonConfig): void {
  const tcpHosts = config.hosts.filter((host) => host.startsWith('tcp://'));
  const given = { tlsverify: config.tlsVerify, tlscacert: config.tlsCaCert !== '', tlscert: config.tlsCert !== '', tlskey: config.tlsKey !== '' };
  if (tcpHosts.length === 0) {
    const stray = [
      ...(config.tls ? ['tls'] : []),
      ...Object.entries(given)
        .filter(([, present]) => present)
        .map(([flag]) => flag),
    ];
    if (stray.length > 0) throw new ConfigError(`${stray.map((flag) => `--${flag}`).join(', ')} given but no -H tcp://ADDR:PORT host to serve TLS on`);
    return;
  }
  const missing = Object.entries(given)
    .filter(([, present]) => !present)
    .map(([flag]) => `--${flag}`);
  if (missing.length > 0) {
    throw new ConfigError(
      `${tcpHosts.join(', ')}: skiff serves its API over TCP only with mutual TLS, and ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing (dockerd would serve it unencrypted to anyone who reaches the port)`,
    );
  }
}

function cidrOrError(text: string, what: string): void {
  try {
    parseCidr(text);
  } catch (error) {
    throw new ConfigError(`${what}: ${(error as Error).message}`);
  }
}

/** Docker's checks of values (config.Validate and the bridge driver's), then skiff's refusals. */
export function validateConfig(config: DaemonConfig): void {
  for (const server of config.dns) if (isIP(server) === 0) throw new ConfigError(`IP address is not correctly formatted: ${server}`);
  for (const domain of config.dnsSearch) {
    if (domain.trim() !== '.' && (!/[a-zA-Z]/.test(domain) || !DOMAIN.test(domain.trim()) || domain.length >= 255))
      throw new ConfigError(`${domain} is not a valid domain`);
  }
  validateLabels(config.labels);
  for (const host of config.hosts) validateHost(host);
  if (config.hosts.length === 0) throw new ConfigError('no hosts to listen on: give -H or "hosts"');
  validateTls(config);
  parseLogLevel(config.logLevel);
  if (!(LOG_FORMATS as readonly string[]).includes(config.logFormat)) throw new ConfigError(`unknown log format "${config.logFormat}": text or json`);
  if (config.mtu < 68 || config.mtu > 65535) throw new ConfigError(`invalid MTU ${config.mtu}: from 68 to 65535`);
  if (config.bip !== '') cidrOrError(config.bip, 'bip');
  if (config.fixedCidr !== '') cidrOrError(config.fixedCidr, 'fixed-cidr');
  if (isIP(config.ip) === 0)
    throw new ConfigError(`invalid argument "${config.ip}" for "--ip" flag: invalid string being converted to IP address: ${config.ip}`);
  try {
    validatePoolSpecs(config.defaultAddressPools);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  try {
    checkLogOptions(config.logOpts);
  } catch (error) {
    throw new ConfigError(`failed to set log opts: ${(error as Error).message}`);
  }
  // crun is listed without configuration where the host has it: whether it can run here is the daemon's start to say.
  const runtimeNames = [...BUILTIN_RUNTIMES, ...HOST_FOUND_RUNTIMES, ...Object.keys(config.runtimes)];
  if (config.defaultRuntime !== '' && !runtimeNames.includes(config.defaultRuntime))
    throw new ConfigError(`specified default runtime '${config.defaultRuntime}' does not exist`);
  const refused = OPTIONS.map((spec) => {
    const why = spec.refuse === undefined ? undefined : (spec.refuse as (value: unknown) => string | undefined)(config[spec.field]);
    return why === undefined ? undefined : `${spec.key}: ${why}`;
  }).filter((why): why is string => why !== undefined);
  if (refused.length > 0) throw new ConfigError(refused.join('; '));
}

/**
 * The configuration in force: defaults, then the file, then the flags.
 * Errors about the file carry dockerd's prefix naming it.
 */
export function mergeConfig(flags: ReadonlyMap<string, FlagValue>, file: ConfigFile): DaemonConfig {
  let fromFile: Partial<DaemonConfig> = {};
  if (file.text === undefined) {
    if (file.explicit) throw new ConfigError(`unable to configure the Docker daemon with file ${file.path}: open ${file.path}: no such file or directory`);
  } else {
    try {
      const fileValues = parseConfigText(file.text);
      findConfigurationConflicts(fileValues, flags);
      fromFile = decodeFile(fileValues);
      refuseDockerdOnlyKeys(fileValues);
    } catch (error) {
      throw new ConfigError(`unable to configure the Docker daemon with file ${file.path}: ${(error as Error).message}`);
    }
  }
  const fromFlags: Record<string, unknown> = {};
  for (const [key, flag] of flags) fromFlags[byKey.get(key)!.field] = flag.value;
  const config: DaemonConfig = { ...structuredClone(DEFAULT_CONFIG), ...fromFile, ...(fromFlags as Partial<DaemonConfig>) };
  config.runtimes = { ...fromFile.runtimes, ...(fromFlags['runtimes'] as DaemonConfig['runtimes'] | undefined) };
  config.logLevel = parseLogLevel(config.logLevel);
  if (config.debug) config.logLevel = 'debug';
  validateConfig(config);
  return config;
}

// ---- reload

export interface ConfigChange {
  key: string;
  from: string;
  to: string;
  /** Applied now; otherwise it waits for the next start. */
  applied: boolean;
}

/** What a reload changes, option by option, in dockerd's daemon.json names. */
export function configChanges(current: DaemonConfig, next: DaemonConfig): ConfigChange[] {
  return OPTIONS.filter((spec) => JSON.stringify(current[spec.field]) !== JSON.stringify(next[spec.field])).map((spec) => ({
    key: spec.key,
    from: goFormat(current[spec.field]),
    to: goFormat(next[spec.field]),
    applied: spec.reloadable === true,
  }));
}

/** The configuration after a reload: the reloadable options from next, the others kept until a restart. */
export function reloadedConfig(current: DaemonConfig, next: DaemonConfig): DaemonConfig {
  const reloaded: Record<string, unknown> = { ...current };
  for (const spec of OPTIONS) if (spec.reloadable === true) reloaded[spec.field] = next[spec.field];
  return reloaded as unknown as DaemonConfig;
}

export { OPTIONS, DEFAULT_CONFIG, type DaemonConfig, type OptionSpec } from './config-options.js';
export { DEFAULT_CONFIG_FILE, DEFAULT_SOCKET } from './config-options.js';
