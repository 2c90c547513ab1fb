/** skiff's command line: `skiff daemon` and docker-compatible client commands. */
import { createRequire } from 'node:module';
import { Client, socketPathFromHost } from './client.js';
import { daemonCommand } from './daemon-command.js';
import { ConfigError } from '../daemon/config.js';
import { StoreOpenError } from '../store/store.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const { Command, CommanderError } = createRequire(import.meta.url)('commander') as typeof import('commander');

const DEFAULT_HOST = 'unix:///run/skiff/skiff.sock';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('skiff')
    .description('Docker-compatible container networking on the Linux kernel')
    .enablePositionalOptions()
    .option('-H, --host <socket>', 'Daemon socket to connect to', process.env['SKIFF_HOST'] ?? DEFAULT_HOST)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  const client = () => new Client(socketPathFromHost(program.opts<{ host: string }>().host));
  const out = (text: string) => {
    process.stdout.write(text);
  };
  program.addCommand(daemonCommand());
  // The daemon does not keep the client commands' modules: they are loaded for a client command only.
  if (argv[0] !== 'daemon') program.addCommand((await import('./network.js')).networkCommand(client, out));
  for (const command of program.commands) command.exitOverride();
  for (const command of program.commands.flatMap((c) => c.commands)) command.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 125;
    // The daemon refuses its configuration in dockerd's words, unprefixed, and starts nothing.
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    // As dockerd ends a start it cannot go on with ("failed to start daemon: pid file found, …").
    if (error instanceof StoreOpenError) {
      process.stderr.write(`failed to start daemon: ${error.message}\n`);
      return 1;
    }
    const message = (error as Error).message;
    const status = (error as { status?: number }).status;
    process.stderr.write(
      message.startsWith('Error') ? `${message}\n` : status !== undefined ? `Error response from daemon: ${message}\n` : `Error: ${message}\n`,
    );
    return 1;
  }
}
