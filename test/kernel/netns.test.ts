/**
 * Namespaces bound to files by skiff's addon against the real kernel: the
 * file is a namespace of its own, its ignore_routes_with_linkdown set inside
 * it and not in the daemon’s, IPv6 off inside until an interface is given
 * it, lo up when asked; removing it leaves nothing;
 * a failure, before or midway, leaves no file of skiff's and no mount; and
 * no thread of this process but the addon's own ever changed namespace.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createNetnsFile, isMountPoint, removeNetnsFile, setInterfaceIpv6 } from '../../src/kernel/netns.js';
import { assertInWorld, leftovers, scratchDir, sh } from '../helpers/world.js';

assertInWorld();

const IGNORE_ROUTES_WITH_LINKDOWN = '/proc/sys/net/ipv4/conf/all/ignore_routes_with_linkdown';

let dir: { path: string; remove: () => void };
let worldSetting: string;

before(() => {
  dir = scratchDir('skiff-netns-');
  worldSetting = readFileSync(IGNORE_ROUTES_WITH_LINKDOWN, 'utf8').trim();
});

after(() => dir.remove());

const at = (name: string) => join(dir.path, name);

/** What a program in the namespace bound at path sees. */
const inNetns = (path: string, program: string, args: string[]) => sh('nsenter', [`--net=${path}`, '--', program, ...args]);

async function loFlags(path: string): Promise<string[]> {
  const links = JSON.parse(await inNetns(path, 'ip', ['-json', 'link', 'show'])) as Array<{ ifname: string; flags: string[] }>;
  assert.deepEqual(
    links.map((link) => link.ifname),
    ['lo'],
    'a new namespace holds lo alone',
  );
  return links[0]!.flags;
}

/** The namespaces of this process's threads but the addon's namespace makers (each exits once its namespace is bound). */
function nodeThreadNamespaces(): Set<string> {
  const namespaces = new Set<string>();
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() !== 'skiff-newnetns') namespaces.add(readlinkSync(`/proc/self/task/${task}/ns/net`));
    } catch {
      // a thread that exited meanwhile
    }
  }
  return namespaces;
}

test('a namespace of its own, its sysctl set inside and not in the daemon’s, lo up', async () => {
  const path = at('up');
  await createNetnsFile(path);
  assert.equal(isMountPoint(path), true, 'the namespace is bound onto the file');
  const world = readlinkSync('/proc/self/ns/net');
  const bound = (await inNetns(path, 'readlink', ['/proc/self/ns/net'])).trim();
  assert.notEqual(bound, world);
  assert.equal(bound, `net:[${statSync(path).ino}]`, 'the file is the namespace');
  assert.equal((await inNetns(path, 'cat', [IGNORE_ROUTES_WITH_LINKDOWN])).trim(), '1');
  assert.equal(readFileSync(IGNORE_ROUTES_WITH_LINKDOWN, 'utf8').trim(), worldSetting, 'the daemon’s own namespace untouched');
  assert.equal(worldSetting, '0', 'a world starts at the kernel default, so the check above means something');
  assert.ok((await loFlags(path)).includes('UP'), 'lo is up');
  await removeNetnsFile(path);
  assert.equal(existsSync(path), false);
  assert.deepEqual(await leftovers(dir.path), []);
  await removeNetnsFile(path); // already gone: success
});

test('lo stays down when the caller brings it up later', async () => {
  const path = at('down');
  await createNetnsFile(path, { loopbackUp: false });
  assert.equal((await inNetns(path, 'cat', [IGNORE_ROUTES_WITH_LINKDOWN])).trim(), '1');
  assert.ok(!(await loFlags(path)).includes('UP'), 'lo is down');
  await removeNetnsFile(path);
  assert.deepEqual(await leftovers(dir.path), []);
});

test('many at once: each its own namespace, and Node’s threads stay in the daemon’s', async () => {
  const world = readlinkSync('/proc/self/ns/net');
  const paths = Array.from({ length: 12 }, (_, index) => at(`many-${index}`));
  await Promise.all(paths.map((path) => createNetnsFile(path)));
  const inodes = new Set(paths.map((path) => statSync(path).ino));
  assert.equal(inodes.size, paths.length, 'twelve distinct namespaces');
  assert.deepEqual([...nodeThreadNamespaces()], [world]);
  await Promise.all(paths.map((path) => removeNetnsFile(path)));
  assert.deepEqual(await leftovers(dir.path), []);
  assert.deepEqual(readdirSync(dir.path), []);
});

test('an existing file is an error and is left as it was, unbound', async () => {
  const path = at('taken');
  writeFileSync(path, 'someone else’s');
  await assert.rejects(createNetnsFile(path), /EEXIST/);
  assert.equal(readFileSync(path, 'utf8'), 'someone else’s');
  assert.equal(isMountPoint(path), false);
  assert.deepEqual(await leftovers(dir.path), []);
});

test('a failure midway (the sysctl refused) names the namespace and the step, and leaves no file and no mount', async () => {
  const path = at('refused');
  // A read-only /proc/sys, as in a container: the write inside the new namespace is refused.
  await sh('mount', ['--bind', '/proc/sys', '/proc/sys']);
  try {
    await sh('mount', ['-o', 'remount,bind,ro', '/proc/sys']);
    await assert.rejects(createNetnsFile(path), {
      message: `failed to create netns "${path}": open ${IGNORE_ROUTES_WITH_LINKDOWN}: Read-only file system`,
    });
  } finally {
    await sh('umount', ['/proc/sys']);
  }
  assert.equal(existsSync(path), false);
  assert.deepEqual(await leftovers(dir.path), []);
});

const disableIpv6 = (name: string) => `/proc/sys/net/ipv6/conf/${name}/disable_ipv6`;

test('IPv6 starts off inside (all, default, lo), the daemon’s own untouched; setInterfaceIpv6 turns it on and off for one interface', async () => {
  const path = at('six');
  const worldDefault = readFileSync(disableIpv6('default'), 'utf8').trim();
  await createNetnsFile(path);
  const inside = async (name: string) => (await inNetns(path, 'cat', [disableIpv6(name)])).trim();
  assert.deepEqual([await inside('all'), await inside('default'), await inside('lo')], ['1', '1', '1']);
  assert.equal(readFileSync(disableIpv6('default'), 'utf8').trim(), worldDefault);
  assert.equal(worldDefault, '0', 'a world starts at the kernel default, so the check above means something');
  // An interface made in it later inherits default: no IPv6, so no link-local address.
  await inNetns(path, 'ip', ['link', 'add', 'six0', 'type', 'veth', 'peer', 'name', 'peer6']);
  for (const name of ['six0', 'peer6']) await inNetns(path, 'ip', ['link', 'set', name, 'up']);
  assert.equal(await inside('six0'), '1');
  assert.equal((await inNetns(path, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'six0'])).trim(), '');
  await setInterfaceIpv6(path, 'six0', true);
  await setInterfaceIpv6(path, 'lo', true);
  assert.deepEqual([await inside('six0'), await inside('lo'), await inside('all')], ['0', '0', '1']);
  assert.match(await inNetns(path, 'ip', ['-6', '-o', 'addr', 'show', 'dev', 'lo']), /::1\/128/);
  await setInterfaceIpv6(path, 'lo', false);
  assert.equal(await inside('lo'), '1');
  assert.deepEqual([...nodeThreadNamespaces()], [readlinkSync('/proc/self/ns/net')], 'Node’s threads stayed in the daemon’s namespace');
  await assert.rejects(setInterfaceIpv6(path, 'nosuch0', true), {
    message: `failed to turn IPv6 on for nosuch0 in netns "${path}": open /proc/sys/net/ipv6/conf/nosuch0/disable_ipv6: No such file or directory`,
  });
  await assert.rejects(
    setInterfaceIpv6(at('missing'), 'lo', true),
    /failed to turn IPv6 on for lo in netns ".*missing": open namespace: No such file or directory/,
  );
  await removeNetnsFile(path);
  assert.deepEqual(await leftovers(dir.path), []);
});
