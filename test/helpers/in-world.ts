/**
 * Entry point inside a fresh `unshare --net --mount` world: brings loopback up
 * (a new network namespace has it down) and runs the rest of argv with node.
 */
import { execFileSync, spawnSync } from 'node:child_process';

execFileSync('ip', ['link', 'set', 'lo', 'up']);
const result = spawnSync(process.execPath, process.argv.slice(2), { stdio: 'inherit' });
process.exit(result.status ?? 1);
