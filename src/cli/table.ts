/** Go's tabwriter as docker's tables use it: minwidth 10, padding 3, last column unpadded. */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, index) => {
      widths[index] = Math.max(widths[index] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) => row.map((cell, index) => (index === row.length - 1 ? cell : cell.padEnd(Math.max((widths[index] ?? 0) + 3, 10)))).join(''))
    .map((line) => `${line}\n`)
    .join('');
}

/** docker's `--format 'table {{.A}}\t{{.B}}'`: a header row from the field names, then one row per item. */
export function renderFormatted(
  format: string,
  items: unknown[],
  render: (template: string, item: unknown) => string,
  headers: Record<string, string>,
): string {
  if (!format.startsWith('table')) return items.map((item) => `${render(format, item)}\n`).join('');
  const template = format.slice('table'.length).trim();
  const header = template.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, field: string) => headers[field] ?? field.toUpperCase());
  const rows = [header, ...items.map((item) => render(template, item))].map((line) => line.split('\t'));
  return renderTable(rows);
}
