/** Summaries of timing samples: what the benchmark prints. It never judges a time. */

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { n: 0, median: NaN, min: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { n: sorted.length, median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

export function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** "12.3 ms (min 10.1, max 20.2, n 20)" */
export function describe(summary: Summary): string {
  return `${ms(summary.median)} ms (min ${ms(summary.min)}, max ${ms(summary.max)}, n ${summary.n})`;
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';
}

/** Times one async call in milliseconds (monotonic clock). */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await work();
  return { value, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

/** Rows of text columns, left-aligned, two spaces apart. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  return rows
    .map((row) =>
      row
        .map((cell, index) => cell.padEnd(widths[index]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** "skiff 12.3 ms (…)   dockerd …   podman …   skiff/dockerd 0.40x   skiff/podman 0.80x": one line per measurement, every daemon that has it. */
export function sidesLine(label: string, record: Partial<Record<string, Summary>>): string {
  const names = Object.keys(record);
  const skiff = record['skiff'];
  const cells = names.map((name) => `${name} ${describe(record[name]!)}`);
  const ratios = names.filter((name) => name !== 'skiff').map((name) => `skiff/${name} ${ratio(skiff?.median ?? NaN, record[name]!.median)}`);
  return `${label.padEnd(30)} ${[...cells, ...ratios].join('   ')}`;
}
