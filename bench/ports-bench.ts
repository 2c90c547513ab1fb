/**
 * Phase "ports": published ports of skiff, of dockerd (docker-proxy for
 * loopback, DNAT for the rest) and of Podman (netavark's DNAT, conmon holding
 * each port's socket), in the same world.
 *   - iperf3 throughput (-t 5) to a container's published port from the
 *     daemon's own loopback and from an "outside" namespace joined to the
 *     daemon's namespace by a veth, each as a fraction of iperf3 straight to
 *     the container's address. The iperf3 server runs in the container's
 *     namespace (nsenter), not in the image.
 *   - processes per published port
 *   - `run -d -p` (one more port) and plain `run -d` with 1, 100 and 1,000
 *     ports already published (containers with ranges of 100 ports each)
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  containerAddress,
  execBreakdown,
  openContainerWorld,
  Samples,
  sandboxKey,
  timedDocker,
  type ExecBreakdown,
  type PerDaemon,
  type Side,
} from './container-world.js';
import { childrenOf, pidsNamed, pssKb, sum } from './memory.js';
import { benchSize } from './size.js';
import { describe, ratio, summarize, type Summary } from './stats.js';
import { makeNetns, vethBetween } from './world.js';

const PORTS_PER_FILLER = 100;
const FIRST_FILLER_PORT = 20000;
const SERVER_PORT = 5201;
const PUBLISHED_PORT = 15201;
const OUTSIDE: Record<Side['daemon']['name'], { daemonSide: string; outside: string; link: string }> = {
  skiff: { daemonSide: '10.60.1.1', outside: '10.60.1.2', link: 'outs' },
  dockerd: { daemonSide: '10.60.2.1', outside: '10.60.2.2', link: 'outd' },
  podman: { daemonSide: '10.60.3.1', outside: '10.60.3.2', link: 'outp' },
};

export type PathName = 'direct' | 'loopback' | 'outside';

export interface PortLevel {
  published: number;
  runWithPort: PerDaemon<Summary>;
  runWithout: PerDaemon<Summary>;
  skiffExecsWithPort: ExecBreakdown[];
  /** docker-proxy processes (dockerd) / children of the daemon other than shims (skiff) / rootlessport (Podman). */
  processes: PerDaemon<number>;
  /** Σ Pss of those processes. */
  processesKb: PerDaemon<number>;
}

export interface PortsResult {
  dockerdSkipped?: string;
  podmanSkipped?: string;
  /** Gbit/s per path, per daemon. */
  throughput: Record<PathName, PerDaemon<Summary>>;
  /** Paths a daemon could not carry, with iperf3's reason (no number is made up for them). */
  throughputFailures: Record<PathName, PerDaemon<string>>;
  levels: PortLevel[];
  leftovers: string[];
}

function iperf3(netns: string, address: string, port: number, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'nsenter',
      [`--net=${netns}`, '--', 'iperf3', '-c', address, '-p', String(port), '-t', String(seconds), '-J', '--connect-timeout', '3000'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        const report = JSON.parse(out) as { error?: string; end?: { sum_received?: { bits_per_second?: number } } };
        if (code !== 0 || report.error !== undefined) throw new Error(report.error ?? `exit ${code}`);
        resolve((report.end?.sum_received?.bits_per_second ?? NaN) / 1e9);
      } catch (error) {
        reject(new Error(`iperf3 -c ${address} -p ${port}: ${code === null ? `no result within ${seconds + 15} s` : (error as Error).message}`));
      }
    });
  });
}

function perPortProcesses(side: Side): { count: number; kb: number } {
  const shims = pidsNamed('skiff-shim');
  const pids =
    side.daemon.name === 'dockerd'
      ? pidsNamed('docker-proxy')
      : side.daemon.name === 'podman'
        ? pidsNamed('rootlessport')
        : childrenOf(side.daemon.pid).filter((pid) => !shims.includes(pid));
  return { count: pids.length, kb: sum(pids.map(pssKb)) };
}

export async function portsPhase(script: string): Promise<PortsResult> {
  const size = benchSize().ports;
  const world = await openContainerWorld(script, 'ports', { traceSkiff: true });
  const leftovers: string[] = [];
  try {
    const { sides, scratch } = world;
    const outside = makeNetns(join(scratch.path, 'outside'));
    world.defer(() => outside.remove());
    const targets: Record<string, Record<PathName, { netns: string; address: string; port: number }>> = {};
    for (const side of sides) {
      const link = OUTSIDE[side.daemon.name];
      vethBetween(side.daemon.netnsPath, `${link.daemonSide}/24`, outside.path, `${link.outside}/24`, link.link);
      await side.docker('network', 'create', 'bench-ports');
      await side.docker('run', '-d', '--name', 'srv', '--network', 'bench-ports', '-p', `${PUBLISHED_PORT}:${SERVER_PORT}`, 'busybox', 'sleep', '3600');
      const netns = await sandboxKey(side, 'srv');
      const log = openSync(join(scratch.path, `iperf3-${side.daemon.name}.log`), 'w');
      const server = spawn('nsenter', [`--net=${netns}`, '--', 'iperf3', '-s', '-p', String(SERVER_PORT)], { stdio: ['ignore', log, log] });
      closeSync(log);
      world.defer(async () => {
        if (server.exitCode !== null) return;
        const exited = new Promise((resolve) => server.once('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      });
      targets[side.daemon.name] = {
        direct: { netns: side.daemon.netnsPath, address: await containerAddress(side, 'srv', 'bench-ports'), port: SERVER_PORT },
        loopback: { netns: side.daemon.netnsPath, address: '127.0.0.1', port: PUBLISHED_PORT },
        outside: { netns: outside.path, address: link.daemonSide, port: PUBLISHED_PORT },
      };
    }
    await sleep(500);

    const samples: Record<PathName, Record<string, number[]>> = { direct: {}, loopback: {}, outside: {} };
    const throughputFailures: PortsResult['throughputFailures'] = { direct: {}, loopback: {}, outside: {} };
    for (let round = 0; round < size.iperfRounds; round++) {
      for (const path of ['direct', 'loopback', 'outside'] as const) {
        for (const side of sides) {
          // A path that failed once is not tried again: its reason is the result.
          if (throughputFailures[path][side.daemon.name] !== undefined) continue;
          const target = targets[side.daemon.name]![path];
          try {
            const gbits = await iperf3(target.netns, target.address, target.port, size.iperfSeconds);
            (samples[path][side.daemon.name] ??= []).push(gbits);
            console.log(`${side.daemon.name} ${path} round ${round + 1}: ${gbits.toFixed(2)} Gbit/s`);
          } catch (error) {
            throughputFailures[path][side.daemon.name] = (error as Error).message;
            delete samples[path][side.daemon.name];
            console.log(`${side.daemon.name} ${path}: not measured: ${(error as Error).message}`);
          }
        }
      }
    }
    const throughput = Object.fromEntries(
      Object.entries(samples).map(([path, record]) => [path, Object.fromEntries(Object.entries(record).map(([name, values]) => [name, summarize(values)]))]),
    ) as PortsResult['throughput'];

    // Publishing one more port with 1, 100 and 1,000 already published.
    const levels: PortLevel[] = [];
    const fillers: Record<string, string[]> = {};
    let published = 1;
    let nextFillerPort = FIRST_FILLER_PORT;
    for (const level of size.levels) {
      while (published < level) {
        const count = Math.min(PORTS_PER_FILLER, level - published);
        const range = `${nextFillerPort}-${nextFillerPort + count - 1}`;
        for (const side of sides) {
          const name = `filler-${nextFillerPort}`;
          await side.docker('run', '-d', '--name', name, '--network', 'bench-ports', '-p', `${range}:${range}`, 'busybox', 'sleep', '3600');
          (fillers[side.daemon.name] ??= []).push(name);
        }
        nextFillerPort += count;
        published += count;
      }
      const withPort = new Samples();
      const without = new Samples();
      for (let round = 0; round < size.publishWarmup + size.publishCounted; round++) {
        const counted = round >= size.publishWarmup;
        for (const side of sides) {
          const a = await timedDocker(
            side,
            counted ? withPort : undefined,
            'run',
            '-d',
            '--network',
            'bench-ports',
            '-p',
            `${30000 + round}:80`,
            'busybox',
            'sleep',
            '3600',
          );
          const b = await timedDocker(side, counted ? without : undefined, 'run', '-d', '--network', 'bench-ports', 'busybox', 'sleep', '3600');
          await side.docker('rm', '-f', a.stdout.trim(), b.stdout.trim());
        }
      }
      const processes: PerDaemon<number> = {};
      const processesKb: PerDaemon<number> = {};
      for (const side of sides) {
        const found = perPortProcesses(side);
        processes[side.daemon.name] = found.count;
        processesKb[side.daemon.name] = found.kb;
      }
      const entry: PortLevel = {
        published,
        runWithPort: withPort.summaries(),
        runWithout: without.summaries(),
        skiffExecsWithPort: execBreakdown(withPort.execs),
        processes,
        processesKb,
      };
      levels.push(entry);
      console.log(
        `${published} ports published: ${sides
          .map(
            ({ daemon: { name } }) =>
              `${name} run -d -p ${entry.runWithPort[name] ? describe(entry.runWithPort[name]) : '-'}, run -d ${entry.runWithout[name]?.median.toFixed(1) ?? '-'} ms, ` +
              `per-port processes ${processes[name] ?? '-'} (${((processesKb[name] ?? 0) / 1024).toFixed(1)} MB Pss)`,
          )
          .join('; ')}`,
      );
    }
    const result: PortsResult = { dockerdSkipped: world.dockerdSkipped, podmanSkipped: world.podmanSkipped, throughput, throughputFailures, levels, leftovers };
    printPortsResult(result);
    for (const side of sides) {
      const started = Date.now();
      await side.removeContainers(fillers[side.daemon.name] ?? [], 1);
      console.log(
        `${side.daemon.name}: removing the ${fillers[side.daemon.name]?.length ?? 0} filler containers (${published - 1} ports) took ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    return result;
  } finally {
    leftovers.push(...(await world.close()));
  }
}

export function printPortsResult(result: PortsResult): void {
  const direct = result.throughput.direct;
  for (const path of ['direct', 'loopback', 'outside'] as const) {
    const record = result.throughput[path];
    const cells = Object.entries(record).map(
      ([name, entry]) =>
        `${name} ${entry.median.toFixed(2)} Gbit/s (${entry.min.toFixed(2)}–${entry.max.toFixed(2)}) = ${ratio(entry.median, direct[name as keyof typeof direct]?.median ?? NaN)} of direct`,
    );
    const failed = Object.entries(result.throughputFailures[path]).map(([name, reason]) => `${name} not measured (${reason})`);
    const ratios = Object.entries(record)
      .filter(([name]) => name !== 'skiff')
      .map(([name, entry]) => `skiff/${name} ${ratio(record.skiff?.median ?? NaN, entry.median)}`);
    console.log(`${path.padEnd(9)} ${[...cells, ...failed, ...ratios].join('   ')}`);
  }
  const first = result.levels[0];
  for (const level of result.levels) {
    const names = Object.keys(level.runWithPort) as Array<keyof PerDaemon<Summary>>;
    const scale = (record: PerDaemon<Summary>, base: PerDaemon<Summary> | undefined, name: keyof PerDaemon<Summary>) =>
      `${record[name]?.median.toFixed(1) ?? '-'} ms (${ratio(record[name]?.median ?? NaN, base?.[name]?.median ?? NaN)})`;
    console.log(
      `${String(level.published).padStart(5)} ports: run -d -p ${names.map((name) => `${name} ${scale(level.runWithPort, first?.runWithPort, name)}`).join(' ')}; ` +
        `run -d ${names.map((name) => `${name} ${scale(level.runWithout, first?.runWithout, name)}`).join(' ')}`,
    );
    console.log(
      `        skiff run -d -p: ${level.skiffExecsWithPort.map((entry) => `${entry.label} ×${entry.runsPerCall.toFixed(1)} ${entry.medianMs.toFixed(1)} ms`).join(', ')}`,
    );
  }
}
