/**
 * Phase "cli": the same docker CLI against skiff's daemon, a real dockerd and
 * Podman's API service, each daemon in its own network namespace of this
 * world, calls alternating A B C A B C so a drifting machine hits all alike.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  apiRequest,
  DOCKERD,
  dockerCall,
  openPhase,
  PODMAN,
  processesMentioning,
  startDockerd,
  startPodman,
  startSkiff,
  type RunningDaemon,
} from './daemons.js';
import { benchSize } from './size.js';
import { describe, ms, ratio, sidesLine, summarize, timed, type Summary } from './stats.js';
import { kernelLeftovers, mountsUnder } from './world.js';

type PerDaemon<T> = Partial<Record<RunningDaemon['name'], T>>;

export interface CliResult {
  cli: string;
  cliVersion: string;
  dockerdVersion?: string;
  dockerdSkipped?: string;
  podmanVersion?: string;
  podmanSkipped?: string;
  version: PerDaemon<Summary>;
  networkLs: PerDaemon<Summary>;
  create: PerDaemon<Summary>;
  rm: PerDaemon<Summary>;
  /** Median of the per-round ratios skiff/dockerd. */
  createPairRatio?: number;
  rmPairRatio?: number;
  inspect: {
    cliEmpty: PerDaemon<Summary>;
    cliCrowded: Summary;
    apiEmpty: PerDaemon<Summary>;
    apiCrowded: Summary;
    crowdedEndpointsSeen: number;
    crowdedBytes: number;
    populateMs: number;
  };
  leftovers: string[];
}

function pairRatios(a: number[], b: number[]): number {
  return summarize(a.map((value, index) => value / b[index]!)).median;
}

/** Runs this script's "populate" or "teardown" phase inside skiff's namespace while its daemon is stopped. */
export function engineChild(script: string, skiff: RunningDaemon, phase: 'populate' | 'teardown', extraEnv: Record<string, string>): Promise<unknown> {
  const env = { ...process.env, SKIFF_BENCH_DATA_ROOT: skiff.dataRoot, SKIFF_BENCH_EXEC_ROOT: skiff.execRoot, ...extraEnv };
  return new Promise((resolve, reject) => {
    execFile(
      'nsenter',
      [`--net=${skiff.netnsPath}`, '--', process.execPath, script, '--phase', phase],
      { env, timeout: 300_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${phase} in skiff's namespace failed: ${stderr || error.message}`));
          return;
        }
        const line = stdout.split('\n').find((candidate) => candidate.startsWith('BENCH-RESULT '));
        resolve(line === undefined ? undefined : JSON.parse(line.slice('BENCH-RESULT '.length)));
      },
    );
  });
}

export async function cliPhase(script: string): Promise<CliResult> {
  const CLI_ROUNDS = benchSize().cli;
  const { scratch, haveDockerd, havePodman, cli, env } = openPhase('skiff-bench-cli-');
  const daemons: RunningDaemon[] = [];
  const leftovers: string[] = [];
  /** The daemons' namespace files: unbound at the end, after which no mount may remain under scratch. */
  const netnsFiles: string[] = [];
  try {
    let skiff = await startSkiff({ dir: join(scratch.path, 'skiff') });
    daemons.push(skiff);
    netnsFiles.push(skiff.netnsPath);
    let dockerd: RunningDaemon | undefined;
    if (haveDockerd) {
      dockerd = await startDockerd({ dir: join(scratch.path, 'dockerd') });
      daemons.push(dockerd);
      netnsFiles.push(dockerd.netnsPath);
    }
    let podman: RunningDaemon | undefined;
    if (havePodman) {
      podman = await startPodman({ dir: join(scratch.path, 'podman') });
      daemons.push(podman);
      netnsFiles.push(podman.netnsPath);
    }
    const cliVersion = (await dockerCall(cli, skiff, ['version', '--format', '{{.Client.Version}}'], env)).stdout.trim();
    const serverVersion = async (daemon: RunningDaemon | undefined) =>
      daemon === undefined ? undefined : (await dockerCall(cli, daemon, ['version', '--format', '{{.Server.Version}}'], env)).stdout.trim();
    const dockerdVersion = await serverVersion(dockerd);
    const podmanVersion = await serverVersion(podman);
    console.log(
      `\n== docker CLI ${cli} (${cliVersion}) against skiff${dockerd ? `, dockerd ${dockerdVersion}` : ''}${podman ? `, podman ${podmanVersion}` : ''}, each in its own network namespace`,
    );

    const samples = (names: string[]) => Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<string, number[]>;
    const names = daemons.map((daemon) => daemon.name);

    // The CLI floor: a call that makes the daemon do next to nothing.
    const version = samples(names);
    const networkLs = samples(names);
    for (let round = 0; round < CLI_ROUNDS.warmup + CLI_ROUNDS.floor; round++) {
      for (const daemon of daemons) {
        const v = await dockerCall(cli, daemon, ['version'], env);
        const l = await dockerCall(cli, daemon, ['network', 'ls'], env);
        if (round >= CLI_ROUNDS.warmup) {
          version[daemon.name]!.push(v.ms);
          networkLs[daemon.name]!.push(l.ms);
        }
      }
    }

    // network create / rm, alternating daemons within each round.
    const create = samples(names);
    const rm = samples(names);
    for (let round = 0; round < CLI_ROUNDS.warmup + CLI_ROUNDS.createRm; round++) {
      const name = `bench-net-${round}`;
      for (const daemon of daemons) {
        const { ms: spent } = await dockerCall(cli, daemon, ['network', 'create', name], env);
        if (round >= CLI_ROUNDS.warmup) create[daemon.name]!.push(spent);
      }
      for (const daemon of daemons) {
        const { ms: spent } = await dockerCall(cli, daemon, ['network', 'rm', name], env);
        if (round >= CLI_ROUNDS.warmup) rm[daemon.name]!.push(spent);
      }
    }

    // inspect: an empty network against one with CROWDED_ENDPOINTS endpoints (skiff only, see README).
    for (const daemon of daemons) await dockerCall(cli, daemon, ['network', 'create', 'bench-empty'], env);
    await dockerCall(cli, skiff, ['network', 'create', 'bench-crowded'], env);
    await skiff.stop();
    const populateStart = process.hrtime.bigint();
    await engineChild(script, skiff, 'populate', { SKIFF_BENCH_NETWORK: 'bench-crowded', SKIFF_BENCH_COUNT: String(CLI_ROUNDS.crowdedEndpoints) });
    const populateMs = Number(process.hrtime.bigint() - populateStart) / 1e6;
    skiff = await startSkiff({ dir: join(scratch.path, 'skiff'), netnsPath: skiff.netnsPath });
    daemons[0] = skiff;
    const crowded = await apiRequest(skiff.socketPath, 'GET', '/v1.41/networks/bench-crowded');
    const crowdedEndpointsSeen = Object.keys((JSON.parse(crowded.body) as { Containers?: object }).Containers ?? {}).length;

    const cliEmpty = samples(names);
    const cliCrowded: number[] = [];
    for (let round = 0; round < CLI_ROUNDS.warmup + CLI_ROUNDS.inspectCli; round++) {
      for (const daemon of daemons) {
        const { ms: spent } = await dockerCall(cli, daemon, ['network', 'inspect', 'bench-empty'], env);
        if (round >= CLI_ROUNDS.warmup) cliEmpty[daemon.name]!.push(spent);
      }
      const { ms: spent } = await dockerCall(cli, skiff, ['network', 'inspect', 'bench-crowded'], env);
      if (round >= CLI_ROUNDS.warmup) cliCrowded.push(spent);
    }
    const apiEmpty = samples(names);
    const apiCrowded: number[] = [];
    const apiGet = async (daemon: RunningDaemon, network: string) => {
      const { value, ms: spent } = await timed(() => apiRequest(daemon.socketPath, 'GET', `/v1.41/networks/${network}`));
      if (value.status !== 200) throw new Error(`${daemon.name}: GET /networks/${network}: ${value.status} ${value.body}`);
      return spent;
    };
    for (let round = 0; round < CLI_ROUNDS.warmup + CLI_ROUNDS.inspectApi; round++) {
      for (const daemon of daemons) {
        const spent = await apiGet(daemon, 'bench-empty');
        if (round >= CLI_ROUNDS.warmup) apiEmpty[daemon.name]!.push(spent);
      }
      const spent = await apiGet(skiff, 'bench-crowded');
      if (round >= CLI_ROUNDS.warmup) apiCrowded.push(spent);
    }

    const summaries = (record: Record<string, number[]>): PerDaemon<Summary> =>
      Object.fromEntries(Object.entries(record).map(([name, values]) => [name, summarize(values)]));
    const result: CliResult = {
      cli,
      cliVersion,
      dockerdVersion,
      podmanVersion,
      dockerdSkipped: haveDockerd ? undefined : `${DOCKERD} is not installed (apt-get install docker.io)`,
      podmanSkipped: havePodman ? undefined : `${PODMAN} is not installed (bash bench/install.sh)`,
      version: summaries(version),
      networkLs: summaries(networkLs),
      create: summaries(create),
      rm: summaries(rm),
      createPairRatio: dockerd ? pairRatios(create['skiff']!, create['dockerd']!) : undefined,
      rmPairRatio: dockerd ? pairRatios(rm['skiff']!, rm['dockerd']!) : undefined,
      inspect: {
        cliEmpty: summaries(cliEmpty),
        cliCrowded: summarize(cliCrowded),
        apiEmpty: summaries(apiEmpty),
        apiCrowded: summarize(apiCrowded),
        crowdedEndpointsSeen,
        crowdedBytes: crowded.body.length,
        populateMs,
      },
      leftovers,
    };
    printCliResult(result);

    // Clean up: the peers' networks, then skiff's state through the library, then the daemons.
    for (const peer of [dockerd, podman]) if (peer) await dockerCall(cli, peer, ['network', 'rm', 'bench-empty'], env);
    for (const daemon of daemons) await daemon.stop();
    daemons.length = 0;
    await engineChild(script, skiff, 'teardown', {});
    leftovers.push(...kernelLeftovers(skiff.netnsPath).map((item) => `skiff netns: ${item}`));
    // The peers' iptables chains stay in their namespaces by design and go with them; links would be leftovers.
    for (const peer of [dockerd, podman])
      if (peer)
        leftovers.push(
          ...kernelLeftovers(peer.netnsPath)
            .filter((item) => item.startsWith('link '))
            .map((item) => `${peer.name} netns: ${item}`),
        );
    return result;
  } finally {
    for (const daemon of daemons) await daemon.stop().catch(() => undefined);
    leftovers.push(...processesMentioning(scratch.path).map((pid) => `process ${pid}`));
    for (const netnsFile of netnsFiles) execFileSync('umount', [netnsFile]);
    for (const mount of mountsUnder(scratch.path).reverse()) leftovers.push(`mount ${mount}`);
    scratch.remove();
    console.log(`cli world cleanup: ${leftovers.length === 0 ? 'nothing left' : leftovers.join(', ')}`);
  }
}

function printCliResult(result: CliResult): void {
  const line = (label: string, record: PerDaemon<Summary>) => console.log(sidesLine(label, record));
  line('docker version (CLI floor)', result.version);
  line('docker network ls', result.networkLs);
  line('docker network create', result.create);
  line('docker network rm', result.rm);
  if (result.createPairRatio !== undefined)
    console.log(`median of per-round ratios skiff/dockerd: create ${result.createPairRatio.toFixed(2)}x, rm ${result.rmPairRatio!.toFixed(2)}x`);
  line('inspect empty (CLI)', result.inspect.cliEmpty);
  console.log(
    `${`inspect ${result.inspect.crowdedEndpointsSeen} endpoints (CLI)`.padEnd(28)} skiff ${describe(result.inspect.cliCrowded)}   crowded/empty ${ratio(result.inspect.cliCrowded.median, result.inspect.cliEmpty.skiff?.median ?? NaN)}`,
  );
  line('GET /networks/empty (API)', result.inspect.apiEmpty);
  console.log(
    `${`GET /networks/${result.inspect.crowdedEndpointsSeen} (API)`.padEnd(28)} skiff ${describe(result.inspect.apiCrowded)}   crowded/empty ${ratio(result.inspect.apiCrowded.median, result.inspect.apiEmpty.skiff?.median ?? NaN)}   (${result.inspect.crowdedEndpointsSeen} endpoints, ${result.inspect.crowdedBytes} bytes of JSON; made in ${ms(result.inspect.populateMs)} ms with the daemon stopped)`,
  );
}
