/**
 * The last line of defence. Every request, DNS question and event handles its
 * own failures; an exception that still reaches the top means some state may
 * be half-changed, so the daemon says so loudly and exits non-zero: its
 * supervisor restarts it and the restart's reconcile repairs store and kernel.
 * Tests assert this is never reached.
 */
export const FATAL_MARKER = 'skiff: FATAL:';

/** EX_SOFTWARE: an internal error. */
const FATAL_EXIT_CODE = 70;

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export function installLastResortHandlers(): void {
  const die = (what: string, error: unknown) => {
    process.stderr.write(`${FATAL_MARKER} ${what}, exiting so that a supervisor restarts the daemon: ${describe(error)}\n`);
    process.exit(FATAL_EXIT_CODE);
  };
  process.on('uncaughtException', (error) => die('uncaught exception', error));
  process.on('unhandledRejection', (reason) => die('unhandled promise rejection', reason));
}
