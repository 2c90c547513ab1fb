/**
 * The lean v1-cgroups view (src/runtime/shim/skiff-v1-cgroups.c): one mount
 * namespace without the host's cgroup2 mount and without the mounts under
 * the exec root (two per container), held by `skiff-v1-cgroups hold`, of
 * which each crun create, start and exec enters a copy. A copy of the
 * daemon's own namespace instead grows with the containers: crun create +
 * start beside 1,000 took ~20 ms more than beside 10, copying and freeing
 * it (and crun copying and detaching it again for the container).
 *
 * The holder is made anew whenever a runtime is (the daemon's start), before
 * any container mounts its rootfs, so that on a host whose mounts are shared
 * the exec root can be made a private mount first and the view a slave that
 * follows the host's mounts and unmounts (see view_propagation). Elsewhere
 * the view keeps the host's mounts as they were when it was made; what a
 * container needs from mounts made later (its rootfs, its netns file, its
 * bind sources) is carried into each call's copy. The holder outlives a
 * daemon that is killed (its own session); the next daemon replaces it.
 * Without it the calls copy the daemon's namespace, as before: slower,
 * never wrong.
 */
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { startDetached } from '../kernel/exec.js';

const READY_TIMEOUT_MS = 10_000;

export class LeanV1View {
  /** Where the holder writes its pid: what skiff-v1-cgroups --view reads. */
  readonly pidFile: string;
  private started: Promise<void> | undefined;

  constructor(
    private readonly program: string,
    private readonly execRoot: string,
    private readonly log: (message: string) => void,
  ) {
    this.pidFile = join(execRoot, 'v1-view.pid');
  }

  /** Starts the holder once (replacing a former daemon's); a failure is logged and leaves the calls on their slower way. */
  ready(): Promise<void> {
    this.started ??= this.start().catch((error: Error) =>
      this.log(`the lean v1-cgroups view could not be made (${error.message}): crun's calls copy the daemon's mount namespace instead`),
    );
    return this.started;
  }

  /** Ends the holder (the daemon shutting down); calls made meanwhile copy the daemon's namespace. */
  stop(): void {
    const pid = this.holderPid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
    rmSync(this.pidFile, { force: true });
  }

  /** The pid in the pid file when it is a holder of this file (not another process that took its pid since). */
  private holderPid(): number | undefined {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[1] === 'hold' && argv[2] === this.pidFile ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private async start(): Promise<void> {
    this.stop();
    const devNull = openSync('/dev/null', 'r+');
    const errors = openSync(join(this.execRoot, 'v1-view.log'), 'a');
    try {
      const holder = startDetached(this.program, ['hold', this.pidFile, this.execRoot], devNull, errors, 1);
      const channel = holder.channels[0] as Socket;
      try {
        await new Promise<void>((resolve, reject) => {
          let said = '';
          const timer = setTimeout(() => reject(new Error(`no word from it within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
          channel.on('error', () => undefined); // its end: the close says what it means
          channel.on('data', (chunk: Buffer) => {
            said += chunk.toString();
            if (said.startsWith('ready\n')) {
              clearTimeout(timer);
              resolve();
            }
          });
          channel.on('close', () => {
            clearTimeout(timer);
            reject(new Error(`it ended before the view was ready: see ${join(this.execRoot, 'v1-view.log')}`));
          });
        });
      } finally {
        channel.destroy();
        holder.done();
      }
    } finally {
      closeSync(devNull);
      closeSync(errors);
    }
  }
}
