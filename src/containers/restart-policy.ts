/**
 * Restart policies as Docker's restart manager decides them (pure, no I/O):
 * whether an exit is followed by a start, and after how long. The back-off
 * starts at 100 ms and doubles up to a minute; a run that lasted 10 s or more
 * counts as healthy and starts the back-off over.
 */
import { invalid } from '../errors.js';
import type { RestartPolicy } from '../model/container.js';

export const FIRST_RESTART_DELAY_MS = 100;
export const MAX_RESTART_DELAY_MS = 60_000;
/** A run at least this long resets the back-off (moby's restartmanager). */
export const HEALTHY_RUN_MS = 10_000;

/** Docker's validateRestartPolicy, with its messages; '' is taken as "no". */
export function checkRestartPolicy(name: string, maximumRetryCount: number): RestartPolicy {
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (maximumRetryCount !== 0) throw invalid(`maximum retry count cannot be used with restart policy '${name}'`);
      return { name: name === '' ? 'no' : name, maximumRetryCount: 0 };
    case 'on-failure':
      if (maximumRetryCount < 0) throw invalid('maximum retry count cannot be negative');
      return { name, maximumRetryCount };
    default:
      throw invalid(`invalid restart policy '${name}'`);
  }
}

export interface ExitFacts {
  exitCode: number;
  /** Restarts made so far by the policy since the last start by the user. */
  restartCount: number;
  /** docker stop / docker kill: unless-stopped keeps it down, always brings it back only with the daemon. */
  manuallyStopped: boolean;
}

/** Whether the policy starts the container again after this exit. */
export function shouldRestart(policy: RestartPolicy, facts: ExitFacts): boolean {
  switch (policy.name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !facts.manuallyStopped;
    case 'on-failure':
      // A maximum of 0 means no maximum, as in Docker.
      return facts.exitCode !== 0 && (policy.maximumRetryCount === 0 || facts.restartCount < policy.maximumRetryCount);
    case 'no':
      return false;
  }
}

/** The wait before the next restart, given the previous wait (0: none yet) and how long the run that just ended lasted. */
export function nextRestartDelay(previousDelayMs: number, runMs: number): number {
  const previous = runMs >= HEALTHY_RUN_MS ? 0 : previousDelayMs;
  if (previous === 0) return FIRST_RESTART_DELAY_MS;
  return Math.min(previous * 2, MAX_RESTART_DELAY_MS);
}
