/**
 * Container-to-container throughput on one network (issue 12, item 6):
 * iperf3 between two namespaces on a bare Linux bridge made by hand (in a
 * namespace of its own, no firewall), between two skiff containers on one
 * network (skiff's default: bridge-nf-call-iptables off, and once more with
 * it on, as --bridge-nf-call-iptables leaves it), and between two dockerd
 * containers on one network. iperf3 runs
 * from the host in the containers' namespaces (nsenter), so every path runs
 * the same binary; the systems alternate every round. Nothing here judges a
 * number.
 *
 *   node dist/bench/bridge-throughput-bench.js [--seconds N] [--rounds N]
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { containerAddress, openContainerWorld, sandboxKey } from './container-world.js';
import { describe, ratio, summarize, type Summary } from './stats.js';
import { makeNetns, runStandalone } from './world.js';

const script = fileURLToPath(import.meta.url);
const phasesScript = join(dirname(script), 'network.js');
const OPTIONS_ENV = 'SKIFF_BRIDGE_THROUGHPUT_BENCH';
const SERVER_PORT = 5201;

interface ThroughputOptions {
  seconds: number;
  rounds: number;
}

export interface ThroughputResult {
  /** Gbit/s per system: bare (a bridge by hand), skiff, dockerd. */
  gbits: Record<string, Summary>;
  /** CPU ms (iperf3's sender + receiver) per GB carried, per system. */
  cpuMsPerGb: Record<string, Summary>;
  /** net.bridge.bridge-nf-call-iptables in each daemon's namespace while it ran. */
  bridgeNfCallIptables: Record<string, string>;
}

function optionsFrom(argv: readonly string[]): ThroughputOptions {
  const value = (flag: string, fallback: number): number => {
    const index = argv.indexOf(flag);
    return index >= 0 ? Number(argv[index + 1]) : fallback;
  };
  return { seconds: value('--seconds', 5), rounds: value('--rounds', 5) };
}

function inNetns(netns: string, program: string, args: string[]): string {
  return execFileSync('nsenter', [`--net=${netns}`, '--', program, ...args], { encoding: 'utf8' });
}

interface Iperf3Run {
  gbits: number;
  /** CPU time of sender and receiver together per GB carried: less sensitive to a busy machine than the rate. */
  cpuMsPerGb: number;
}

function iperf3(netns: string, address: string, seconds: number): Iperf3Run {
  const report = JSON.parse(inNetns(netns, 'iperf3', ['-c', address, '-p', String(SERVER_PORT), '-t', String(seconds), '-J', '--connect-timeout', '3000'])) as {
    end?: {
      sum_received?: { bits_per_second?: number; bytes?: number; seconds?: number };
      cpu_utilization_percent?: { host_total?: number; remote_total?: number };
    };
  };
  const received = report.end?.sum_received;
  const cpu = report.end?.cpu_utilization_percent;
  const cpuSeconds = (((cpu?.host_total ?? NaN) + (cpu?.remote_total ?? NaN)) / 100) * (received?.seconds ?? NaN);
  return { gbits: (received?.bits_per_second ?? NaN) / 1e9, cpuMsPerGb: (cpuSeconds * 1000) / ((received?.bytes ?? NaN) / 1e9) };
}

/** A bridge by hand in a namespace of its own, with two namespaces on it by veths. */
function bareBridge(dir: string): { host: string; client: string; server: string; serverAddress: string; remove: () => void } {
  const host = makeNetns(join(dir, 'bare-host'));
  const client = makeNetns(join(dir, 'bare-a'));
  const server = makeNetns(join(dir, 'bare-b'));
  inNetns(host.path, 'ip', ['link', 'add', 'br-bare', 'type', 'bridge']);
  inNetns(host.path, 'ip', ['link', 'set', 'br-bare', 'up']);
  for (const [end, address] of [
    [client, '10.70.0.2/24'],
    [server, '10.70.0.3/24'],
  ] as const) {
    const name = end === client ? 'bare-a' : 'bare-b';
    inNetns(host.path, 'ip', ['link', 'add', name, 'master', 'br-bare', 'up', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', end.path]);
    inNetns(end.path, 'ip', ['addr', 'add', address, 'dev', 'eth0']);
    inNetns(end.path, 'ip', ['link', 'set', 'eth0', 'up']);
  }
  return {
    host: host.path,
    client: client.path,
    server: server.path,
    serverAddress: '10.70.0.3',
    remove: () => {
      for (const netns of [client, server, host]) netns.remove();
    },
  };
}

async function throughputPhase(options: ThroughputOptions): Promise<ThroughputResult> {
  const world = await openContainerWorld(phasesScript, 'bridge-throughput', { withoutPodman: true });
  const servers: Array<{ kill: () => void }> = [];
  try {
    const bare = bareBridge(world.scratch.path);
    world.defer(() => bare.remove());
    const paths: Record<string, { client: string; server: string; address: string }> = {
      bare: { client: bare.client, server: bare.server, address: bare.serverAddress },
    };
    const bridgeNfCallIptables: Record<string, string> = {};
    for (const side of world.sides) {
      await side.docker('network', 'create', 'bench-tp');
      for (const name of ['tp-client', 'tp-server']) await side.docker('run', '-d', '--name', name, '--network', 'bench-tp', 'busybox', 'sleep', '3600');
      paths[side.daemon.name] = {
        client: await sandboxKey(side, 'tp-client'),
        server: await sandboxKey(side, 'tp-server'),
        address: await containerAddress(side, 'tp-server', 'bench-tp'),
      };
      bridgeNfCallIptables[side.daemon.name] = inNetns(side.daemon.netnsPath, 'sysctl', ['-n', 'net.bridge.bridge-nf-call-iptables']).trim();
    }
    for (const [name, path] of Object.entries(paths)) {
      const log = openSync(join(world.scratch.path, `iperf3-${name}.log`), 'w');
      const server = spawn('nsenter', [`--net=${path.server}`, '--', 'iperf3', '-s', '-p', String(SERVER_PORT)], { stdio: ['ignore', log, log] });
      closeSync(log);
      servers.push({ kill: () => server.kill('SIGTERM') });
    }
    await sleep(500);
    const samples: Record<string, number[]> = {};
    const cpuSamples: Record<string, number[]> = {};
    // skiff turns bridge-nf-call-ip(6)tables off in its namespace; the same containers once more with them on (--bridge-nf-call-iptables, dockerd's way).
    const skiffNetns = world.skiff.daemon.netnsPath;
    const brNetfilter = (value: string) =>
      inNetns(skiffNetns, 'sysctl', ['-q', '-w', `net.bridge.bridge-nf-call-iptables=${value}`, `net.bridge.bridge-nf-call-ip6tables=${value}`]);
    const runs: Record<string, { path: (typeof paths)[string]; before?: () => void; after?: () => void }> = Object.fromEntries(
      Object.entries(paths).map(([name, path]) => [name, { path }]),
    );
    const original = bridgeNfCallIptables['skiff'] ?? '0';
    runs['skiff, bridge-nf-call on'] = { path: paths['skiff']!, before: () => brNetfilter('1'), after: () => brNetfilter(original) };
    // The bare bridge's namespace has the kernel's default (on, with nothing hooked); once more with it off.
    const bareNetfilter = (value: string) =>
      inNetns(bare.host, 'sysctl', ['-q', '-w', `net.bridge.bridge-nf-call-iptables=${value}`, `net.bridge.bridge-nf-call-ip6tables=${value}`]);
    runs['bare, bridge-nf-call off'] = { path: paths['bare']!, before: () => bareNetfilter('0'), after: () => bareNetfilter('1') };
    for (let round = 0; round < options.rounds + 1; round++) {
      for (const [name, run] of Object.entries(runs)) {
        run.before?.();
        try {
          const measured = iperf3(run.path.client, run.path.address, options.seconds);
          if (round > 0) {
            (samples[name] ??= []).push(measured.gbits);
            (cpuSamples[name] ??= []).push(measured.cpuMsPerGb);
          }
        } finally {
          run.after?.();
        }
      }
    }
    const summaries = (all: Record<string, number[]>) => Object.fromEntries(Object.entries(all).map(([name, values]) => [name, summarize(values)]));
    const gbits = summaries(samples);
    const cpuMsPerGb = summaries(cpuSamples);
    for (const [name, summary] of Object.entries(gbits)) {
      const cpu = cpuMsPerGb[name]!;
      const versus =
        name === 'bare'
          ? ''
          : `   rate ${ratio(summary.median, gbits['bare']!.median)} of bare, CPU/GB ${ratio(cpu.median, cpuMsPerGb['bare']!.median)} of bare`;
      console.log(`${name.padEnd(28)} ${describe(summary).replace(/ ms/g, ' Gbit/s')}; ${describe(cpu).replace(/ ms/g, ' CPU ms/GB')}${versus}`);
    }
    console.log(`bridge-nf-call-iptables in the daemons' namespaces: ${JSON.stringify(bridgeNfCallIptables)}`);
    return { gbits, cpuMsPerGb, bridgeNfCallIptables };
  } finally {
    for (const server of servers) server.kill();
    await world.close();
  }
}

await runStandalone({ script, phase: 'bridge-throughput', timeoutMs: 20 * 60_000, optionsEnv: OPTIONS_ENV, optionsFrom, run: throughputPhase });
