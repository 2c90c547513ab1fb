/**
 * `npm run bench [-- --quick]`: skiff against Docker (dockerd 20.10) and
 * Podman (4.3, its Docker-compatible API service), all driven by the same
 * stock docker CLI, one after the other in one run; then bench/results.json
 * and bench/REPORT.md with charts in bench/charts/.
 *
 *   node dist/bench/bench.js [--quick] [--report-only]
 *
 * Run as root (bench/install.sh, which `npm run bench` calls first, installs
 * what is missing). This entry touches nothing itself: every phase runs in a
 * throwaway world of its own (world.ts) through network.js's `--phase`, and
 * everything a phase started dies with its world. `--report-only` renders the
 * report again from bench/results.json. Nothing here judges a time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliResult } from './cli-bench.js';
import type { ContainersResult } from './containers-bench.js';
import { DOCKERD, dockerCli, PODMAN, PODMAN_RUNTIME } from './daemons.js';
import type { DnsResult } from './dns-bench.js';
import type { PortsResult } from './ports-bench.js';
import { writeReport } from './report.js';
import { SIZE_ENV, type SizeName } from './size.js';
import { runPhaseInWorld } from './world.js';

const here = dirname(fileURLToPath(import.meta.url));
const phaseScript = join(here, 'network.js');
/** The sources' bench/ folder (this file runs from dist/bench/). */
export const benchSourceDir = join(here, '..', '..', 'bench');
const PHASES = ['cli', 'containers', 'dns', 'ports'] as const;
export type PhaseName = (typeof PHASES)[number];
const PHASE_BOUND_MS: Record<SizeName, number> = { quick: 4 * 60_000, default: 12 * 60_000, full: 25 * 60_000 };

export interface BenchResults {
  size: SizeName;
  startedAt: string;
  durationSeconds: number;
  phaseSeconds: Partial<Record<PhaseName, number>>;
  machine: { cpus: number; cpuModel: string; memoryGb: number; kernel: string; node: string };
  versions: { cli: string; cliVersion: string; dockerd?: string; podman?: string; podmanRuntime: string };
  /** Why a system or a phase is missing from this run. */
  skipped: Partial<Record<'dockerd' | 'podman', string>>;
  failures: Partial<Record<PhaseName, string>>;
  phases: { cli?: CliResult; containers?: ContainersResult; dns?: DnsResult; ports?: PortsResult };
}

/** A program's version line, or undefined when it is not installed. */
function versionOf(program: string, args: string[]): string | undefined {
  if (!existsSync(program)) return undefined;
  return execFileSync(program, args, { encoding: 'utf8' }).trim().split('\n')[0];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const resultsPath = join(benchSourceDir, 'results.json');
  if (argv.includes('--report-only')) {
    await writeReport(JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResults, benchSourceDir);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark makes namespaces, bridges and firewall tables inside throwaway worlds');
  const size: SizeName = argv.includes('--quick') ? 'quick' : 'default';
  // The phases read their size from the environment they inherit (bench/size.ts).
  process.env[SIZE_ENV] = size;
  const cli = dockerCli();
  const results: BenchResults = {
    size,
    startedAt: new Date().toISOString(),
    durationSeconds: 0,
    phaseSeconds: {},
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'cpu',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
      node: process.version,
    },
    versions: {
      cli,
      cliVersion: versionOf(cli, ['--version']) ?? '',
      dockerd: versionOf(DOCKERD, ['--version']),
      podman: versionOf(PODMAN, ['--version']),
      podmanRuntime: PODMAN_RUNTIME,
    },
    skipped: {
      ...(existsSync(DOCKERD) ? {} : { dockerd: `${DOCKERD} is not installed` }),
      ...(existsSync(PODMAN) ? {} : { podman: `${PODMAN} is not installed` }),
    },
    failures: {},
    phases: {},
  };
  console.log(`skiff bench (${size}): ${results.machine.cpus} × ${results.machine.cpuModel}, node ${results.machine.node}, kernel ${results.machine.kernel}`);
  console.log(`docker CLI ${cli} (${results.versions.cliVersion}); ${results.versions.dockerd ?? 'no dockerd'}; ${results.versions.podman ?? 'no podman'}`);
  const started = Date.now();
  for (const phase of PHASES) {
    const phaseStarted = Date.now();
    try {
      const result = await runPhaseInWorld(phaseScript, phase, PHASE_BOUND_MS[size]);
      (results.phases as Record<string, unknown>)[phase] = result;
    } catch (error) {
      results.failures[phase] = (error as Error).message;
      console.log(`phase ${phase} failed: ${(error as Error).message}`);
    }
    results.phaseSeconds[phase] = (Date.now() - phaseStarted) / 1000;
  }
  results.durationSeconds = (Date.now() - started) / 1000;
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 1)}\n`);
  await writeReport(results, benchSourceDir);
  console.log(
    `\n${size} run took ${(results.durationSeconds / 60).toFixed(1)} min; wrote ${resultsPath}, ${join(benchSourceDir, 'REPORT.md')} and ${join(benchSourceDir, 'charts')}/`,
  );
}

await main();
