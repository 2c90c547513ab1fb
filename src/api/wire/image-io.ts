/** docker commit's request body and docker load's answer, as Docker's JSON. */
import { invalid } from '../../errors.js';
import type { ConfigOverrides } from '../../containers/commit.js';
import { optionalObject, optionalString, optionalStringArray, optionalStringMap } from './json-fields.js';

/** Cmd / Entrypoint: a list, or one string as Docker's StrSlice takes it; null kept (it clears). */
function commandList(body: Record<string, unknown>, field: string): string[] | null | undefined {
  if (body[field] === null) return null;
  if (typeof body[field] === 'string') return [body[field]];
  return optionalStringArray(body, field);
}

/** POST /commit's body: the container config to set over the container's own (empty or null: nothing). */
export function commitOverridesFromWire(text: string): ConfigOverrides {
  if (text.trim() === '' || text.trim() === 'null') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw invalid(`invalid JSON: ${(error as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('invalid JSON: the body must be an object');
  const config = body as Record<string, unknown>;
  const overrides: ConfigOverrides = {};
  const cmd = commandList(config, 'Cmd');
  const entrypoint = commandList(config, 'Entrypoint');
  const env = optionalStringArray(config, 'Env');
  if (cmd !== undefined) overrides.cmd = cmd;
  if (entrypoint !== undefined) overrides.entrypoint = entrypoint;
  if (env !== undefined) overrides.env = env;
  const workingDir = optionalString(config, 'WorkingDir');
  if (workingDir !== undefined) overrides.workingDir = workingDir;
  const labels = optionalStringMap(config, 'Labels');
  if (labels !== undefined) overrides.labels = labels;
  const exposed = optionalObject(config, 'ExposedPorts');
  if (exposed !== undefined) overrides.exposedPorts = Object.keys(exposed);
  return overrides;
}

/** docker load's answer: one JSON message per line the CLI prints. */
export function loadMessagesToWire(lines: readonly string[]): string {
  return lines.map((line) => `${JSON.stringify({ stream: `${line}\n` })}\n`).join('');
}
