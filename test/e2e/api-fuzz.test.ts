/**
 * A seeded, bounded API fuzzer: every Engine API route skiff serves gets
 * malformed and truncated JSON, wrong types in every field, unknown fields,
 * out-of-range numbers and names with ../, NUL, unicode and 10,000
 * characters; then a 1 GB body, a client that trickles its headers, and
 * 2,000 connections at once. After each round the daemon answers /_ping,
 * the API's view and the kernel are exactly as before (snapshots compared)
 * and every error answer carried a JSON message.
 *
 * Replay with SKIFF_FUZZ_SEED=N.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { request } from 'node:http';
import { assertInWorld } from '../helpers/world.js';
import { assertNeverFatal, importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { worldSnapshot } from '../helpers/invariants.js';
import { seededRandom } from '../helpers/random.js';

assertInWorld();

const seed = Number(process.env['SKIFF_FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const random = seededRandom(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const replay = `seed ${seed} (replay with SKIFF_FUZZ_SEED=${seed})`;

const ROUNDS = 4;
const REQUESTS_PER_ROUND = 250;
const REQUEST_TIMEOUT_MS = 5_000;

let daemon: TestDaemon;
let baseline: Record<string, unknown>;

before(async () => {
  process.stdout.write(`fuzz ${replay}\n`);
  daemon = await startDaemon();
  await importBusybox(daemon);
  await daemon.ok('network', 'create', 'fz');
  await daemon.ok('run', '-d', '--name', 'fz1', '--network', 'fz', '-p', '18090:80', 'busybox', 'sleep', '3600');
  await daemon.ok('create', '--name', 'fz-created', '--network', 'fz', 'busybox', 'true');
  baseline = await worldSnapshot(daemon);
});
after(async () => {
  await daemon.cleanup();
});

// ---- what to send

const LONG = 'x'.repeat(10_000);
/** Names no object may have: each must be refused (or found nowhere), never followed. */
const HOSTILE_NAMES = [
  '../',
  '../../etc/passwd',
  '..',
  '.',
  'a\0b',
  '\0',
  'ü名🚀',
  LONG,
  '',
  ' ',
  '-rf',
  '$(reboot)',
  '`id`',
  ';ls',
  'a/b',
  'skiff0\n',
  'br-0123456789ab',
  '\u202e',
];
/** The hostile names no create may take: Docker's name pattern refuses them (a long but well-formed container name is valid, as in Docker). */
const INVALID_NAMES = HOSTILE_NAMES.filter((name) => !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name));
const WRONG_VALUES: unknown[] = [
  1,
  -1,
  0,
  1e308,
  -1e308,
  2 ** 53 + 1,
  -(2 ** 63),
  4294967296,
  65536,
  1.5,
  true,
  false,
  null,
  [],
  {},
  [[[]]],
  { a: { b: { c: [] } } },
  LONG,
  '\0',
  '../..',
  'ü名🚀',
  ['../'],
  { '../': '../' },
];
const QUERY_KEYS = [
  'filters',
  'all',
  'limit',
  'size',
  'force',
  't',
  'signal',
  'tail',
  'since',
  'until',
  'h',
  'w',
  'v',
  'link',
  'repo',
  'tag',
  'name',
  'stdout',
  'stderr',
  'timestamps',
  'condition',
  'fromSrc',
  'changes',
  'message',
  'detach',
];
const QUERY_VALUES = [
  '',
  '1',
  'true',
  '-1',
  '1e309',
  'NaN',
  '99999999999999999999',
  '{',
  '{"name":',
  '{"name":["../"]}',
  '{"label":{"../":true}}',
  '[]',
  'null',
  '{"dangling":["maybe"]}',
  LONG,
  '%00',
  'ü',
  '../',
  'SIGKILLX',
  'KILL',
];

const NETWORK_BODY = {
  Name: 'n',
  Driver: 'bridge',
  Internal: false,
  Attachable: false,
  EnableIPv6: false,
  CheckDuplicate: true,
  IPAM: {
    Driver: 'default',
    Options: {},
    Config: [{ Subnet: '10.99.0.0/24', Gateway: '10.99.0.1', IPRange: '10.99.0.0/25', AuxiliaryAddresses: { host1: '10.99.0.5' } }],
  },
  Options: { 'com.docker.network.bridge.enable_icc': 'true', 'com.docker.network.driver.mtu': '1500' },
  Labels: { a: 'b' },
};
const CONTAINER_BODY = {
  Image: 'busybox',
  Cmd: ['sleep', '1'],
  Entrypoint: null,
  Hostname: 'h',
  Domainname: '',
  User: '',
  Env: ['A=1'],
  WorkingDir: '/',
  Tty: false,
  OpenStdin: false,
  ExposedPorts: { '80/tcp': {} },
  Labels: { a: 'b' },
  MacAddress: '02:42:ac:11:00:09',
  StopSignal: 'SIGTERM',
  HostConfig: {
    NetworkMode: 'fz',
    PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '18091' }] },
    PublishAllPorts: false,
    Dns: ['10.0.0.1'],
    DnsSearch: [],
    DnsOptions: [],
    ExtraHosts: ['h:10.0.0.2'],
    Links: [],
    AutoRemove: false,
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
  },
  NetworkingConfig: { EndpointsConfig: { fz: { Aliases: ['a'], IPAMConfig: { IPv4Address: '10.1.1.1', IPv6Address: '' } } } },
};
const EXEC_BODY = {
  Cmd: ['ls'],
  AttachStdin: false,
  AttachStdout: true,
  AttachStderr: true,
  Tty: false,
  Env: ['A=1'],
  WorkingDir: '/',
  User: '',
  Privileged: false,
  DetachKeys: '',
};
const CONNECT_BODY = { Container: 'fz1', EndpointConfig: { Aliases: ['x'], IPAMConfig: { IPv4Address: '' }, Links: [] } };

interface RouteSpec {
  /** Path params: 'real' ones may be an existing object's name (read-only routes), else always hostile. */
  params: 'real-or-hostile' | 'hostile';
  real?: string;
  body?: Record<string, unknown>;
  /** The JSON body's name field, always hostile (a create must never succeed). */
  hostileField?: string;
  /** Query parameters always sent (a stream cut short, a name always hostile). */
  fixedQuery?: () => Record<string, string>;
  /** 503 is this route's designed answer (Docker's swarm routes outside a swarm), still with a JSON message. */
  unavailableByDesign?: boolean;
  /** Messages dockerd 20.10 itself answers with a 500 on this route (a prune's unreadable until=): the same 500 is right. */
  dockerServerErrors?: RegExp;
}

const UNTIL_ERRORS = /^(failed to parse value as time or duration: |more than one until filter specified$|parsing time )/;

/** Every route skiff serves (the test fails if one is added without a spec here). */
const SPECS: Record<string, RouteSpec> = {
  'POST /containers/create': { params: 'hostile', body: CONTAINER_BODY, fixedQuery: () => ({ name: pick(INVALID_NAMES.filter((name) => name !== '')) }) },
  'GET /containers/json': { params: 'hostile' },
  'GET /containers/{id}/json': { params: 'real-or-hostile', real: 'fz1' },
  'POST /containers/{id}/start': { params: 'hostile' },
  'POST /containers/{id}/stop': { params: 'hostile' },
  'POST /containers/{id}/restart': { params: 'hostile' },
  'POST /containers/{id}/kill': { params: 'hostile' },
  // One frame at once: a hostile stream=1 would run until the client goes.
  'GET /containers/{id}/stats': { params: 'hostile', fixedQuery: () => ({ stream: '0', 'one-shot': '1' }) },
  'POST /containers/{id}/pause': { params: 'hostile' },
  'POST /containers/{id}/unpause': { params: 'hostile' },
  'GET /containers/{id}/top': { params: 'hostile' },
  'POST /containers/{id}/rename': { params: 'hostile', fixedQuery: () => ({ name: pick(INVALID_NAMES) }) },
  'POST /containers/{id}/update': { params: 'hostile', body: { RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 2 } } },
  'DELETE /containers/{id}': { params: 'hostile' },
  'POST /containers/{id}/wait': { params: 'hostile' },
  // dockerd answers an unreadable since=/until= with strconv's error and a 500.
  'GET /containers/{id}/logs': {
    params: 'real-or-hostile',
    real: 'fz1',
    dockerServerErrors: /^strconv\.ParseInt: parsing /,
    fixedQuery: () => ({ follow: '0' }),
  },
  'POST /containers/{id}/exec': { params: 'hostile', body: EXEC_BODY },
  'GET /exec/{id}/json': { params: 'hostile' },
  'POST /exec/{id}/start': { params: 'hostile', body: { Detach: true, Tty: false } },
  'POST /exec/{id}/resize': { params: 'hostile' },
  'POST /containers/{id}/resize': { params: 'hostile' },
  'POST /networks/{id}/connect': { params: 'hostile', body: CONNECT_BODY },
  'POST /networks/{id}/disconnect': { params: 'hostile', body: { Container: 'fz1', Force: false } },
  'GET /events': { params: 'hostile', fixedQuery: () => ({ until: '1' }) },
  'POST /images/create': { params: 'hostile', fixedQuery: () => ({ fromSrc: '-', repo: pick(HOSTILE_NAMES) }) },
  'GET /images/json': { params: 'hostile' },
  'GET /images/{name}/json': { params: 'real-or-hostile', real: 'busybox' },
  'POST /images/{name}/tag': { params: 'hostile' },
  'DELETE /images/{name}': { params: 'hostile' },
  'GET /networks': { params: 'hostile' },
  'GET /networks/{id}': { params: 'real-or-hostile', real: 'fz' },
  'GET /networks/{id}/diagnose': { params: 'real-or-hostile', real: 'fz' },
  'POST /networks/create': { params: 'hostile', body: NETWORK_BODY, hostileField: 'Name' },
  'DELETE /networks/{id}': { params: 'hostile' },
  // A prune with a filter that is never valid: a valid one could remove a network.
  'POST /networks/prune': {
    params: 'hostile',
    dockerServerErrors: UNTIL_ERRORS,
    fixedQuery: () => ({ filters: pick(['{', '{"until":["../"]}', '{"label":"x"}', '[1]', '{"dangling":["maybe"]}']) }),
  },
  'DELETE /containers/{parent}/{alias}': { params: 'hostile', fixedQuery: () => ({ link: '1' }) },
  'DELETE /containers//{parent}/{alias}': { params: 'hostile', fixedQuery: () => ({ link: '1' }) },
  'POST /swarm/init': { params: 'hostile', body: { ListenAddr: '0.0.0.0:2377' }, unavailableByDesign: true },
  'POST /swarm/join': { params: 'hostile', body: { RemoteAddrs: ['10.0.0.1:2377'] }, unavailableByDesign: true },
  'POST /swarm/leave': { params: 'hostile', fixedQuery: () => ({ force: '1' }), unavailableByDesign: true },
  // Hostile names only: a trace between real containers sends a probe (which it removes after).
  'GET /skiff/trace': { params: 'hostile', fixedQuery: () => ({ src: pick(HOSTILE_NAMES), dst: pick(HOSTILE_NAMES) }) },
  'GET /volumes': { params: 'hostile' },
  // Hostile names only: a valid one would make a volume.
  'POST /volumes/create': { params: 'hostile', body: { Name: 'x', Driver: 'local', Labels: {} }, hostileField: 'Name' },
  'GET /volumes/{name}': { params: 'hostile' },
  'DELETE /volumes/{name}': { params: 'hostile' },
  // A filter that is never valid: a valid prune could remove a volume.
  'POST /volumes/prune': { params: 'hostile', fixedQuery: () => ({ filters: pick(['{', '{"label":"x"}', '[1]']) }) },
  'GET /containers/{id}/archive': { params: 'hostile', fixedQuery: () => ({ path: pick(HOSTILE_NAMES) }) },
  'PUT /containers/{id}/archive': { params: 'hostile', fixedQuery: () => ({ path: pick(HOSTILE_NAMES) }) },
  'GET /containers/{id}/export': { params: 'hostile' },
  'GET /containers/{id}/changes': { params: 'hostile' },
  'POST /commit': { params: 'hostile', fixedQuery: () => ({ container: pick(HOSTILE_NAMES), repo: pick(HOSTILE_NAMES) }) },
  'GET /images/get': { params: 'hostile', fixedQuery: () => ({ names: pick(HOSTILE_NAMES) }) },
  'GET /images/{name}/get': { params: 'hostile' },
  'GET /images/{name}/history': { params: 'hostile' },
  // The body is never a docker-archive: nothing can be loaded.
  'POST /images/load': { params: 'hostile' },
  'GET /system/df': { params: 'hostile' },
  // Filters that are never valid: a valid prune could remove a container or an image.
  'POST /containers/prune': {
    params: 'hostile',
    dockerServerErrors: UNTIL_ERRORS,
    fixedQuery: () => ({ filters: pick(['{', '{"until":["../"]}', '{"label":"x"}', '[1]', '{"dangling":["1"]}']) }),
  },
  'POST /images/prune': {
    params: 'hostile',
    dockerServerErrors: UNTIL_ERRORS,
    fixedQuery: () => ({ filters: pick(['{', '{"until":["../"]}', '{"label":"x"}', '[1]', '{"dangling":["maybe"]}']) }),
  },
  // skiff has no build cache: nothing a build prune is asked can remove anything.
  'POST /build/prune': { params: 'hostile' },
  'GET /_ping': { params: 'hostile' },
  'GET /version': { params: 'hostile' },
  'GET /info': { params: 'hostile' },
};

/** The routes as the daemon registers them, read from its compiled route modules. */
function servedRoutes(): string[] {
  const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'api', 'routes');
  return readdirSync(dir)
    .filter((name) => name.endsWith('.js'))
    .flatMap((name) => {
      const source = readFileSync(join(dir, name), 'utf8');
      return [...source.matchAll(/\.add\('(\w+)', '([^']+)'/g)].map((match) => `${match[1]!} ${match[2]!}`);
    });
}

/** A leaf path inside a JSON value, chosen at random (objects and arrays are walked). */
function randomPath(value: unknown): Array<string | number> {
  const path: Array<string | number> = [];
  let here = value;
  while (here !== null && typeof here === 'object' && random() < 0.75) {
    // Not here.map: a mutation may have set an array's own `constructor`, which map() would call.
    const keys: Array<string | number> = Array.isArray(here) ? Array.from({ length: here.length }, (_, index) => index) : Object.keys(here);
    if (keys.length === 0) break;
    const key = pick(keys);
    path.push(key);
    here = (here as Record<string | number, unknown>)[key];
  }
  return path;
}

/** A path to an object (not an array, not a leaf) inside a JSON value: where an unknown field can go. */
function objectPath(value: unknown): string[] {
  const path: string[] = [];
  let here = value;
  for (;;) {
    const inner =
      here !== null && typeof here === 'object' && !Array.isArray(here)
        ? Object.entries(here).filter(([, child]) => child !== null && typeof child === 'object' && !Array.isArray(child))
        : [];
    if (inner.length === 0 || random() < 0.5) return path;
    const [key, child] = pick(inner);
    path.push(key);
    here = child;
  }
}

function setAt(target: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  // The body became a leaf itself (a wrong type at its root): nothing inside to set.
  if (target === null || typeof target !== 'object') return target;
  const copy = structuredClone(target) as Record<string | number, unknown>;
  let here = copy;
  for (const key of path.slice(0, -1)) here = here[key] as Record<string | number, unknown>;
  // Defined, not assigned: a key named __proto__ must be a field of the body, not its prototype.
  Object.defineProperty(here, path[path.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** One hostile body: the route's valid body, mutated one to three times, sometimes broken as text. */
function hostileBody(spec: RouteSpec): { text: string; mutations: string[] } {
  let body: unknown = spec.body ?? {};
  const mutations: string[] = [];
  if (spec.hostileField !== undefined) body = setAt(body, [spec.hostileField], pick(INVALID_NAMES));
  for (let count = 1 + Math.floor(random() * 3); count > 0; count--) {
    const kind = pick(['wrong-type', 'wrong-type', 'unknown-field', 'out-of-range', 'hostile-string', 'delete-field']);
    const path = randomPath(body);
    mutations.push(`${kind}@${path.join('.')}`);
    if (kind === 'wrong-type') body = setAt(body, path, pick(WRONG_VALUES));
    else if (kind === 'out-of-range') body = setAt(body, path, pick([1e308, -1, 2 ** 53 + 1, -(2 ** 63), 65536, 4294967296, 0.5]));
    else if (kind === 'hostile-string') body = setAt(body, path, pick(HOSTILE_NAMES));
    else if (kind === 'unknown-field')
      body = setAt(body, [...objectPath(body), pick(['Unknown', '__proto__', 'constructor', '../', LONG.slice(0, 300)])], pick(WRONG_VALUES));
    else if (path.length > 0) {
      const copy = structuredClone(body) as Record<string | number, unknown>;
      let here = copy;
      for (const key of path.slice(0, -1)) here = here[key] as Record<string | number, unknown>;
      delete here[path[path.length - 1]!];
      body = copy;
    }
  }
  let text = JSON.stringify(body);
  const breakage = random();
  if (breakage < 0.15) {
    text = text.slice(0, Math.floor(random() * text.length));
    mutations.push('truncated');
  } else if (breakage < 0.2) {
    text = pick(['[]', '"x"', '1', 'null', 'true', '{"a":', '\u0000', '{{{{', '{"Name":"a","Name":{}}']);
    mutations.push(`not-an-object ${text}`);
  } else if (breakage < 0.23) {
    text = Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256))).toString('latin1');
    mutations.push('garbage bytes');
  }
  return { text, mutations };
}

/** A path segment: hostile names percent-encoded, sometimes an encoding that is itself broken. */
function hostileSegment(): string {
  const broken = ['%E0%A4%A', '%', '%zz', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%00', '%2F'];
  return random() < 0.2 ? pick(broken) : encodeURIComponent(pick(HOSTILE_NAMES.filter((name) => name !== '')));
}

interface Sent {
  description: string;
  status: number;
  body: string;
  contentType: string;
}

function send(method: string, path: string, body: string | undefined): Promise<Sent | 'timeout'> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> =
      body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body, 'latin1') };
    const req = request({ socketPath: daemon.socketPath, method, path, headers }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on('end', () =>
        resolve({
          description: `${method} ${path}`,
          status: response.statusCode ?? 0,
          body: text,
          contentType: String(response.headers['content-type'] ?? ''),
        }),
      );
      response.on('error', () => resolve({ description: `${method} ${path}`, status: response.statusCode ?? 0, body: text, contentType: '' }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      req.destroy();
      resolve('timeout');
    });
    req.on('error', (error) => resolve({ description: `${method} ${path}`, status: 0, body: error.message, contentType: '' }));
    req.end(body === undefined ? undefined : Buffer.from(body, 'latin1'));
  });
}

/** The JSON error's message, '' when the body is none. */
function messageOf(body: string): string {
  try {
    return String((JSON.parse(body) as { message?: unknown }).message);
  } catch {
    return ''; // not JSON: judged as such below
  }
}

/** Whatever went wrong with one answer ('' when it is fine). */
function judge(sent: Sent, spec: RouteSpec): string {
  if (sent.status === 0) return `no answer: ${sent.body}`;
  const dockersOwn = sent.status === 500 && spec.dockerServerErrors !== undefined && spec.dockerServerErrors.test(messageOf(sent.body));
  if (sent.status >= 500 && !dockersOwn && !(sent.status === 503 && spec.unavailableByDesign === true))
    return `server error ${sent.status}: ${sent.body.slice(0, 300)}`;
  if (sent.status < 400) return '';
  let message: unknown;
  try {
    message = (JSON.parse(sent.body) as { message?: unknown }).message;
  } catch {
    return `error ${sent.status} without a JSON body: ${sent.body.slice(0, 200)}`;
  }
  return typeof message === 'string' && message !== '' ? '' : `error ${sent.status} without a message: ${sent.body.slice(0, 200)}`;
}

async function assertUnchanged(round: string): Promise<void> {
  assert.ok(daemon.process.exitCode === null && daemon.process.signalCode === null, `the daemon died in ${round}; ${replay}\n${daemon.log()}`);
  assertNeverFatal(daemon.log());
  assert.equal((await daemon.http('GET', '/_ping')).body, 'OK', `/_ping after ${round}`);
  assert.deepEqual(await worldSnapshot(daemon), baseline, `${round} changed the store or the kernel; ${replay}`);
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

describe('API fuzzer', () => {
  it('has a spec for every route skiff serves', () => {
    assert.deepEqual(servedRoutes().sort(), Object.keys(SPECS).sort());
  });

  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: ${REQUESTS_PER_ROUND} hostile requests, clear errors, nothing changed`, async () => {
      const problems: string[] = [];
      const accepted: string[] = [];
      const statuses = new Map<number, number>();
      const routes = Object.entries(SPECS);
      try {
        for (let index = 0; index < REQUESTS_PER_ROUND; index++) {
          const [route, spec] = pick(routes);
          const [method, template] = route.split(' ') as [string, string];
          const path = template.replace(/\{\w+\}/g, () => (spec.params === 'real-or-hostile' && random() < 0.5 ? spec.real! : hostileSegment()));
          const query = new URLSearchParams(spec.fixedQuery?.() ?? {});
          for (let count = Math.floor(random() * 3); count > 0; count--) {
            const key = pick(QUERY_KEYS);
            if (!(spec.fixedQuery?.() ?? {})[key]) query.append(key, pick(QUERY_VALUES));
          }
          const version = pick(['/v1.41', '/v1.43', '', '/v1.12', '/v9.99']);
          const { text, mutations } = method === 'GET' && random() < 0.7 ? { text: undefined, mutations: [] } : hostileBody(spec);
          const sent = await send(method, `${version}${path}?${query.toString()}`, text);
          const what = `${method} ${version}${path.slice(0, 120)} [${mutations.join(', ')}]`;
          if (sent === 'timeout') {
            // Only a stream may run past the timeout; /events is asked to end at once (until=1).
            problems.push(`no answer within ${REQUEST_TIMEOUT_MS} ms: ${what}`);
            continue;
          }
          statuses.set(sent.status, (statuses.get(sent.status) ?? 0) + 1);
          // Docker 20.10 takes almost any network name (and duplicates): an accepted create is no bad input; it goes again.
          if (method === 'POST' && template === '/networks/create' && sent.status === 201) accepted.push((JSON.parse(sent.body) as { Id: string }).Id);
          const problem = judge(sent, spec);
          if (problem !== '') problems.push(`${what}: ${problem}`);
        }
      } finally {
        // Removed even when the round stops early, so that one failure does not spill into the next rounds. A later
        // connect may have named an accepted network (a hostile segment such as NUL is a name Docker takes): undone first.
        for (const id of accepted) {
          await daemon.http('POST', `/v1.41/networks/${id}/disconnect`, JSON.stringify({ Container: 'fz1', Force: true }));
          await daemon.http('DELETE', `/v1.41/networks/${id}`);
        }
      }
      process.stdout.write(
        `round ${round} answers by status: ${[...statuses]
          .sort(([a], [b]) => a - b)
          .map(([status, count]) => `${status}×${count}`)
          .join(' ')}\n`,
      );
      assert.deepEqual(problems, [], replay);
      await assertUnchanged(`round ${round}`);
    });
  }

  it('refuses a 1 GB body early with 413 (declared or chunked) without the daemon growing', async () => {
    const pid = daemon.process.pid!;
    const rssBefore = rssKb(pid);
    for (const framing of ['content-length', 'chunked'] as const) {
      const started = Date.now();
      const reply = await new Promise<{ head: string; sentBytes: number }>((resolve) => {
        const socket = net.connect(daemon.socketPath);
        const header = framing === 'content-length' ? `Content-Length: ${2 ** 30}` : 'Transfer-Encoding: chunked';
        let head = '';
        let sentBytes = 0;
        let answered = false;
        const block = Buffer.alloc(1 << 20, 0x7b);
        const chunk = Buffer.concat([Buffer.from(`${block.length.toString(16)}\r\n`), block, Buffer.from('\r\n')]);
        const pump = () => {
          // One GB at most, and not a byte after the answer came.
          while (!answered && sentBytes < 2 ** 30) {
            sentBytes += block.length;
            if (!socket.write(framing === 'chunked' ? chunk : block)) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        socket.on('connect', () => {
          socket.write(`POST /v1.41/networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${header}\r\n\r\n`);
          pump();
        });
        socket.on('data', (data: Buffer) => {
          answered = true;
          head += data.toString();
        });
        socket.on('error', () => resolve({ head, sentBytes }));
        socket.on('close', () => resolve({ head, sentBytes }));
      });
      assert.match(reply.head, /^HTTP\/1\.1 413 /, `${framing}: ${reply.head.slice(0, 200)}`);
      assert.match(reply.head, /"message":"request body[^"]* too large: at most 16777216 bytes"/);
      assert.ok(reply.sentBytes < 2 ** 29, `${framing}: refused long before 1 GB was sent (${reply.sentBytes} bytes went, ${Date.now() - started} ms)`);
    }
    const grownMb = (rssKb(pid) - rssBefore) / 1024;
    assert.ok(grownMb < 64, `the daemon grew ${grownMb.toFixed(1)} MB`);
    await assertUnchanged('the 1 GB bodies');
  });

  it('drops a client that sends one header byte a second, serving others meanwhile', async () => {
    const started = Date.now();
    const slow = new Promise<{ reply: string; closedAfterMs: number }>((resolve) => {
      const socket = net.connect(daemon.socketPath);
      const text = 'GET /v1.41/_ping HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'y'.repeat(60);
      let sent = 0;
      let reply = '';
      const timer = setInterval(() => {
        if (sent < text.length) socket.write(text[sent++]!);
      }, 1_000);
      socket.on('data', (data: Buffer) => {
        reply += data.toString();
      });
      const done = () => {
        clearInterval(timer);
        resolve({ reply, closedAfterMs: Date.now() - started });
      };
      socket.on('close', done);
      socket.on('error', done);
    });
    let served = 0;
    let slowDone = false;
    void slow.then(() => {
      slowDone = true;
    });
    while (!slowDone && Date.now() - started < 30_000) {
      const ping = await daemon.http('GET', '/_ping');
      assert.equal(ping.body, 'OK');
      served++;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const { reply, closedAfterMs } = await slow;
    assert.ok(closedAfterMs < 15_000, `dropped after ${closedAfterMs} ms`);
    assert.match(reply, /^HTTP\/1\.1 408 |^$/, 'answered 408 (or just closed)');
    assert.ok(served > 10, `others were served meanwhile (${served} pings)`);
    await assertUnchanged('the slow client');
  });

  it('answers 2,000 concurrent connections', async () => {
    const CONNECTIONS = 2_000;
    const answers = await Promise.all(
      Array.from(
        { length: CONNECTIONS },
        (_, index) =>
          new Promise<string>((resolve) => {
            const socket = net.connect(daemon.socketPath);
            let reply = '';
            const path = index % 2 === 0 ? '/_ping' : '/v1.41/networks/fz';
            socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
            socket.on('data', (data: Buffer) => {
              reply += data.toString();
            });
            socket.setTimeout(60_000, () => socket.destroy());
            socket.on('error', () => resolve(reply));
            socket.on('close', () => resolve(reply));
          }),
      ),
    );
    const failed = answers.filter((reply) => !reply.startsWith('HTTP/1.1 200 '));
    assert.equal(failed.length, 0, `${failed.length} of ${CONNECTIONS} not answered 200: ${failed.slice(0, 3).join(' | ')}`);
    await assertUnchanged('2,000 connections');
  });
});
