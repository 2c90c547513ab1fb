/**
 * The daemon's own time for the endpoint routes (issue 12, item 2): a raw
 * HTTP client on the daemon's unix socket times POST /networks/{id}/connect
 * and /disconnect of a running container, and DELETE /containers/{id}?force=1
 * of a running one, against skiff and dockerd alternately; the same connect
 * and disconnect through the docker CLI beside them (the CLI's own start-up
 * included). Medians with min and max; nothing here judges a time.
 *
 * Run alone by connect-routes-bench.ts, and inside the containers phase.
 */
import { epochMs, execBreakdown, formatBreakdown, Samples, timedDocker, type ExecBreakdown, type PerDaemon, type Side } from './container-world.js';
import { apiRequest } from './daemons.js';
import { sidesLine, timed, type Summary } from './stats.js';
const WARMUP = 3;

export interface ConnectRoutesOptions {
  /** Raw-route rounds per daemon (each: a connect, a disconnect, and a rm -f of a running container). */
  rounds: number;
  /** docker CLI connect/disconnect rounds per daemon. */
  cliRounds: number;
}

export interface ConnectRoutesResult {
  apiConnect: PerDaemon<Summary>;
  apiDisconnect: PerDaemon<Summary>;
  apiRemoveRunning: PerDaemon<Summary>;
  cliConnect: PerDaemon<Summary>;
  cliDisconnect: PerDaemon<Summary>;
  /** skiff's programs per raw call, when the world traces them. */
  skiffExecs: { connect: ExecBreakdown[]; disconnect: ExecBreakdown[]; removeRunning: ExecBreakdown[] };
}

async function api(side: Side, method: string, path: string, body?: unknown): Promise<string> {
  const answer = await apiRequest(side.daemon.socketPath, method, path, body === undefined ? undefined : JSON.stringify(body));
  if (answer.status >= 300) throw new Error(`${side.daemon.name}: ${method} ${path}: ${answer.status} ${answer.body}`);
  return answer.body;
}

/** Times one call; counted, skiff's programs run meanwhile go into samples' exec log (when the world traces them). */
async function tracedCall(side: Side, samples: Samples | undefined, call: () => Promise<string>): Promise<{ ms: number }> {
  const start = epochMs();
  const { ms } = await timed(call);
  if (samples !== undefined && side.execsBetween !== undefined) samples.execs.push(side.execsBetween(start, epochMs()));
  return { ms };
}

/** The routes timed on each side, alternating daemons every round; the sides need networks `from` (probe's) and `to`, and the busybox image. */
export async function measureConnectRoutes(sides: readonly Side[], options: ConnectRoutesOptions, from: string, to: string): Promise<ConnectRoutesResult> {
  const apiConnect = new Samples();
  const apiDisconnect = new Samples();
  const apiRemove = new Samples();
  const cliConnect = new Samples();
  const cliDisconnect = new Samples();
  for (const side of sides) await side.docker('run', '-d', '--name', 'route-probe', '--network', from, 'busybox', 'sleep', '3600');
  try {
    for (let round = 0; round < WARMUP + options.rounds; round++) {
      const counted = round >= WARMUP;
      for (const side of sides) {
        const name = side.daemon.name;
        const connected = await tracedCall(side, counted ? apiConnect : undefined, () =>
          api(side, 'POST', `/networks/${to}/connect`, { Container: 'route-probe' }),
        );
        const disconnected = await tracedCall(side, counted ? apiDisconnect : undefined, () =>
          api(side, 'POST', `/networks/${to}/disconnect`, { Container: 'route-probe' }),
        );
        const created = JSON.parse(
          await api(side, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['sleep', '3600'], HostConfig: { NetworkMode: from } }),
        ) as { Id: string };
        await api(side, 'POST', `/containers/${created.Id}/start`);
        const removed = await tracedCall(side, counted ? apiRemove : undefined, () => api(side, 'DELETE', `/containers/${created.Id}?force=1`));
        if (!counted) continue;
        apiConnect.add(name, connected.ms);
        apiDisconnect.add(name, disconnected.ms);
        apiRemove.add(name, removed.ms);
      }
    }
    for (let round = 0; options.cliRounds > 0 && round < 1 + options.cliRounds; round++) {
      for (const side of sides) {
        await timedDocker(side, round >= 1 ? cliConnect : undefined, 'network', 'connect', to, 'route-probe');
        await timedDocker(side, round >= 1 ? cliDisconnect : undefined, 'network', 'disconnect', to, 'route-probe');
      }
    }
  } finally {
    for (const side of sides) await side.removeContainers(['route-probe']);
  }
  const result: ConnectRoutesResult = {
    apiConnect: apiConnect.summaries(),
    apiDisconnect: apiDisconnect.summaries(),
    apiRemoveRunning: apiRemove.summaries(),
    cliConnect: cliConnect.summaries(),
    cliDisconnect: cliDisconnect.summaries(),
    skiffExecs: { connect: execBreakdown(apiConnect.execs), disconnect: execBreakdown(apiDisconnect.execs), removeRunning: execBreakdown(apiRemove.execs) },
  };
  printConnectRoutes(result);
  return result;
}

export function printConnectRoutes(result: ConnectRoutesResult): void {
  console.log(sidesLine('API POST …/connect', result.apiConnect));
  console.log(sidesLine('API POST …/disconnect', result.apiDisconnect));
  console.log(sidesLine('API DELETE running ?force=1', result.apiRemoveRunning));
  if (Object.keys(result.cliConnect).length > 0) {
    console.log(sidesLine('docker network connect', result.cliConnect));
    console.log(sidesLine('docker network disconnect', result.cliDisconnect));
  }
  for (const [label, breakdown] of Object.entries(result.skiffExecs))
    if (breakdown.length > 0) console.log(`skiff programs per API ${label}: ${formatBreakdown(breakdown)}`);
}
