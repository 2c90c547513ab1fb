/**
 * Preloaded into skiff's daemon by the benchmark (`node --import` this file,
 * SKIFF_BENCH_EXEC_LOG=FILE): appends one JSON line per program the daemon
 * runs and one per API request it serves (labelled "api METHOD PATH"),
 * `{"label","start","ms"}` with start in epoch milliseconds, so the
 * benchmark can say where a `docker run` spent its time without touching src/.
 * A spawned program that reports on fd 3 (the shim, which runs `runc create`
 * and `runc start`) is timed until that report ends; others until they close.
 */
import { appendFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { subscribe } from 'node:diagnostics_channel';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { PROGRAM_CHANNEL, type ProgramRun } from '../src/kernel/exec.js';
import type { Readable } from 'node:stream';
import { basename } from 'node:path';

type Launcher = (...args: unknown[]) => ChildProcess;

const logPath = process.env['SKIFF_BENCH_EXEC_LOG'];

/** "nsenter nft -f", "skiff-shim", "runc delete --force": the program's name and its leading plain words; ids become <id>. */
export function daemonExecLabel(program: string, args: readonly unknown[]): string {
  const words = args
    .filter((arg): arg is string => typeof arg === 'string')
    .filter((word) => word !== '--' && !word.startsWith('--net=') && !word.startsWith('--root') && !word.includes('/'))
    .map((word) => (/^[0-9a-f]{12,64}$|^veth|^br-/.test(word) ? '<id>' : word));
  const name = basename(program);
  return [name, ...words].slice(0, name === 'skiff-shim' ? 1 : 3).join(' ');
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function wrap(original: Launcher, endOf: (child: ChildProcess) => { once: (event: string, listener: () => void) => unknown }): Launcher {
  return function traced(this: unknown, ...args: unknown[]): ChildProcess {
    const start = now();
    const child = original.apply(this, args);
    const label = daemonExecLabel(String(args[0]), Array.isArray(args[1]) ? args[1] : []);
    const end = endOf(child);
    end.once(end === child ? 'close' : 'end', () => {
      appendFileSync(logPath!, `${JSON.stringify({ label, start, ms: now() - start })}\n`);
    });
    return child;
  };
}

/** "api POST /containers/create", "api POST /containers/<id>/start": an API request's method and path, version and ids dropped. */
export function apiRequestLabel(method: string, url: string): string {
  const path = url
    .split('?')[0]!
    .replace(/^\/v\d+\.\d+/, '')
    .replace(/\/[0-9a-f]{12,64}(?=\/|$)/g, '/<id>');
  return `api ${method} ${path}`;
}

/** Logs each API request the daemon serves, from its arrival until its response is sent. */
function traceRequests(): void {
  const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const emit = Reflect.get(http.Server.prototype, 'emit') as (this: unknown, event: string, ...args: unknown[]) => boolean;
  http.Server.prototype.emit = function tracedEmit(this: unknown, event: string, ...args: unknown[]): boolean {
    if (event === 'request') {
      const [request, response] = args as [import('node:http').IncomingMessage, import('node:http').ServerResponse];
      const start = now();
      const label = apiRequestLabel(request.method ?? '', request.url ?? '');
      response.once('finish', () => appendFileSync(logPath!, `${JSON.stringify({ label, start, ms: now() - start })}\n`));
    }
    return emit.call(this, event, ...args);
  } as typeof http.Server.prototype.emit;
}

if (logPath !== undefined) {
  traceRequests();
  // skiff's run() starts programs without child_process (posix_spawn in its addon) and says so on this channel.
  subscribe(PROGRAM_CHANNEL, (message) => {
    const { program, args, start, ms } = message as ProgramRun;
    appendFileSync(logPath, `${JSON.stringify({ label: daemonExecLabel(program, args), start, ms })}\n`);
  });
  const childProcess = createRequire(import.meta.url)('node:child_process') as { execFile: Launcher; spawn: Launcher };
  childProcess.execFile = wrap(childProcess.execFile, (child) => child);
  childProcess.spawn = wrap(childProcess.spawn, (child) => (child.stdio[3] as Readable | undefined | null) ?? child);
  syncBuiltinESMExports();
}
