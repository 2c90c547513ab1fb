/**
 * Pure decisions about containers: the process's argv, a generated name, the
 * legacy --link environment, links and endpoint settings read and checked.
 * No I/O.
 */
import { invalid } from '../errors.js';
import { linkLocalAddress, type InterfaceAddress } from '../model/address.js';
import type { ContainerRecord, EndpointRequest } from '../model/container.js';
import type { ImageConfig } from '../model/image.js';

export const NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const ADJECTIVES = [
  'brave',
  'calm',
  'eager',
  'fancy',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'merry',
  'nifty',
  'proud',
  'quirky',
  'sharp',
  'tender',
  'vivid',
];
const NOUNS = [
  'babbage',
  'curie',
  'darwin',
  'euler',
  'fermat',
  'galois',
  'hopper',
  'kepler',
  'lovelace',
  'noether',
  'pascal',
  'ritchie',
  'shannon',
  'turing',
  'wozniak',
  'yonath',
];

/** The process's argv: entrypoint then command, each from the container or else the image, as Docker resolves them. */
export function argvOf(record: ContainerRecord, image: ImageConfig | undefined): string[] {
  const entrypoint = record.config.entrypoint ?? image?.entrypoint ?? [];
  const cmd = record.config.cmd ?? (record.config.entrypoint !== null ? [] : (image?.cmd ?? []));
  return [...entrypoint, ...cmd];
}

/** How many random names a new container is offered before it is named after its id (dockerd's generateNewName). */
const NAME_ATTEMPTS = 6;

/**
 * A Docker-style adjective_scientist name that is not taken, as dockerd
 * picks one: a few random tries, all but the first with a random digit
 * appended (namesgenerator.GetRandomName(retry)), then the container's short
 * id. Bounded: with every name taken (there are only so many) a retry loop
 * would never end, and the daemon with it.
 */
export function generateName(taken: (name: string) => boolean, id: string, random: () => number = Math.random): string {
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const name = `${pick(ADJECTIVES)}_${pick(NOUNS)}${attempt === 0 ? '' : String(Math.floor(random() * 10))}`;
    if (!taken(name)) return name;
  }
  return id.slice(0, 12);
}

/** Docker's legacy link variables: ALIAS_PORT_80_TCP=tcp://ip:80, ALIAS_NAME, ALIAS_ENV_x. */
export function linkEnvironment(
  alias: string,
  containerName: string,
  address: string,
  exposedPorts: readonly string[],
  linkedEnv: readonly string[],
): string[] {
  const prefix = alias.toUpperCase().replace(/[^A-Z0-9]/g, '_');
  const ports = [...new Set(exposedPorts)]
    .map((key) => {
      const [port, protocol = 'tcp'] = key.split('/');
      return { port: port!, protocol };
    })
    .sort((a, b) => Number(a.port) - Number(b.port));
  const env: string[] = [];
  if (ports[0] !== undefined) env.push(`${prefix}_PORT=${ports[0].protocol}://${address}:${ports[0].port}`);
  for (const { port, protocol } of ports) {
    const name = `${prefix}_PORT_${port}_${protocol.toUpperCase()}`;
    env.push(`${name}=${protocol}://${address}:${port}`, `${name}_ADDR=${address}`, `${name}_PORT=${port}`, `${name}_PROTO=${protocol}`);
  }
  env.push(`${prefix}_NAME=/${containerName}/${alias}`);
  for (const entry of linkedEnv) {
    const separator = entry.indexOf('=');
    if (separator > 0 && !entry.startsWith('HOME=') && !entry.startsWith('PATH=')) env.push(`${prefix}_ENV_${entry}`);
  }
  return env;
}

/** "db", "/db:alias" → the linked container's reference and the alias (its name when none is given), as moby's ParseLink. */
export function parseLink(link: string): { target: string; alias: string } {
  const [target = '', alias] = link.split(':', 2);
  const name = target.replace(/^\//, '');
  return { target: name, alias: (alias ?? name).replace(/^.*\//, '') };
}

const MAC_PATTERN = /^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/;

export function validateMacAddress(mac: string): void {
  if (mac !== '' && !MAC_PATTERN.test(mac)) throw invalid(`${mac} is not a valid mac address`);
}

/** Checks a network's settings before anything is made; returns the link-local addresses as the interface gets them. */
export function checkEndpointRequest(request: EndpointRequest): InterfaceAddress[] {
  validateMacAddress(request.macAddress);
  return request.linkLocalIps.map((text) => {
    const address = linkLocalAddress(text);
    if (address === undefined) throw invalid(`invalid link local IP address: ${text}`);
    return address;
  });
}
