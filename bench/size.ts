/**
 * How much work each phase does. The entry script picks a size and passes it
 * to the phases (which run in worlds of their own) in SKIFF_BENCH_SIZE:
 *   full     the long per-issue run of `bash bench/run.sh` (bench/README.md)
 *   default  `npm run bench`: every system, growth curves, under 20 minutes
 *   quick    `npm run bench -- --quick`: the same shapes, small, under 3 minutes
 */

export type SizeName = 'quick' | 'default' | 'full';

export interface BenchSize {
  name: SizeName;
  /** Pause before a memory reading, so freed pages and GC settle. */
  settleMs: number;
  cli: { warmup: number; floor: number; createRm: number; inspectCli: number; inspectApi: number; crowdedEndpoints: number };
  containers: {
    warmup: number;
    start: number;
    connect: number;
    /** `run -d` calls timed at each crowd level. */
    crowded: number;
    /** Running containers at which run -d, ps, network inspect and memory are measured. */
    crowdLevels: readonly number[];
    /** Whether to run the bare-program control of the DNS redirect (skiff's "where the time goes"). */
    redirectControl: boolean;
  };
  dns: { rounds: number; seconds: number; checkSeconds: number; aliasContainers: number; aliasesEach: number };
  ports: { iperfSeconds: number; iperfRounds: number; levels: readonly number[]; publishWarmup: number; publishCounted: number };
}

const SIZES: Record<SizeName, BenchSize> = {
  full: {
    name: 'full',
    settleMs: 3000,
    cli: { warmup: 3, floor: 15, createRm: 20, inspectCli: 15, inspectApi: 40, crowdedEndpoints: 200 },
    containers: { warmup: 2, start: 12, connect: 12, crowded: 6, crowdLevels: [50, 100, 200], redirectControl: true },
    dns: { rounds: 2, seconds: 10, checkSeconds: 1, aliasContainers: 10, aliasesEach: 100 },
    ports: { iperfSeconds: 5, iperfRounds: 3, levels: [1, 100, 1000], publishWarmup: 1, publishCounted: 5 },
  },
  default: {
    name: 'default',
    settleMs: 2000,
    cli: { warmup: 2, floor: 10, createRm: 10, inspectCli: 8, inspectApi: 20, crowdedEndpoints: 200 },
    containers: { warmup: 1, start: 8, connect: 8, crowded: 4, crowdLevels: [25, 50, 100, 150], redirectControl: false },
    dns: { rounds: 2, seconds: 5, checkSeconds: 1, aliasContainers: 10, aliasesEach: 100 },
    ports: { iperfSeconds: 3, iperfRounds: 2, levels: [1, 100, 300, 600], publishWarmup: 1, publishCounted: 3 },
  },
  quick: {
    name: 'quick',
    settleMs: 1000,
    cli: { warmup: 1, floor: 4, createRm: 4, inspectCli: 3, inspectApi: 8, crowdedEndpoints: 50 },
    containers: { warmup: 1, start: 3, connect: 3, crowded: 2, crowdLevels: [5, 10, 20], redirectControl: false },
    dns: { rounds: 1, seconds: 2, checkSeconds: 1, aliasContainers: 4, aliasesEach: 25 },
    ports: { iperfSeconds: 1, iperfRounds: 1, levels: [1, 50, 100], publishWarmup: 0, publishCounted: 2 },
  },
};

export const SIZE_ENV = 'SKIFF_BENCH_SIZE';

/** The size the entry chose (full when none was, as `bash bench/run.sh` runs). */
export function benchSize(): BenchSize {
  const name = process.env[SIZE_ENV] ?? 'full';
  if (!(name in SIZES)) throw new Error(`${SIZE_ENV}=${name}: expected one of ${Object.keys(SIZES).join(', ')}`);
  return SIZES[name as SizeName];
}

export function sizeNamed(name: SizeName): BenchSize {
  return SIZES[name];
}
