/**
 * Applies `docker import --change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE,
 * WORKDIR, LABEL) to an image config: a pure function, Dockerfile syntax.
 */
import { invalid } from '../errors.js';
import type { ImageConfig } from '../model/image.js';

/** JSON form `["a","b"]` as is; shell form runs under /bin/sh -c, as in a Dockerfile. */
function commandLine(rest: string): string[] {
  if (rest.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(rest);
      if (Array.isArray(parsed) && parsed.every((part) => typeof part === 'string')) return parsed;
    } catch {
      // Not JSON: Docker falls back to the shell form too.
    }
  }
  return ['/bin/sh', '-c', rest];
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) return value.slice(1, -1);
  return value;
}

/** `K=V K2="v 2"` pairs, or the legacy `K some value` form. */
function keyValues(rest: string, instruction: string): Array<[string, string]> {
  const firstWord = rest.split(/\s+/, 1)[0] ?? '';
  if (!firstWord.includes('=')) {
    const name = firstWord;
    const value = rest.slice(name.length).trim();
    if (name === '') throw invalid(`${instruction} requires at least one argument`);
    return [[name, unquote(value)]];
  }
  const pairs: Array<[string, string]> = [];
  for (const match of rest.matchAll(/([^\s=]+)=("[^"]*"|'[^']*'|\S*)/g)) pairs.push([match[1]!, unquote(match[2]!)]);
  return pairs;
}

function setEnv(env: string[], name: string, value: string): string[] {
  const entry = `${name}=${value}`;
  const index = env.findIndex((existing) => existing.startsWith(`${name}=`));
  return index < 0 ? [...env, entry] : env.map((existing, i) => (i === index ? entry : existing));
}

export function applyChanges(base: ImageConfig, changes: readonly string[]): ImageConfig {
  let config: ImageConfig = { ...base, env: [...base.env], exposedPorts: [...base.exposedPorts], labels: { ...base.labels } };
  for (const change of changes) {
    const trimmed = change.trim();
    if (trimmed === '') continue;
    const instruction = (trimmed.split(/\s+/, 1)[0] ?? '').toLowerCase();
    const rest = trimmed.slice(instruction.length).trim();
    switch (instruction) {
      case 'cmd':
        config = { ...config, cmd: commandLine(rest) };
        break;
      case 'entrypoint':
        config = { ...config, entrypoint: commandLine(rest) };
        break;
      case 'env':
        for (const [name, value] of keyValues(rest, 'ENV')) config.env = setEnv(config.env, name, value);
        break;
      case 'label':
        for (const [name, value] of keyValues(rest, 'LABEL')) config.labels[name] = value;
        break;
      case 'expose':
        for (const port of rest.split(/\s+/).filter((p) => p !== '')) {
          const key = port.includes('/') ? port.toLowerCase() : `${port}/tcp`;
          if (!config.exposedPorts.includes(key)) config.exposedPorts.push(key);
        }
        break;
      case 'workdir':
        config = { ...config, workingDir: rest };
        break;
      default:
        throw invalid(`${instruction} is not a valid change command`);
    }
  }
  return config;
}
