/**
 * Run inside a container's network namespace (nsenter --net): asks the
 * embedded DNS at 127.0.0.11 for a name every 2 ms until it appears (or,
 * with "vanish", until it is gone), then prints the wall-clock time it
 * happened, so the bench can compare it with when `run` or `rm` started.
 * Prints READY once it asks, so the bench starts the timed action only then.
 *
 *   node overlay-name-probe.js appear|vanish NAME TIMEOUT_MS
 */
import { Resolver } from 'node:dns/promises';

const [mode, name, timeoutText] = process.argv.slice(2);
if ((mode !== 'appear' && mode !== 'vanish') || name === undefined || !/^\d+$/.test(timeoutText ?? '')) {
  process.stderr.write('usage: overlay-name-probe.js appear|vanish NAME TIMEOUT_MS\n');
  process.exit(2);
}
const resolver = new Resolver({ timeout: 200, tries: 1 });
resolver.setServers(['127.0.0.11']);
const deadline = Date.now() + Number(timeoutText);

let lastAnswer = 'no answer yet';

async function present(): Promise<boolean> {
  try {
    const addresses = await resolver.resolve4(name!);
    lastAnswer = addresses.join(',');
    return addresses.length > 0;
  } catch (error) {
    // ENOTFOUND (NXDOMAIN) is the expected answer while the name is absent.
    lastAnswer = (error as NodeJS.ErrnoException).code ?? String(error);
    return false;
  }
}

process.stdout.write('READY\n');
while (Date.now() < deadline) {
  if ((await present()) === (mode === 'appear')) {
    process.stdout.write(`AT ${Date.now()}\n`);
    process.exit(0);
  }
  await new Promise((resolve) => setTimeout(resolve, 2));
}
process.stdout.write(`TIMEOUT (last answer: ${lastAnswer})\n`);
process.exit(1);
