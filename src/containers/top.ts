/**
 * docker top as moby's parsePSOutput reads ps: the host's ps output, kept to
 * the lines of the container's processes (pure). A thread line ("-" as its
 * PID, with ps -m) follows the process it belongs to.
 */
import { SkiffError } from '../errors.js';

export interface TopResult {
  titles: string[];
  processes: string[][];
}

export function parsePsOutput(output: string, pids: readonly number[]): TopResult {
  const [header = '', ...lines] = output.split('\n');
  const titles = header.trim().split(/\s+/).filter(Boolean);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw new SkiffError('internal', "Couldn't find PID field in ps output");
  const processes: string[][] = [];
  let previousWasOurs = false;
  for (const line of lines) {
    const fields = line.trim().split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    const pid = fields[pidIndex] ?? '';
    const ours: boolean = pid === '-' ? previousWasOurs : pids.includes(Number(pid));
    if (pid !== '-' && !/^\d+$/.test(pid)) throw new SkiffError('internal', `Unexpected pid '${pid}'`);
    if (pid !== '-') previousWasOurs = ours;
    // The last column (the command) may hold spaces: it takes the rest of the line.
    if (ours) processes.push([...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')]);
  }
  return { titles, processes };
}
