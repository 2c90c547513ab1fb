/** `skiff daemon`: dockerd's flag names. */
import { Command } from 'commander';
import { Daemon } from '../daemon/daemon.js';
import { installLastResortHandlers } from '../daemon/last-resort.js';
import { socketPathFromHost } from './client.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export function daemonCommand(): Command {
  return new Command('daemon').description('Run the skiff daemon')
    .option('-H, --host <socket>', 'Daemon socket to listen on', 'unix:///run/skiff/skiff.sock')
    .option('--data-root <dir>', 'Root directory of persistent state', '/var/lib/skiff')
    .option('--exec-root <dir>', 'Root directory for execution state files', '/run/skiff')
    .option('--dns <ip>', 'DNS server for containers and the embedded DNS forwarder', collect, [])
    .option('-b, --bridge <name>', 'Bridge device of the default network', 'skiff0')
    .option('--bip <cidr>', 'Subnet of the default bridge network', '172.17.0.0/16')
    .option('--ip <address>', 'Default host address when publishing ports', '0.0.0.0')
    .option('--mtu <bytes>', 'MTU of the default bridge network', '1500')
    .option('--icc <bool>', 'Enable inter-container communication on the default bridge', 'true')
    .option('--firewall-table <name>', 'Name of skiff\'s nftables table (inet family)', 'skiff')
    .action(async (flags: { host: string; dataRoot: string; execRoot: string; dns: string[]; bridge: string; bip: string; ip: string; mtu: string; icc: string; firewallTable: string }) => {
      installLastResortHandlers();
      const daemon = await Daemon.start({
        socketPath: socketPathFromHost(flags.host),
        dataRoot: flags.dataRoot,
        execRoot: flags.execRoot,
        firewallTable: flags.firewallTable,
        dnsServers: flags.dns,
        defaultBridge: { bridgeName: flags.bridge, subnet: flags.bip, hostBindingIpv4: flags.ip, mtu: Number(flags.mtu), icc: flags.icc !== 'false' },
      });
      process.stderr.write(`skiff: API listening on ${daemon.socketPath}\n`);
      // Containers keep running (live restore); the daemon only closes its socket and state.
      // A stop that hangs must not keep the daemon alive: it exits within 5 s regardless.
      const shutdown = () => {
        setTimeout(() => process.exit(0), 5_000).unref();
        daemon.stop().then(() => process.exit(0), (error: unknown) => {
          process.stderr.write(`skiff: while stopping: ${error instanceof Error ? error.message : String(error)}\n`);
          process.exit(1);
        });
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    });
}
