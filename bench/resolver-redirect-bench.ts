/**
 * The DNS redirect's install, as the daemon does it on a container's first
 * join, timed from the daemon's side: skiff's own nf_tables transaction
 * (installResolverRedirect) against the program pair it replaced
 * (`nsenter --net=PATH nft -f -` with the same script), round by round in
 * alternating order, each in a fresh namespace (first join) and again in
 * the same one (re-point); and the CPU time each takes, the daemon's threads
 * and the programs it starts together (the programs' is what a `run -d`
 * saves even where the install runs beside the runtime's create):
 *   node dist/bench/resolver-redirect-bench.js [--rounds 40]
 * As root; it runs in a world of its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installResolverRedirect, renderResolverRedirect } from '../src/firewall/resolver-redirect.js';
import { runInNetns } from '../src/kernel/exec.js';
import { describe, ms, summarize, type Summary } from './stats.js';
import { makeNetns, runStandalone, scratchDir } from './world.js';

interface Options {
  rounds: number;
}

const PORTS = { udp: 40001, tcp: 40002 };

const ways: Record<string, (netnsPath: string) => Promise<unknown>> = {
  'nsenter nft -f': (netnsPath) => runInNetns(netnsPath, 'nft', ['-f', '-'], { input: renderResolverRedirect(PORTS) }),
  'nf_tables messages': (netnsPath) => installResolverRedirect(netnsPath, PORTS),
};

/**
 * A re-point comes long after the install (a restarted daemon's repair).
 * Right after one it would wait for the install's socket to close, which
 * holds the namespace's nf_tables lock until the RCU grace period that frees
 * what the install replaced (as nft's exit does).
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

/** CPU time of this process's reaped children (cutime + cstime), in milliseconds: the programs' own. */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / CLOCK_TICKS;
}

/** USER_HZ. */
const CLOCK_TICKS = 100;

/** The work's wall time; its CPU time (this process's threads and its programs') added to cpu. */
async function timed(work: () => Promise<unknown>, cpu: { ms: number; calls: number }): Promise<number> {
  const ownBefore = process.cpuUsage();
  const childrenBefore = childrenCpuMs();
  const start = process.hrtime.bigint();
  await work();
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  const own = process.cpuUsage(ownBefore);
  cpu.ms += (own.user + own.system) / 1000 + childrenCpuMs() - childrenBefore;
  cpu.calls++;
  return wall;
}

interface RedirectResult {
  wall: Record<string, Summary>;
  /** Mean CPU time per install, the daemon's threads and its programs together. */
  cpuMsPerInstall: Record<string, number>;
}

async function redirectPhase(options: Options): Promise<RedirectResult> {
  const scratch = scratchDir('skiff-redirect-bench-');
  const samples: Record<string, number[]> = {};
  const cpu: Record<string, { ms: number; calls: number }> = {};
  try {
    await installResolverRedirect(makeNetns(join(scratch.path, 'warmup')).path, PORTS); // the addon loaded once, as in a running daemon
    for (let round = 0; round < options.rounds; round++) {
      const order = Object.entries(ways);
      if (round % 2 === 1) order.reverse();
      for (const [label, install] of order) {
        const netns = makeNetns(join(scratch.path, `ns-${round}-${label.replaceAll(' ', '-')}`));
        const spent = (cpu[label] ??= { ms: 0, calls: 0 });
        (samples[`${label} (first join)`] ??= []).push(await timed(() => install(netns.path), spent));
        await settle();
        (samples[`${label} (re-point)`] ??= []).push(await timed(() => install(netns.path), spent));
        netns.remove();
      }
    }
  } finally {
    scratch.remove();
  }
  const wall = Object.fromEntries(Object.entries(samples).map(([label, values]) => [label, summarize(values)]));
  const cpuMsPerInstall = Object.fromEntries(Object.entries(cpu).map(([label, spent]) => [label, spent.ms / spent.calls]));
  for (const [label, summary] of Object.entries(wall)) console.log(`${label}: ${describe(summary)}`);
  for (const [label, spent] of Object.entries(cpuMsPerInstall))
    console.log(`${label}: CPU ${ms(spent)} ms per install (the daemon's threads and its programs)`);
  return { wall, cpuMsPerInstall };
}

await runStandalone<Options>({
  script: fileURLToPath(import.meta.url),
  phase: 'resolver-redirect',
  timeoutMs: 10 * 60_000,
  optionsEnv: 'SKIFF_BENCH_RESOLVER_REDIRECT',
  optionsFrom: (argv) => {
    const index = argv.indexOf('--rounds');
    return { rounds: index >= 0 ? Number(argv[index + 1]) : 40 };
  },
  run: redirectPhase,
});
