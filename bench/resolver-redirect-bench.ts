/**
 * The DNS redirect's install, as the daemon does it on a container's first
 * join, timed from the daemon's side: skiff's own nf_tables transaction
 * (installResolverRedirect) against the program pair it replaced
 * (`nsenter --net=PATH nft -f -` with the same script), round by round in
 * alternating order, each in a fresh namespace (first join) and again in
 * the same one (re-point):
 *   node dist/bench/resolver-redirect-bench.js [--rounds 40]
 * As root; it runs in a world of its own.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installResolverRedirect, renderResolverRedirect } from '../src/firewall/resolver-redirect.js';
import { runInNetns } from '../src/kernel/exec.js';
import { describe, summarize, type Summary } from './stats.js';
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

async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function redirectPhase(options: Options): Promise<Record<string, Summary>> {
  const scratch = scratchDir('skiff-redirect-bench-');
  const samples: Record<string, number[]> = {};
  try {
    await installResolverRedirect(makeNetns(join(scratch.path, 'warmup')).path, PORTS); // the addon loaded once, as in a running daemon
    for (let round = 0; round < options.rounds; round++) {
      const order = Object.entries(ways);
      if (round % 2 === 1) order.reverse();
      for (const [label, install] of order) {
        const netns = makeNetns(join(scratch.path, `ns-${round}-${label.replaceAll(' ', '-')}`));
        (samples[`${label} (first join)`] ??= []).push(await timed(() => install(netns.path)));
        await settle();
        (samples[`${label} (re-point)`] ??= []).push(await timed(() => install(netns.path)));
        netns.remove();
      }
    }
  } finally {
    scratch.remove();
  }
  const result = Object.fromEntries(Object.entries(samples).map(([label, values]) => [label, summarize(values)]));
  for (const [label, summary] of Object.entries(result)) console.log(`${label}: ${describe(summary)}`);
  return result;
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
