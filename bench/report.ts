/**
 * bench/REPORT.md and its charts (bench/charts/*.svg) from one run's
 * results: per workload a table of skiff, Docker and Podman with medians,
 * min–max and the ratios, and Vega-Lite charts of the growth curves rendered
 * to SVG by vega in Node (no browser). A pure function of the results,
 * apart from writing the files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResults } from './bench.js';
import type { DaemonName } from './daemons.js';
import type { Summary } from './stats.js';

type PerSystem<T> = Partial<Record<DaemonName, T>>;

const SYSTEMS: readonly DaemonName[] = ['skiff', 'dockerd', 'podman'];
const LABEL: Record<DaemonName, string> = { skiff: 'skiff', dockerd: 'Docker', podman: 'Podman' };
const COLOR: Record<DaemonName, string> = { skiff: '#1f77b4', dockerd: '#d62728', podman: '#7f3c8d' };

/** One chart row: a system's median and spread at one x. */
interface Point {
  system: string;
  x: number | string;
  median: number;
  min: number;
  max: number;
  series?: string;
}

// ---------- numbers as text ----------

function num(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 10_000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function cell(summary: Summary | undefined, unit: string): string {
  if (summary === undefined || !Number.isFinite(summary.median)) return '';
  const spread = summary.n > 1 ? ` (${num(summary.min)}–${num(summary.max)})` : '';
  return `${num(summary.median)} ${unit}${spread}`.trim();
}

function single(value: number | undefined): Summary | undefined {
  return value === undefined || !Number.isFinite(value) ? undefined : { n: 1, median: value, min: value, max: value };
}

function ratioText(a: number | undefined, b: number | undefined): string {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '';
}

interface Row {
  what: string;
  unit: string;
  values: PerSystem<Summary>;
  /** Why a system has no number here (shown in its cell). */
  notMeasured?: PerSystem<string>;
}

/** A markdown table: what | skiff | Docker | Podman | skiff/Docker | skiff/Podman. */
function table(rows: readonly Row[], present: readonly DaemonName[]): string {
  const peers = present.filter((name) => name !== 'skiff');
  const header = ['what', ...present.map((name) => LABEL[name]), ...peers.map((name) => `skiff/${LABEL[name]}`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const row of rows) {
    const cells = present.map((name) => {
      const text = cell(row.values[name], row.unit);
      if (text !== '') return name === 'skiff' ? `**${text}**` : text;
      const reason = row.notMeasured?.[name];
      return reason === undefined ? '–' : 'not measured (below)';
    });
    const ratios = peers.map((name) => ratioText(row.values.skiff?.median, row.values[name]?.median));
    lines.push(`| ${[row.what, ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

// ---------- charts ----------

const SYSTEM_SCALE = { domain: SYSTEMS.map((name) => LABEL[name]), range: SYSTEMS.map((name) => COLOR[name]) };

async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Median lines with points and min–max error bars against a quantitative x. */
function growthChart(title: string, xTitle: string, yTitle: string, points: readonly Point[], facet?: string): TopLevelSpec {
  const layer = [
    { mark: { type: 'line' as const, point: true }, encoding: { y: { field: 'median', type: 'quantitative' as const, title: yTitle } } },
    { mark: { type: 'errorbar' as const, ticks: true }, encoding: { y: { field: 'min', type: 'quantitative' as const, title: yTitle }, y2: { field: 'max' } } },
  ];
  const encoding = {
    x: { field: 'x', type: 'quantitative' as const, title: xTitle },
    color: { field: 'system', type: 'nominal' as const, title: null, scale: SYSTEM_SCALE },
  };
  if (facet !== undefined) {
    return {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      data: { values: points as unknown as Record<string, unknown>[] },
      facet: { column: { field: 'series', type: 'nominal', title: null } },
      spec: { width: 260, height: 220, encoding, layer },
      resolve: { scale: { y: 'independent' } },
    };
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 460,
    height: 260,
    data: { values: points as unknown as Record<string, unknown>[] },
    encoding,
    layer,
  };
}

/** Grouped bars (x = category, one bar per system) with min–max error bars. */
function barChart(title: string, yTitle: string, points: readonly Point[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 300,
    height: 220,
    data: { values: points as unknown as Record<string, unknown>[] },
    encoding: {
      x: { field: 'x', type: 'nominal', title: null, sort: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'system', sort: SYSTEM_SCALE.domain },
      color: { field: 'system', type: 'nominal', title: null, scale: SYSTEM_SCALE },
    },
    layer: [
      { mark: 'bar', encoding: { y: { field: 'median', type: 'quantitative', title: yTitle } } },
      { mark: { type: 'errorbar', ticks: true, color: 'black' }, encoding: { y: { field: 'min', type: 'quantitative', title: yTitle }, y2: { field: 'max' } } },
    ],
  };
}

function hconcat(title: string, parts: TopLevelSpec[]): TopLevelSpec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', title, hconcat: parts.map(({ $schema: _schema, ...rest }) => rest) } as TopLevelSpec;
}

function point(system: DaemonName, x: number | string, summary: Summary | undefined, series?: string): Point[] {
  if (summary === undefined || !Number.isFinite(summary.median)) return [];
  return [{ system: LABEL[system], x, median: summary.median, min: summary.min, max: summary.max, ...(series === undefined ? {} : { series }) }];
}

// ---------- the report ----------

function presentSystems(results: BenchResults, record: PerSystem<unknown>): DaemonName[] {
  return SYSTEMS.filter((name) => name === 'skiff' || record[name] !== undefined || results.skipped[name] === undefined);
}

interface Section {
  title: string;
  body: string[];
}

export async function writeReport(results: BenchResults, dir: string): Promise<void> {
  const chartsDir = join(dir, 'charts');
  mkdirSync(chartsDir, { recursive: true });
  const charts: Array<{ file: string; spec: TopLevelSpec }> = [];
  const chart = (file: string, spec: TopLevelSpec) => {
    charts.push({ file, spec });
    return `![${file}](charts/${file})`;
  };
  const sizeNote = results.size === 'quick' ? 'quick size' : `${results.size} size`;
  const notMeasured: string[] = [];
  const sections: Section[] = [];
  const { cli, containers, dns, ports } = results.phases;

  if (cli !== undefined) {
    const present = presentSystems(results, cli.version);
    const endpoints = cli.inspect.crowdedEndpointsSeen;
    const crowdedReason = "needs that many running containers; skiff's are made by its engine library on the stopped daemon's store";
    const rows: Row[] = [
      { what: "`docker version` (the CLI's own floor; Podman's answer also lists conmon's and the OCI runtime's versions)", unit: 'ms', values: cli.version },
      { what: '`docker network ls`', unit: 'ms', values: cli.networkLs },
      { what: '`docker network create`', unit: 'ms', values: cli.create },
      { what: '`docker network rm`', unit: 'ms', values: cli.rm },
      { what: '`docker network inspect`, empty network', unit: 'ms', values: cli.inspect.cliEmpty },
      {
        what: `\`docker network inspect\`, ${endpoints} endpoints`,
        unit: 'ms',
        values: { skiff: cli.inspect.cliCrowded },
        notMeasured: { dockerd: crowdedReason, podman: crowdedReason },
      },
      { what: '`GET /networks/{id}` on the socket (no CLI), empty', unit: 'ms', values: cli.inspect.apiEmpty },
    ];
    notMeasured.push(
      `CLI: \`network inspect\` of a ${endpoints}-endpoint network for Docker and Podman (${crowdedReason}); the containers workload times \`network inspect\` with real containers for all three.`,
    );
    sections.push({
      title: 'The docker CLI against each daemon',
      body: ['Calls alternate skiff, Docker, Podman in every round, after warm-up rounds that are not counted.', '', table(rows, present)],
    });
  }

  let headline = '';
  if (containers !== undefined) {
    const present = presentSystems(results, containers.runUserNet);
    const levelCount = (name: DaemonName) => containers.crowd[name]?.containers;
    const last = containers.crowd.skiff?.containers ?? 0;
    const perContainerMb = (name: DaemonName) => {
      const kb = containers.crowd[name]?.perContainerKb;
      return single(kb === undefined ? undefined : kb / 1024);
    };
    const idleMb = (name: DaemonName) => {
      const kb = containers.crowd[name]?.before.daemonKb;
      return single(kb === undefined ? undefined : kb / 1024);
    };
    const atLast = (pick: (level: NonNullable<ContainersCrowdLevel>) => Summary) =>
      Object.fromEntries(
        present.flatMap((name) => {
          const levels = containers.crowd[name]?.levels ?? [];
          const level = levels[levels.length - 1];
          return level === undefined ? [] : [[name, pick(level)]];
        }),
      ) as PerSystem<Summary>;
    const rows: Row[] = [
      { what: '`run -d` on a user network', unit: 'ms', values: containers.runUserNet },
      { what: '`run -d --network none`', unit: 'ms', values: containers.runNone },
      {
        what: "the network's share of `run -d` (median of per-round differences)",
        unit: 'ms',
        values: Object.fromEntries(Object.entries(containers.networkShare).map(([name, value]) => [name, single(value)])),
      },
      { what: '`network connect` (running container)', unit: 'ms', values: containers.connect },
      { what: '`network disconnect`', unit: 'ms', values: containers.disconnect },
      { what: `\`run -d\` beside ${last} running`, unit: 'ms', values: atLast((level) => level.runDetached) },
      { what: `\`ps\` with ${last} running`, unit: 'ms', values: atLast((level) => level.ps) },
      { what: `\`network inspect\` with ${last} on it`, unit: 'ms', values: atLast((level) => level.networkInspect) },
      { what: 'memory per running container (daemons + shims)', unit: 'MB', values: Object.fromEntries(present.map((name) => [name, perContainerMb(name)])) },
      { what: 'daemon memory before the crowd (RSS)', unit: 'MB', values: Object.fromEntries(present.map((name) => [name, idleMb(name)])) },
    ];
    const growth: Point[] = [];
    const memory: Point[] = [];
    const listing: Point[] = [];
    for (const name of present) {
      const crowd = containers.crowd[name];
      if (crowd === undefined) continue;
      growth.push(...point(name, 0, containers.runUserNet[name]));
      memory.push(...point(name, 0, single((crowd.before.daemonKb + crowd.before.shimsKb) / 1024)));
      for (const level of crowd.levels ?? []) {
        growth.push(...point(name, level.containers, level.runDetached));
        memory.push(...point(name, level.containers, single((level.footprint.daemonKb + level.footprint.shimsKb) / 1024)));
        listing.push(...point(name, level.containers, level.ps, 'docker ps'));
        listing.push(...point(name, level.containers, level.networkInspect, 'docker network inspect'));
      }
    }
    headline = chart(
      'containers-run.svg',
      growthChart(`docker run -d against containers already running (${sizeNote})`, 'containers running', 'run -d, ms (median, min–max)', growth),
    );
    const growthRows = (crowdOf: DaemonName) =>
      (containers.crowd[crowdOf]?.levels ?? []).map(
        (level) =>
          `| ${LABEL[crowdOf]} | ${level.containers} | ${cell(level.runDetached, 'ms')} | ${cell(level.ps, 'ms')} | ${cell(level.networkInspect, 'ms')} | ${num(level.footprint.daemonKb / 1024)} MB | ${num(level.footprint.shimsKb / 1024)} MB (${level.footprint.shims}) |`,
      );
    sections.push({
      title: 'Containers: start, connect, and growth with the number running',
      body: [
        'Real containers (busybox `sleep 3600`; skiff with its default OCI runtime, crun where installed as here, Docker and Podman with runc) on a user network. The crowd grows one system at a time, the others idle; at each level `run -d`, `ps` and `network inspect` are timed and the memory read:',
        'skiff = daemon RSS + Σ skiff-shim Pss; Docker = dockerd + containerd RSS + Σ containerd-shim Pss; Podman = API service + aardvark-dns RSS + Σ conmon Pss.',
        '',
        table(rows, present),
        '',
        'The headline chart at the top is `run -d` against the crowd; 0 is the `run -d` rounds above, before the crowd.',
        '',
        chart(
          'containers-memory.svg',
          growthChart(`Memory of the daemons and shims against containers running (${sizeNote})`, 'containers running', 'MB (daemons RSS + shims Pss)', memory),
        ),
        '',
        chart(
          'containers-list.svg',
          growthChart(
            `docker ps and network inspect against containers running (${sizeNote})`,
            'containers running',
            'ms (median, min–max)',
            listing,
            'series',
          ),
        ),
        '',
        '| system | running | `run -d` | `ps` | `network inspect` | daemons RSS | shims Pss (count) |',
        '| --- | --- | --- | --- | --- | --- | --- |',
        ...present.flatMap(growthRows),
      ],
    });
    for (const name of present) {
      if (name !== 'skiff' && levelCount(name) !== undefined && levelCount(name)! < last)
        notMeasured.push(`Containers: ${LABEL[name]} reached only ${levelCount(name)} running containers within the bound.`);
    }
  }

  if (dns !== undefined) {
    const present = presentSystems(results, dns.runs.names);
    const kinds = ['names', 'forwarded'] as const;
    const rows: Row[] = [];
    for (const kind of kinds) {
      const record = dns.runs[kind];
      const pick = (field: 'qps' | 'p50Ms' | 'p99Ms' | 'daemonCpu') =>
        Object.fromEntries(Object.entries(record).map(([name, entry]) => [name, entry[field]])) as PerSystem<Summary>;
      const label = kind === 'names' ? "a container's name" : 'forwarded (NXDOMAIN from the upstream)';
      rows.push({ what: `${label}: queries/s`, unit: 'q/s', values: pick('qps') });
      rows.push({ what: `${label}: p50`, unit: 'ms', values: pick('p50Ms') });
      rows.push({ what: `${label}: p99`, unit: 'ms', values: pick('p99Ms') });
      rows.push({ what: `${label}: DNS server CPU`, unit: 'cores', values: pick('daemonCpu') });
    }
    const aliases = dns.records.count;
    // A run in which no query was answered has no rate: its reason goes in the table instead of a 0.
    const unanswered = Object.entries(dns.namesCrowded).filter(([, run]) => run.sent - run.lost <= 0);
    const unansweredReason = (run: { sent: number; lost: number }) => `none of ${run.sent} queries was answered after the containers with aliases started`;
    rows.push({
      what: `names with ${aliases} aliases on the network: queries/s`,
      unit: 'q/s',
      values: Object.fromEntries(
        Object.entries(dns.namesCrowded)
          .filter(([, run]) => run.sent - run.lost > 0)
          .map(([name, run]) => [name, single(run.qps)]),
      ),
      notMeasured: Object.fromEntries(unanswered.map(([name, run]) => [name, unansweredReason(run)])),
    });
    for (const [name, run] of unanswered)
      notMeasured.push(`DNS: ${LABEL[name as DaemonName]}'s names with ${aliases} aliases on the network: ${unansweredReason(run)}.`);
    rows.push({
      what: `daemon RSS per alias (${aliases} aliases)`,
      unit: 'B',
      values: Object.fromEntries(Object.entries(dns.aliasMemory).map(([name, memory]) => [name, single(memory.bytesPerName)])),
    });
    const qps: Point[] = [];
    const p99: Point[] = [];
    for (const kind of kinds) {
      for (const name of present) {
        qps.push(...point(name, kind, dns.runs[kind][name]?.qps));
        p99.push(...point(name, kind, dns.runs[kind][name]?.p99Ms));
      }
    }
    const lost = Object.entries(dns.runs).flatMap(([kind, record]) =>
      Object.entries(record)
        .filter(([, entry]) => entry.lost > 0)
        .map(([name, entry]) => `${LABEL[name as DaemonName]} ${kind}: ${entry.lost} lost`),
    );
    sections.push({
      title: 'Embedded DNS',
      body: [
        `dnsperf (100 queries in flight) from a container's namespace to the nameserver in its resolv.conf: ${present.map((name) => `${LABEL[name]} ${dns.servers?.[name] ?? '127.0.0.11'}`).join(', ')}. The forwarded names go to a dnsmasq in a namespace of the run (each daemon's --dns; Podman's aardvark-dns reads the world's /etc/resolv.conf, which names it). dnsperf and the server share the machine's ${results.machine.cpus} cores. ${lost.length === 0 ? 'No query was lost.' : `Lost: ${lost.join(', ')}.`}`,
        '',
        table(rows, present),
        '',
        chart(
          'dns.svg',
          hconcat(`Embedded DNS under dnsperf (${sizeNote})`, [
            barChart('queries per second', 'q/s (median, min–max)', qps),
            barChart('p99 latency', 'ms (median, min–max)', p99),
          ]),
        ),
        '',
        `skiff's DnsRecords (the library) hold ${aliases} names in ${num(dns.records.totalBytes / 1024)} KB of heap: ${num(dns.records.bytesPerNameWithAskers)} bytes per name with every asker cached.`,
      ],
    });
  }

  if (ports !== undefined) {
    const present = presentSystems(results, ports.throughput.direct);
    const rows: Row[] = [];
    for (const path of ['direct', 'loopback', 'outside'] as const) {
      const label = {
        direct: "iperf3 straight to the container's address",
        loopback: 'iperf3 to 127.0.0.1:published port (host loopback)',
        outside: 'iperf3 from an outside namespace to the published port',
      }[path];
      rows.push({ what: label, unit: 'Gbit/s', values: ports.throughput[path], notMeasured: ports.throughputFailures?.[path] });
    }
    for (const level of ports.levels) rows.push({ what: `\`run -d -p\` with ${level.published} ports published`, unit: 'ms', values: level.runWithPort });
    const lastLevel = ports.levels[ports.levels.length - 1];
    if (lastLevel !== undefined) {
      rows.push({
        what: `processes per published port (${lastLevel.published} ports)`,
        unit: '',
        values: Object.fromEntries(Object.entries(lastLevel.processes).map(([name, count]) => [name, single(count / lastLevel.published)])),
      });
    }
    for (const [path, record] of Object.entries(ports.throughputFailures ?? {})) {
      for (const [name, reason] of Object.entries(record)) notMeasured.push(`Ports: ${LABEL[name as DaemonName]} ${path} throughput: ${reason}`);
    }
    const publish: Point[] = [];
    const throughput: Point[] = [];
    for (const name of present) {
      for (const level of ports.levels) publish.push(...point(name, level.published, level.runWithPort[name]));
      for (const path of ['direct', 'loopback', 'outside'] as const) throughput.push(...point(name, path, ports.throughput[path][name]));
    }
    sections.push({
      title: 'Published ports',
      body: [
        "A container publishing one port runs an iperf3 server in its namespace. Then `run -d -p` of one more port is timed with more and more ports already published (containers publishing ranges of 100). Processes per port: docker-proxy for Docker (IPv4 and IPv6), rootlessport for Podman, the daemon's children other than shims for skiff. Podman (rootful) runs no process per port, but its conmon holds one listening socket per published port.",
        '',
        table(rows, present),
        '',
        chart(
          'ports-publish.svg',
          growthChart(`docker run -d -p against ports already published (${sizeNote})`, 'ports published', 'run -d -p, ms (median, min–max)', publish),
        ),
        '',
        chart('ports-throughput.svg', barChart(`iperf3 throughput by path (${sizeNote})`, 'Gbit/s (median, min–max)', throughput)),
      ],
    });
  }

  for (const [phase, reason] of Object.entries(results.failures)) notMeasured.push(`The ${phase} phase failed: ${reason}`);
  for (const [name, reason] of Object.entries(results.skipped)) notMeasured.push(`${LABEL[name as DaemonName]}: ${reason}.`);
  notMeasured.push(
    `Podman runs its containers with ${results.versions.podmanRuntime}, not its default crun: Debian 12's crun 1.8 refuses this machine's hybrid cgroup layout ("cgroups in hybrid mode not supported"). All three systems therefore start containers with runc.`,
  );

  const anyPhase = cli ?? containers;
  const versions = {
    cli: anyPhase?.cliVersion ?? results.versions.cliVersion,
    dockerd: anyPhase?.dockerdVersion ?? results.versions.dockerd ?? 'not installed',
    podman: anyPhase?.podmanVersion ?? results.versions.podman ?? 'not installed',
  };
  const leftovers = [cli, containers, dns, ports].flatMap((phase, index) =>
    (phase?.leftovers ?? []).map((item) => `${['cli', 'containers', 'dns', 'ports'][index]}: ${item}`),
  );
  const minutes = (results.durationSeconds / 60).toFixed(1);
  const lines = [
    '# skiff against Docker and Podman',
    '',
    `Written by \`npm run bench${results.size === 'quick' ? ' -- --quick' : ''}\` on ${results.startedAt.slice(0, 10)}: **the ${sizeNote}**, ${minutes} minutes (${Object.entries(
      results.phaseSeconds,
    )
      .map(([phase, seconds]) => `${phase} ${Math.round(seconds ?? 0)} s`)
      .join(', ')}). ` +
      (results.size === 'quick'
        ? 'The quick size takes few samples and small crowds: read it as a smoke test of the shapes, not as the numbers. `npm run bench` (default size, under 20 minutes) gives steadier ones.'
        : 'The default size: more rounds, crowds to 150 containers and 600 published ports, within a 20-minute budget.'),
    '',
    `The same stock docker CLI (${versions.cli}) drives skiff, Docker (dockerd ${versions.dockerd}) and Podman ${versions.podman} (its Docker-compatible API service, \`podman system service\`), one after the other in one run. Each system runs in a network namespace of its own inside a throwaway world (\`unshare --net --mount --pid\`), with its state on a tmpfs; everything a phase started ends with its world. Machine: ${results.machine.cpus} × ${results.machine.cpuModel}, ${results.machine.memoryGb} GB, kernel ${results.machine.kernel}, Node ${results.machine.node}.`,
    '',
    `**How to read it.** Times are wall-clock medians of whole CLI calls, with min–max over the counted rounds in brackets. Ratios are skiff's median over the peer's: below 1 skiff is faster (times, memory), above 1 skiff does more (queries/s, Gbit/s). The machine has ${results.machine.cpus} cores shared with other work, so runs move by 10–20%: trust ratios far from 1 and the shapes of the curves more than any single number. Nothing here is a test: no time is judged.`,
    '',
    headline,
    '',
    ...sections.flatMap((section) => [`## ${section.title}`, '', ...section.body, '']),
    '## Not measured, and why',
    '',
    ...notMeasured.map((item) => `- ${item}`),
    '',
    '## Cleanup',
    '',
    leftovers.length === 0
      ? 'Every phase ended with nothing left: no links, firewall tables, mounts, cgroups or processes of the run.'
      : `Left behind (and removed with the worlds): ${leftovers.join('; ')}`,
    '',
    'Raw numbers: [results.json](results.json). How each number is taken: [README.md](README.md).',
    '',
  ];
  for (const { file, spec } of charts) writeFileSync(join(chartsDir, file), await svgOf(spec));
  writeFileSync(join(dir, 'REPORT.md'), lines.join('\n'));
}

type ContainersCrowdLevel = NonNullable<NonNullable<BenchResults['phases']['containers']>['crowd']['skiff']>['levels'][number];
