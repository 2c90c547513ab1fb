/**
 * docker-compose (v1, Debian's) driven against a test daemon: the project's
 * docker-compose.yml in projectDir, under projectName, DOCKER_HOST set to the
 * daemon's socket. A non-zero exit fails the test with compose's stderr.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tryRun } from './world.js';

export async function runCompose(
  socketPath: string,
  projectDir: string,
  projectName: string,
  args: readonly string[],
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const result = await tryRun('docker-compose', ['--project-directory', projectDir, '-f', join(projectDir, 'docker-compose.yml'), '-p', projectName, ...args], {
    ...process.env,
    DOCKER_HOST: `unix://${socketPath}`,
    ...extraEnv,
  });
  assert.equal(result.code, 0, `docker-compose ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}
