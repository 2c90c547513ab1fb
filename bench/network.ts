/**
 * Benchmarks of skiff's bridge networks (not tests: nothing here judges a time).
 *
 *   node dist/bench/network.js [--only cli|library]
 *
 * Run as root. This entry touches nothing itself: it re-runs this file once
 * per phase inside a throwaway world (see world.ts) and prints the results,
 * with ratios and the issue's targets, at the end.
 *   cli      the same docker CLI against skiff's daemon and a real dockerd
 *   library  the engine in-process: create/delete, join/leave, 10 → 1,000 endpoints
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { containersPhase, type ContainersResult } from './containers-bench.js';
import { cliPhase, CROWDED_ENDPOINTS, type CliResult } from './cli-bench.js';
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
} as const;

async function runPhase(phase: string): Promise<void> {
  assertInWorld();
  // As the first process of its pid namespace, node ignores SIGTERM unless told otherwise.
  process.on('SIGTERM', () => process.exit(143));
  const phases: Record<string, () => Promise<unknown>> = {
    cli: () => cliPhase(script),
    library: libraryPhase,
    containers: () => containersPhase(script),
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

function printSummary(cli: CliResult | undefined, library: LibraryResult | undefined): void {
  console.log('\n== summary against the issue\'s targets (medians)');
  const rows: string[][] = [['what', 'skiff', 'dockerd here', 'skiff/dockerd', 'target', '']];
  if (cli !== undefined) {
    const floor = cli.version.skiff?.median ?? NaN;
    for (const [label, record, docker2010] of [['network create (CLI)', cli.create, TARGETS.docker2010CreateMs], ['network rm (CLI)', cli.rm, TARGETS.docker2010RmMs]] as const) {
      const skiff = record.skiff?.median ?? NaN;
      const dockerd = record.dockerd?.median ?? NaN;
      rows.push([label, `${ms(skiff)} ms`, `${ms(dockerd)} ms`, ratio(skiff, dockerd), `< ${TARGETS.createRmMs} ms (20.10 elsewhere: ${docker2010} ms)`, verdict(skiff < TARGETS.createRmMs)]);
      rows.push([`  ${label.split(' (')[0]} less the CLI floor`, `${ms(skiff - floor)} ms`, `${ms(dockerd - (cli.version.dockerd?.median ?? NaN))} ms`, '', '', '']);
    }
    rows.push(['CLI floor (docker version)', `${ms(floor)} ms`, `${ms(cli.version.dockerd?.median ?? NaN)} ms`, ratio(floor, cli.version.dockerd?.median ?? NaN), '~26 ms (issue)', '']);
    const emptyCli = cli.inspect.cliEmpty.skiff?.median ?? NaN;
    const emptyApi = cli.inspect.apiEmpty.skiff?.median ?? NaN;
    rows.push([`inspect ${CROWDED_ENDPOINTS} endpoints / empty (CLI)`, ratio(cli.inspect.cliCrowded.median, emptyCli), 'not measured', '', 'as fast as empty', verdict(cli.inspect.cliCrowded.median <= emptyCli * 1.1)]);
    rows.push([`inspect ${CROWDED_ENDPOINTS} endpoints / empty (API)`, ratio(cli.inspect.apiCrowded.median, emptyApi), '', '', '', '']);
  }
  if (library !== undefined) {
    const first = library.levels[0];
    const last = library.levels[library.levels.length - 1];
    if (first !== undefined && last !== undefined) {
      const scaling = last.join.total.median / first.join.total.median;
      rows.push([`join at ${last.endpoints} / at ${first.endpoints} endpoints`, `${scaling.toFixed(2)}x`, '', '', `within ${TARGETS.joinScaling}x`, verdict(scaling <= TARGETS.joinScaling)]);
      rows.push([`join at ${first.endpoints} endpoints`, `${ms(first.join.total.median)} ms`, '', '', '', '']);
      rows.push([`leave at ${first.endpoints} endpoints`, `${ms(first.leave.total.median)} ms`, '', '', '', '']);
    }
  }
  console.log(table(rows));
  console.log('(the verdict column is a reading of the medians, printed for the report; the benchmark never fails on a time)');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const phaseIndex = argv.indexOf('--phase');
  if (phaseIndex >= 0) { await runPhase(argv[phaseIndex + 1] ?? ''); return; }
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark makes namespaces, bridges and nftables tables inside its own world');
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex >= 0 ? argv[onlyIndex + 1] : undefined;
  const cli = dockerCli();
  console.log(`skiff network benchmarks: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, kernel ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}`);
  console.log(`docker CLI: ${cli}${existsSync(DOCKERD) ? `; dockerd: ${DOCKERD}` : '; no dockerd (apt-get install docker.io to compare)'}`);
  let cliResult: CliResult | undefined;
  let libraryResult: LibraryResult | undefined;
  if (only === undefined || only === 'cli') cliResult = await runPhaseInWorld(script, 'cli', PHASE_TIMEOUT_MS) as CliResult;
  if (only === undefined || only === 'library') libraryResult = await runPhaseInWorld(script, 'library', PHASE_TIMEOUT_MS) as LibraryResult;
  let containersResult: ContainersResult | undefined;
  if (only === undefined || only === 'containers') containersResult = await runPhaseInWorld(script, 'containers', PHASE_TIMEOUT_MS) as ContainersResult;
  printSummary(cliResult, libraryResult);
  void containersResult;
}

await main();
