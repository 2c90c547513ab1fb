/** `skiff network trace SRC DST [--port P] [--udp] [--format json]`: asks the daemon's /skiff/trace and prints the answer. */
import { createRequire } from 'node:module';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const { Command, InvalidArgumentError } = createRequire(import.meta.url)('commander') as typeof import('commander');
type Command = InstanceType<typeof Command>;
import type { Client } from './client.js';
import { formatTrace } from '../trace/format.js';
import type { TraceReport } from '../trace/model.js';

function portNumber(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new InvalidArgumentError('a port is a number from 1 to 65535');
  return port;
}

export function traceCommand(client: () => Client, out: (text: string) => void): Command {
  return new Command('trace')
    .description(
      'Why can (or can\'t) SRC reach DST: name resolution, route, links, the firewall rule that decides (found with a real probe), and the fix. SRC and DST: a container, "host", or an address',
    )
    .argument('<source>')
    .argument('<destination>')
    .option('-p, --port <port>', 'TCP port (UDP with --udp); without it, an ICMP echo', portNumber)
    .option('--udp', 'Probe the port over UDP', false)
    .option('--format <format>', 'text or json', 'text')
    .action(async (source: string, destination: string, flags: { port?: number; udp: boolean; format: string }) => {
      if (flags.format !== 'text' && flags.format !== 'json') throw new Error(`unknown format "${flags.format}": text or json`);
      const query = new URLSearchParams({ source, destination });
      if (flags.port !== undefined) query.set('port', String(flags.port));
      if (flags.udp) query.set('protocol', 'udp');
      const { body } = await client().call('GET', `/skiff/trace?${query.toString()}`);
      const report = body as TraceReport;
      out(flags.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatTrace(report));
      if (report.verdict.result !== 'reachable') process.exitCode = 1;
    });
}
