/**
 * Benchmarks of skiff's bridge networks (not tests: nothing here judges a time).
 *
 *   node dist/bench/network.js [--only cli|library|containers|dns|ports]
 *
 * Run as root. This entry touches nothing itself: it re-runs this file once
 * per phase inside a throwaway world (see world.ts) and prints the results,
 * with ratios and the issue's targets, at the end.
 *   cli      the same docker CLI against skiff's daemon and a real dockerd
 *   library  the engine in-process: create/delete, join/leave, 10 → 1,000 endpoints
 *   containers  run -d (network share, beside a crowd), connect/disconnect, memory per container
 *   dns      the embedded DNS: names and forwarded queries with dnsperf, memory of names
 *   ports    published ports: iperf3 loopback/outside against direct, publishing at 1/100/1,000 ports
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { portsPhase, type PortsResult } from './ports-bench.js';
import { dnsPhase, type DnsResult } from './dns-bench.js';
import { containersPhase, type ContainersResult } from './containers-bench.js';
import { cliPhase, type CliResult } from './cli-bench.js';
import { DOCKERD, dockerCli } from './daemons.js';
import { populatePhase, teardownPhase } from './engine-phases.js';
import { libraryPhase, type LibraryResult } from './library-bench.js';
import { ms, ratio, table } from './stats.js';
import { assertInWorld, emitResult, runPhaseInWorld } from './world.js';

const script = fileURLToPath(import.meta.url);
const PHASE_TIMEOUT_MS = 25 * 60_000;

const TARGETS = {
  createRmMs: 30,
  joinScaling: 1.2,
  docker2010CreateMs: 85,
  docker2010RmMs: 186,
  networkShareMs: 20,
  runCrowdedMs: 100,
  connectMs: 30,
  perContainerMb: 1,
  namesRate: 1.5,
  forwardedRate: 3,
  loopbackFraction: 0.97,
  publishScaling: 1.05,
  // Docker 20.10, measured elsewhere (the issues' figures).
  docker2010: { networkShareMs: 73, runCrowdedMs: 293, connectMs: 48, disconnectMs: 68, perContainerMb: 13.7, namesQps: 65_000, forwardedQps: 17_000 },
} as const;

async function runPhase(phase: string): Promise<void> {
  assertInWorld();
  // As the first process of its pid namespace, node ignores SIGTERM unless told otherwise.
  process.on('SIGTERM', () => process.exit(143));
  const phases: Record<string, () => Promise<unknown>> = {
    cli: () => cliPhase(script),
    library: libraryPhase,
    containers: () => containersPhase(script),
    dns: () => dnsPhase(script),
    ports: () => portsPhase(script),
    populate: populatePhase,
    teardown: teardownPhase,
  };
  const work = phases[phase];
  if (work === undefined) throw new Error(`unknown phase ${phase}`);
  emitResult(await work());
}

function verdict(met: boolean): string {
  return met ? 'meets' : 'misses';
}

interface Results {
  cli?: CliResult;
  library?: LibraryResult;
  containers?: ContainersResult;
  dns?: DnsResult;
  ports?: PortsResult;
}

function containerRows(result: ContainersResult): string[][] {
  const rows: string[][] = [];
  const d = TARGETS.docker2010;
  const share = result.networkShare;
  rows.push([
    'run -d: network share (user − none)',
    `${ms(share.skiff ?? NaN)} ms`,
    `${ms(share.dockerd ?? NaN)} ms`,
    ratio(share.skiff ?? NaN, share.dockerd ?? NaN),
    `≤ ${TARGETS.networkShareMs} ms (20.10 elsewhere: ${d.networkShareMs})`,
    verdict((share.skiff ?? Infinity) <= TARGETS.networkShareMs),
  ]);
  const crowdSize = result.crowd.skiff?.containers ?? 0;
  const crowded = result.runCrowded;
  rows.push([
    `run -d beside ${crowdSize} containers`,
    `${ms(crowded.skiff?.median ?? NaN)} ms`,
    `${ms(crowded.dockerd?.median ?? NaN)} ms (${result.crowd.dockerd?.containers ?? '-'})`,
    ratio(crowded.skiff?.median ?? NaN, crowded.dockerd?.median ?? NaN),
    `≤ ${TARGETS.runCrowdedMs} ms (20.10: ${d.runCrowdedMs})`,
    verdict((crowded.skiff?.median ?? Infinity) <= TARGETS.runCrowdedMs),
  ]);
  for (const [label, record, docker] of [
    ['network connect', result.connect, d.connectMs],
    ['network disconnect', result.disconnect, d.disconnectMs],
  ] as const) {
    rows.push([
      label,
      `${ms(record.skiff?.median ?? NaN)} ms`,
      `${ms(record.dockerd?.median ?? NaN)} ms`,
      ratio(record.skiff?.median ?? NaN, record.dockerd?.median ?? NaN),
      `≤ ${TARGETS.connectMs} ms (20.10: ${docker})`,
      verdict((record.skiff?.median ?? Infinity) <= TARGETS.connectMs),
    ]);
  }
  const mb = (kb: number | undefined) => (kb === undefined ? NaN : kb / 1024);
  const skiffMb = mb(result.crowd.skiff?.perContainerKb);
  const dockerMb = mb(result.crowd.dockerd?.perContainerKb);
  rows.push([
    'memory per running container',
    `${skiffMb.toFixed(2)} MB`,
    `${dockerMb.toFixed(2)} MB`,
    ratio(skiffMb, dockerMb),
    `≤ ${TARGETS.perContainerMb} MB (20.10: ${d.perContainerMb})`,
    verdict(skiffMb <= TARGETS.perContainerMb),
  ]);
  return rows;
}

function dnsRows(result: DnsResult): string[][] {
  const rows: string[][] = [];
  for (const [kind, target, docker] of [
    ['names', TARGETS.namesRate, TARGETS.docker2010.namesQps],
    ['forwarded', TARGETS.forwardedRate, TARGETS.docker2010.forwardedQps],
  ] as const) {
    const { skiff, dockerd } = result.runs[kind];
    const rate = (skiff?.qps.median ?? NaN) / (dockerd?.qps.median ?? NaN);
    rows.push([
      `DNS ${kind}: queries/s`,
      (skiff?.qps.median ?? NaN).toFixed(0),
      (dockerd?.qps.median ?? NaN).toFixed(0),
      `${rate.toFixed(2)}x`,
      `${target}x dockerd (20.10: ${docker})`,
      verdict(rate >= target),
    ]);
    rows.push([
      `DNS ${kind}: p50 / p99`,
      `${ms(skiff?.p50Ms.median ?? NaN)} / ${ms(skiff?.p99Ms.median ?? NaN)} ms`,
      `${ms(dockerd?.p50Ms.median ?? NaN)} / ${ms(dockerd?.p99Ms.median ?? NaN)} ms`,
      ratio(skiff?.p99Ms.median ?? NaN, dockerd?.p99Ms.median ?? NaN),
      "p99 ≤ dockerd's",
      verdict((skiff?.p99Ms.median ?? Infinity) <= (dockerd?.p99Ms.median ?? NaN)),
    ]);
  }
  rows.push([
    'DNS: daemon RSS per alias (1,000)',
    `${(result.aliasMemory.skiff?.bytesPerName ?? NaN).toFixed(0)} B`,
    `${(result.aliasMemory.dockerd?.bytesPerName ?? NaN).toFixed(0)} B`,
    '',
    '',
    '',
  ]);
  rows.push(['DNS: DnsRecords heap per name', `${result.records.bytesPerNameWithAskers.toFixed(0)} B`, '', '', '', '']);
  return rows;
}

function portRows(result: PortsResult): string[][] {
  const rows: string[][] = [];
  for (const path of ['loopback', 'outside'] as const) {
    const fraction = (name: 'skiff' | 'dockerd') => (result.throughput[path][name]?.median ?? NaN) / (result.throughput.direct[name]?.median ?? NaN);
    rows.push([
      `ports: ${path} / direct throughput`,
      `${fraction('skiff').toFixed(2)}x`,
      `${fraction('dockerd').toFixed(2)}x`,
      '',
      path === 'loopback' ? `≥ ${TARGETS.loopbackFraction}x` : '',
      path === 'loopback' ? verdict(fraction('skiff') >= TARGETS.loopbackFraction) : '',
    ]);
  }
  const first = result.levels[0];
  const last = result.levels[result.levels.length - 1];
  if (first !== undefined && last !== undefined) {
    const scaling = (name: 'skiff' | 'dockerd') => (last.runWithPort[name]?.median ?? NaN) / (first.runWithPort[name]?.median ?? NaN);
    rows.push([
      `ports: run -d -p at ${last.published} / at ${first.published}`,
      `${scaling('skiff').toFixed(2)}x`,
      `${scaling('dockerd').toFixed(2)}x`,
      '',
      `within ${TARGETS.publishScaling}x`,
      verdict(scaling('skiff') <= TARGETS.publishScaling),
    ]);
    rows.push([
      `ports: processes at ${last.published} ports`,
      String(last.processes.skiff ?? '-'),
      String(last.processes.dockerd ?? '-'),
      '',
      'no process per port',
      verdict((last.processes.skiff ?? Infinity) === 0),
    ]);
  }
  return rows;
}

function printSummary({ cli, library, containers, dns, ports }: Results): void {
  console.log("\n== summary against the issue's targets (medians)");
  const rows: string[][] = [['what', 'skiff', 'dockerd here', 'skiff/dockerd', 'target', '']];
  if (cli !== undefined) {
    const floor = cli.version.skiff?.median ?? NaN;
    for (const [label, record, docker2010] of [
      ['network create (CLI)', cli.create, TARGETS.docker2010CreateMs],
      ['network rm (CLI)', cli.rm, TARGETS.docker2010RmMs],
    ] as const) {
      const skiff = record.skiff?.median ?? NaN;
      const dockerd = record.dockerd?.median ?? NaN;
      rows.push([
        label,
        `${ms(skiff)} ms`,
        `${ms(dockerd)} ms`,
        ratio(skiff, dockerd),
        `< ${TARGETS.createRmMs} ms (20.10 elsewhere: ${docker2010} ms)`,
        verdict(skiff < TARGETS.createRmMs),
      ]);
      rows.push([
        `  ${label.split(' (')[0]} less the CLI floor`,
        `${ms(skiff - floor)} ms`,
        `${ms(dockerd - (cli.version.dockerd?.median ?? NaN))} ms`,
        '',
        '',
        '',
      ]);
    }
    rows.push([
      'CLI floor (docker version)',
      `${ms(floor)} ms`,
      `${ms(cli.version.dockerd?.median ?? NaN)} ms`,
      ratio(floor, cli.version.dockerd?.median ?? NaN),
      '~26 ms (issue)',
      '',
    ]);
    const emptyCli = cli.inspect.cliEmpty.skiff?.median ?? NaN;
    const emptyApi = cli.inspect.apiEmpty.skiff?.median ?? NaN;
    rows.push([
      `inspect ${cli.inspect.crowdedEndpointsSeen} endpoints / empty (CLI)`,
      ratio(cli.inspect.cliCrowded.median, emptyCli),
      'not measured',
      '',
      'as fast as empty',
      verdict(cli.inspect.cliCrowded.median <= emptyCli * 1.1),
    ]);
    rows.push([`inspect ${cli.inspect.crowdedEndpointsSeen} endpoints / empty (API)`, ratio(cli.inspect.apiCrowded.median, emptyApi), '', '', '', '']);
  }
  if (library !== undefined) {
    const first = library.levels[0];
    const last = library.levels[library.levels.length - 1];
    if (first !== undefined && last !== undefined) {
      const scaling = last.join.total.median / first.join.total.median;
      rows.push([
        `join at ${last.endpoints} / at ${first.endpoints} endpoints`,
        `${scaling.toFixed(2)}x`,
        '',
        '',
        `within ${TARGETS.joinScaling}x`,
        verdict(scaling <= TARGETS.joinScaling),
      ]);
      rows.push([`join at ${first.endpoints} endpoints`, `${ms(first.join.total.median)} ms`, '', '', '', '']);
      rows.push([`leave at ${first.endpoints} endpoints`, `${ms(first.leave.total.median)} ms`, '', '', '', '']);
    }
  }
  if (containers !== undefined) rows.push(...containerRows(containers));
  if (dns !== undefined) rows.push(...dnsRows(dns));
  if (ports !== undefined) rows.push(...portRows(ports));
  console.log(table(rows));
  console.log('(the verdict column is a reading of the medians, printed for the report; the benchmark never fails on a time)');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const phaseIndex = argv.indexOf('--phase');
  if (phaseIndex >= 0) {
    await runPhase(argv[phaseIndex + 1] ?? '');
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark makes namespaces, bridges and nftables tables inside its own world');
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex >= 0 ? argv[onlyIndex + 1] : undefined;
  const phases = ['cli', 'library', 'containers', 'dns', 'ports'];
  if (only !== undefined && !phases.includes(only)) throw new Error(`--only takes one of ${phases.join(', ')}`);
  const cli = dockerCli();
  console.log(
    `skiff network benchmarks: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`,
  );
  console.log(`docker CLI: ${cli}${existsSync(DOCKERD) ? `; dockerd: ${DOCKERD}` : '; no dockerd (apt-get install docker.io to compare)'}`);
  let cliResult: CliResult | undefined;
  let libraryResult: LibraryResult | undefined;
  if (only === undefined || only === 'cli') cliResult = (await runPhaseInWorld(script, 'cli', PHASE_TIMEOUT_MS)) as CliResult;
  if (only === undefined || only === 'library') libraryResult = (await runPhaseInWorld(script, 'library', PHASE_TIMEOUT_MS)) as LibraryResult;
  let containersResult: ContainersResult | undefined;
  if (only === undefined || only === 'containers') containersResult = (await runPhaseInWorld(script, 'containers', PHASE_TIMEOUT_MS)) as ContainersResult;
  let dnsResult: DnsResult | undefined;
  if (only === undefined || only === 'dns') dnsResult = (await runPhaseInWorld(script, 'dns', PHASE_TIMEOUT_MS)) as DnsResult;
  let portsResult: PortsResult | undefined;
  if (only === undefined || only === 'ports') portsResult = (await runPhaseInWorld(script, 'ports', PHASE_TIMEOUT_MS)) as PortsResult;
  printSummary({ cli: cliResult, library: libraryResult, containers: containersResult, dns: dnsResult, ports: portsResult });
}

await main();
