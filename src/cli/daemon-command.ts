/**
 * `skiff daemon`: dockerd's flags and daemon.json (--config-file, default
 * /etc/skiff/daemon.json), merged as dockerd merges them; signals as dockerd
 * takes them: SIGHUP reloads the configuration, SIGUSR1 logs a state
 * summary, SIGTERM/SIGINT stop.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Daemon } from '../daemon/daemon.js';
import { installLastResortHandlers } from '../daemon/last-resort.js';
import { ConfigError, DEFAULT_CONFIG_FILE, mergeConfig, OPTIONS, parseFlag, type ConfigFile, type FlagValue, type OptionSpec } from '../daemon/config.js';
import { activationFds, listenersFor, loadTls } from '../daemon/listeners.js';
import { Logger } from '../daemon/logger.js';
import { releaseOptimizingCompiler } from '../daemon/startup-jit.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const { Command, Option } = createRequire(import.meta.url)('commander') as typeof import('commander');
type Command = InstanceType<typeof Command>;
type Option = InstanceType<typeof Option>;
import { parseUiAddress } from '../ui/address.js';

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function commanderOption(spec: OptionSpec): Option {
  const names = `${spec.short === undefined ? '' : `-${spec.short}, `}--${spec.flag}`;
  if (spec.kind === 'bool') return new Option(`${names} [bool]`, spec.description);
  const option = new Option(`${names} <value>`, spec.description);
  return spec.kind === 'list' || spec.kind === 'map' || spec.kind === 'pools' || spec.kind === 'runtimes' ? option.argParser(collect) : option;
}

/** The options given on the command line, keyed by their daemon.json key. */
function givenFlags(command: Command): Map<string, FlagValue> {
  const values = command.opts<Record<string, unknown>>();
  const given = new Map<string, FlagValue>();
  for (const option of command.options) {
    const spec = OPTIONS.find((candidate) => candidate.flag === option.long?.slice(2));
    const attribute = option.attributeName();
    if (spec === undefined || command.getOptionValueSource(attribute) !== 'cli') continue;
    given.set(spec.key, parseFlag(spec, values[attribute]));
  }
  return given;
}

function readConfigFile(path: string, explicit: boolean): ConfigFile {
  try {
    return { path, text: readFileSync(path, 'utf8'), explicit };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, text: undefined, explicit };
    throw new ConfigError(`unable to configure the Docker daemon with file ${path}: ${(error as Error).message}`);
  }
}

function isSocket(fd: number): boolean {
  try {
    return fstatSync(fd).isSocket();
  } catch {
    return false;
  }
}

export function daemonCommand(): Command {
  const command = new Command('daemon').description("Run the skiff daemon (dockerd's flags and daemon.json keys)");
  command.option('--config-file <path>', `Daemon configuration file (default ${DEFAULT_CONFIG_FILE})`);
  for (const spec of OPTIONS) command.addOption(commanderOption(spec));
  command.option('--ui <[address:]port>', "Serve the live topology page there (skiff's own; off by default, 127.0.0.1 unless an address is given)");
  command.option('--ui-remote', 'Allow --ui on an address other than the loopback (anyone reaching it can read and probe every network)', false);
  command.action(async () => {
    const configPath = command.opts<{ configFile?: string }>().configFile;
    const flags = givenFlags(command);
    const load = () => mergeConfig(flags, readConfigFile(configPath ?? DEFAULT_CONFIG_FILE, configPath !== undefined));
    const config = load();
    const { ui, uiRemote } = command.opts<{ ui?: string; uiRemote: boolean }>();
    const uiAddress = ui === undefined ? undefined : parseUiAddress(ui, uiRemote);
    const logger = new Logger(config.logLevel, config.logFormat);
    const listeners = listenersFor(config.hosts, activationFds(process.env, process.pid), () => loadTls(config));
    // Checked before anything is touched: a wrong descriptor must not fail the daemon after it made its bridge.
    for (const listener of listeners)
      if (listener.kind === 'fd' && !isSocket(listener.fd)) throw new ConfigError(`fd://${listener.fd}: descriptor ${listener.fd} is not a socket`);
    // What systemd passed is this process's alone: runc and the shims must not see it.
    delete process.env['LISTEN_PID'];
    delete process.env['LISTEN_FDS'];
    delete process.env['LISTEN_FDNAMES'];
    installLastResortHandlers();
    logger.info('Starting up');
    const daemon = await Daemon.start(config, listeners, logger, { ui: uiAddress });
    releaseOptimizingCompiler();
    logger.info('Daemon has completed initialization');

    process.on('SIGHUP', () => {
      logger.info(`Got signal to reload configuration, reloading from: ${configPath ?? DEFAULT_CONFIG_FILE}`);
      try {
        daemon.reload(load());
      } catch (error) {
        // A bad file changes nothing: the daemon keeps the configuration it has.
        logger.error(`Error reloading configuration, keeping the current one: ${(error as Error).message}`);
      }
    });
    process.on('SIGUSR1', () => {
      for (const line of daemon.stateSummary()) logger.info(line);
    });
    const shutdown = (signal: string) => {
      logger.info(`Processing signal '${signal}'`);
      // A stop that hangs must not keep the daemon alive; without live restore it stops containers first, which takes longer.
      setTimeout(() => process.exit(0), daemon.configuration.liveRestore ? 5_000 : 60_000).unref();
      daemon.stop().then(
        () => {
          logger.info('Daemon shutdown complete');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error(`while stopping: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('terminated'));
    process.once('SIGINT', () => shutdown('interrupt'));
  });
  return command;
}
