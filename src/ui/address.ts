/**
 * Where the topology page listens (`skiff daemon --ui [ADDR:]PORT`). The page
 * can probe every network and read every container's inspect, so it stays on
 * the loopback unless the admin says otherwise with --ui-remote.
 */
import { createRequire } from 'node:module';
// By require, not import: an ES import of a CommonJS package starts Node's export lexer (WebAssembly), ~9 MB of RSS kept for the daemon's life.
const ipaddr = createRequire(import.meta.url)('ipaddr.js') as typeof import('ipaddr.js');
import { ConfigError } from '../daemon/config.js';

export interface UiAddress {
  host: string;
  port: number;
}

export function parseUiAddress(text: string, allowRemote: boolean): UiAddress {
  const found = /^(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):)?(\d{1,5})$/.exec(text);
  const port = Number(found?.[2]);
  if (found === null || port < 1 || port > 65535) throw new ConfigError(`invalid --ui "${text}": [ADDRESS:]PORT, e.g. 127.0.0.1:8080`);
  const given = found[1] ?? '127.0.0.1';
  const host = given === 'localhost' ? '127.0.0.1' : given.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(host)) throw new ConfigError(`invalid --ui "${text}": ${host} is no IP address`);
  const range = ipaddr.process(host).range();
  if (range !== 'loopback' && !allowRemote) {
    throw new ConfigError(
      `--ui ${text}: ${host} is not a loopback address; the page can probe every network and read every container, so give --ui-remote as well to serve it there`,
    );
  }
  return { host, port };
}
