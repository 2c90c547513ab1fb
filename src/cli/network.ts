/** `skiff network …`: docker's flags and output, spoken to the daemon over its socket. */
import { createRequire } from 'node:module';
import type { Client } from './client.js';
import { renderGoTemplate } from './go-template.js';
import { ipamConfigFromFlags, keyValueMap } from './network-create-args.js';
import { renderFormatted, renderTable } from './table.js';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const { Command } = createRequire(import.meta.url)('commander') as typeof import('commander');
type Command = InstanceType<typeof Command>;
import { traceCommand } from './trace.js';

const collect = (value: string, previous: string[]) => [...previous, value];

interface WireNetwork {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  EnableIPv6: boolean;
  Created: string;
  Labels: Record<string, string>;
}

function filtersQuery(filters: string[]): string {
  const grouped: Record<string, Record<string, boolean>> = {};
  for (const filter of filters) {
    const separator = filter.indexOf('=');
    if (separator < 0) throw new Error(`bad format of filter (expected name=value)`);
    const key = filter.slice(0, separator).trim().toLowerCase();
    grouped[key] = { ...grouped[key], [filter.slice(separator + 1)]: true };
  }
  return Object.keys(grouped).length === 0 ? '' : `?filters=${encodeURIComponent(JSON.stringify(grouped))}`;
}

/** What `docker network ls --format` sees for one network. */
function listView(network: WireNetwork, noTrunc: boolean) {
  return {
    ID: noTrunc ? network.Id : network.Id.slice(0, 12),
    Name: network.Name,
    Driver: network.Driver,
    Scope: network.Scope,
    IPv6: String(network.EnableIPv6),
    Internal: String(network.Internal),
    CreatedAt: network.Created,
    Labels: Object.entries(network.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  };
}

export function networkCommand(client: () => Client, out: (text: string) => void): Command {
  const network = new Command('network').description('Manage networks');

  network
    .command('create')
    .argument('<name>')
    .option('-d, --driver <driver>', 'Driver to manage the Network', 'bridge')
    .option('--subnet <cidr>', 'Subnet in CIDR format that represents a network segment', collect, [])
    .option('--gateway <ip>', 'IPv4 or IPv6 Gateway for the master subnet', collect, [])
    .option('--ip-range <cidr>', 'Allocate container ip from a sub-range', collect, [])
    .option('--aux-address <name=ip>', 'Auxiliary IPv4 or IPv6 addresses used by Network driver', collect, [])
    .option('--ipam-driver <driver>', 'IP Address Management Driver', 'default')
    .option('--ipam-opt <key=value>', 'Set IPAM driver specific options', collect, [])
    .option('--ipv6', 'Enable IPv6 networking', false)
    .option('--internal', 'Restrict external access to the network', false)
    .option('--attachable', 'Enable manual container attachment', false)
    .option('-o, --opt <key=value>', 'Set driver specific options', collect, [])
    .option('--label <key=value>', 'Set metadata on a network', collect, [])
    .action(
      async (
        name: string,
        flags: {
          driver: string;
          subnet: string[];
          gateway: string[];
          ipRange: string[];
          auxAddress: string[];
          ipamDriver: string;
          ipamOpt: string[];
          ipv6: boolean;
          internal: boolean;
          attachable: boolean;
          opt: string[];
          label: string[];
        },
      ) => {
        const config = ipamConfigFromFlags({ subnets: flags.subnet, gateways: flags.gateway, ipRanges: flags.ipRange, auxAddresses: flags.auxAddress });
        const { body } = await client().call('POST', '/networks/create', {
          Name: name,
          CheckDuplicate: true,
          Driver: flags.driver,
          EnableIPv6: flags.ipv6,
          IPAM: { Driver: flags.ipamDriver, Config: config, Options: keyValueMap(flags.ipamOpt) },
          Internal: flags.internal,
          Attachable: flags.attachable,
          Ingress: false,
          Options: keyValueMap(flags.opt),
          Labels: keyValueMap(flags.label),
        });
        out(`${(body as { Id: string }).Id}\n`);
      },
    );

  network
    .command('ls')
    .alias('list')
    .option('-q, --quiet', 'Only display network IDs', false)
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'driver=bridge')", collect, [])
    .option('--format <template>', 'Pretty-print networks using a Go template')
    .option('--no-trunc', 'Do not truncate the output')
    .action(async (flags: { quiet: boolean; filter: string[]; format?: string; trunc: boolean }) => {
      const { body } = await client().call('GET', `/networks${filtersQuery(flags.filter)}`);
      const networks = (body as WireNetwork[]).sort((a, b) => a.Name.localeCompare(b.Name));
      const views = networks.map((n) => listView(n, !flags.trunc));
      if (flags.quiet) {
        out(views.map((view) => `${view.ID}\n`).join(''));
        return;
      }
      if (flags.format !== undefined) {
        out(
          renderFormatted(flags.format, views, renderGoTemplate, {
            ID: 'NETWORK ID',
            Name: 'NAME',
            Driver: 'DRIVER',
            Scope: 'SCOPE',
            IPv6: 'IPV6',
            Internal: 'INTERNAL',
            CreatedAt: 'CREATED AT',
            Labels: 'LABELS',
          }),
        );
        return;
      }
      out(renderTable([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...views.map((v) => [v.ID, v.Name, v.Driver, v.Scope])]));
    });

  network
    .command('inspect')
    .argument('<network...>')
    .option('-f, --format <template>', 'Format the output using the given Go template')
    .option('-v, --verbose', 'Verbose output for diagnostics', false)
    .action(async (names: string[], flags: { format?: string }) => {
      const found: unknown[] = [];
      const missing: string[] = [];
      for (const name of names) {
        try {
          found.push((await client().call('GET', `/networks/${encodeURIComponent(name)}`)).body);
        } catch (error) {
          if ((error as { status?: number }).status === 404) missing.push(name);
          else throw error;
        }
      }
      if (flags.format !== undefined) out(found.map((item) => `${renderGoTemplate(flags.format!, item)}\n`).join(''));
      else out(`${JSON.stringify(found, null, 4)}\n`);
      if (missing.length > 0) throw new Error(missing.map((name) => `Error: No such network: ${name}`).join('\n'));
    });

  network
    .command('rm')
    .alias('remove')
    .argument('<network...>')
    .action(async (names: string[]) => {
      const failures: string[] = [];
      for (const name of names) {
        try {
          await client().call('DELETE', `/networks/${encodeURIComponent(name)}`);
          out(`${name}\n`);
        } catch (error) {
          const status = (error as { status?: number }).status;
          failures.push(status === 404 ? `Error: No such network: ${name}` : `Error response from daemon: ${(error as Error).message}`);
        }
      }
      if (failures.length > 0) throw new Error(failures.join('\n'));
    });

  network
    .command('prune')
    .option('-f, --force', 'Do not prompt for confirmation', false)
    .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect, [])
    .action(async (flags: { force: boolean; filter: string[] }) => {
      if (!flags.force) {
        throw new Error(
          'WARNING! This will remove all custom networks not used by at least one container.\nskiff does not prompt: run again with --force to continue.',
        );
      }
      const { body } = await client().call('POST', `/networks/prune${filtersQuery(flags.filter)}`);
      const deleted = (body as { NetworksDeleted: string[] | null }).NetworksDeleted ?? [];
      if (deleted.length > 0) out(`Deleted Networks:\n${deleted.map((name) => `${name}\n`).join('')}`);
    });

  network
    .command('diagnose')
    .argument('<network>')
    .description('Check the kernel against what skiff believes about a network (links, addresses, nftables, sandboxes)')
    .action(async (name: string) => {
      const { body } = await client().call('GET', `/networks/${encodeURIComponent(name)}/diagnose`);
      const checks = body as Array<{ what: string; ok: boolean; detail: string }>;
      out(checks.map((check) => `${check.ok ? 'ok  ' : 'FAIL'}  ${check.what}${check.ok ? '' : `: ${check.detail}`}\n`).join(''));
      const failed = checks.filter((check) => !check.ok).length;
      if (failed > 0) throw new Error(`${failed} of ${checks.length} checks failed: a daemon restart reconciles the kernel with the store`);
    });

  network.addCommand(traceCommand(client, out));

  return network;
}
