/** `skiff daemon`: dockerd's flag names. */
import { Command } from 'commander';
import { Daemon } from '../daemon/daemon.js';
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
      const daemon = await Daemon.start({
        socketPath: socketPathFromHost(flags.host),
        dataRoot: flags.dataRoot,
        execRoot: flags.execRoot,
        firewallTable: flags.firewallTable,
        dnsServers: flags.dns,
        defaultBridge: { bridgeName: flags.bridge, subnet: flags.bip, hostBindingIpv4: flags.ip, mtu: Number(flags.mtu), icc: flags.icc !== 'false' },
      });
      process.stderr.write(`skiff: API listening on ${daemon.socketPath}\n`);
      const shutdown = () => { void daemon.stop().then(() => process.exit(0)); };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
    });
}
