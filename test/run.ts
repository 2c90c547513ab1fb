/**
 * The test command. Unit tests run as they are; every kernel and e2e test file
 * runs inside a throwaway world of its own (`unshare --net --mount`), so the
 * host's network is never touched and whatever a crashed test leaves dies with
 * the world. Prints a closing line "N passed, N failed, N skipped".
 *
 *   node dist/test/run.js [unit|kernel|e2e ...] [--only SUBSTRING]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { thawCondemned } from './helpers/frozen-leftovers.js';

const here = dirname(fileURLToPath(import.meta.url));
const suites = ['unit', 'kernel', 'e2e'] as const;
type Suite = (typeof suites)[number];

/** A file that runs longer is killed; `npm run chaos` (a long seeded run) raises it with SKIFF_TEST_FILE_TIMEOUT_MS. */
const FILE_TIMEOUT_MS = Number(process.env['SKIFF_TEST_FILE_TIMEOUT_MS'] ?? 8 * 60_000);
const WORLD_PARALLELISM = 2;

interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  exitCode: number | null;
}

function testFiles(suite: Suite, only: string | undefined): string[] {
  const dir = join(here, suite);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.test.js'))
    .filter((name) => only === undefined || name.includes(only))
    .sort()
    .map((name) => join(dir, name));
}

function countFromTap(tap: string, key: 'pass' | 'fail' | 'skip'): number {
  const match = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(tap);
  return match ? Number(match[1]) : 0;
}

function runFile(file: string, inWorld: boolean): Promise<FileResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'skiff-tap-'));
  const tapPath = join(scratch, 'out.tap');
  const nodeArgs = [
    '--test',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapPath}`,
    file,
  ];
  const [program, args] = inWorld
    ? // A world has its own network, mount and PID namespaces: when the file's process
      // ends, the kernel kills whatever it left running (containers, shims, daemons).
      // tini is the world's init, so orphans (a killed daemon's shims) are reaped.
      ([
        'unshare',
        [
          '--net',
          '--mount',
          '--pid',
          '--fork',
          '--mount-proc',
          '--propagation',
          'private',
          '--',
          'tini',
          '-s',
          '--',
          process.execPath,
          join(here, 'helpers', 'in-world.js'),
          ...nodeArgs,
        ],
      ] as const)
    : ([process.execPath, nodeArgs] as const);
  return new Promise((resolve) => {
    // A process group of its own, so that a file that hangs can be killed with its whole world: killing
    // unshare alone would leave tini (the world's init) and everything under it running.
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, SKIFF_IN_WORLD: inWorld ? '1' : '' } });
    const name = file.slice(here.length + 1);
    // Streamed as it comes, each line tagged with its file, so a hang shows where it is.
    const relay = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line !== '') process.stdout.write(`[${name}] ${line}\n`);
    };
    child.stdout.on('data', relay);
    child.stderr.on('data', relay);
    const timer = setTimeout(() => {
      process.stdout.write(`[${name}] did not finish within ${FILE_TIMEOUT_MS / 60_000} min: killing it and its world\n`);
      process.kill(-child.pid!, 'SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', async (exitCode) => {
      clearTimeout(timer);
      process.stdout.write(`=== ${name}${inWorld ? ' (in its own world)' : ''} finished with exit code ${exitCode}\n`);
      // The world's processes are dead now, but those frozen in a paused container (helpers/frozen-leftovers.ts).
      const thawed = inWorld ? await thawCondemned() : [];
      if (thawed.length > 0) process.stdout.write(`[${name}] thawed ${thawed.length} container(s) left frozen by its world: ${thawed.join(', ')}\n`);
      const tap = existsSync(tapPath) ? readFileSync(tapPath, 'utf8') : '';
      rmSync(scratch, { recursive: true, force: true });
      let failed = countFromTap(tap, 'fail');
      // A file that crashed or hung without reporting a failure still failed.
      if (exitCode !== 0 && failed === 0) failed = 1;
      resolve({ file, passed: countFromTap(tap, 'pass'), failed, skipped: countFromTap(tap, 'skip'), exitCode });
    });
  });
}

async function runAll(files: Array<{ file: string; inWorld: boolean }>): Promise<FileResult[]> {
  const results: FileResult[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < files.length) {
      const item = files[next++]!;
      results.push(await runFile(item.file, item.inWorld));
    }
  }
  await Promise.all(Array.from({ length: WORLD_PARALLELISM }, worker));
  return results;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const onlyIndex = argv.indexOf('--only');
  const only = onlyIndex >= 0 ? argv[onlyIndex + 1] : undefined;
  const requested = argv.filter((arg, i) => (suites as readonly string[]).includes(arg) && (onlyIndex < 0 || i !== onlyIndex + 1)) as Suite[];
  const chosen = requested.length > 0 ? requested : [...suites];
  const files = chosen.flatMap((suite) => testFiles(suite, only).map((file) => ({ file, inWorld: suite !== 'unit' })));
  const results = await runAll(files);
  const total = results.reduce((sum, r) => ({ passed: sum.passed + r.passed, failed: sum.failed + r.failed, skipped: sum.skipped + r.skipped }), {
    passed: 0,
    failed: 0,
    skipped: 0,
  });
  const failedFiles = results.filter((r) => r.failed > 0).map((r) => r.file.slice(here.length + 1));
  if (failedFiles.length > 0) console.log(`\nfailed files: ${failedFiles.join(', ')}`);
  console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  process.exitCode = total.failed > 0 || results.length === 0 ? 1 : 0;
}

await main();
