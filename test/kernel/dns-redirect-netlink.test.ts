/**
 * The DNS redirect written by skiff's own nf_tables messages against the
 * real kernel: `nft list` shows exactly what the nft script it replaced
 * made (installed, re-pointed, removed), parseResolverRedirect reads the
 * same ports back, a namespace that vanished is a clear error, and a query
 * sent to 127.0.0.11:53 inside the namespace reaches a socket on the
 * resolver's port and its answer comes back from :53.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, leftovers, makeNetns, scratchDir, type NetnsHandle } from '../helpers/world.js';
import {
  installResolverRedirect,
  parseResolverRedirect,
  readResolverRedirect,
  removeResolverRedirect,
  renderResolverRedirect,
} from '../../src/firewall/resolver-redirect.js';
import { openSocketsInNetns } from '../../src/kernel/netns-sockets.js';

assertInWorld();

let dir: { path: string; remove: () => void };
/** Written by `nft -f` as before (the reference), and by skiff's messages. */
let byNft: NetnsHandle;
let byNetlink: NetnsHandle;

const listing = (netns: NetnsHandle) => netns.exec('nft', ['list', 'table', 'ip', 'skiff_dns']);

before(async () => {
  dir = scratchDir();
  byNft = await makeNetns(dir.path, 'nft');
  byNetlink = await makeNetns(dir.path, 'netlink');
});

after(async () => {
  await byNft.remove();
  await byNetlink.remove();
  dir.remove();
  assert.deepEqual(await leftovers(dir.path), []);
});

test('installed and re-pointed, the table lists exactly as the nft script made it, and reads back the same ports', async () => {
  for (const ports of [
    { udp: 40001, tcp: 40002 },
    { udp: 1024, tcp: 65535 },
  ]) {
    await byNft.exec('nft', ['-f', writeScript(renderResolverRedirect(ports))]);
    await installResolverRedirect(byNetlink.path, ports);
    const written = await listing(byNetlink);
    assert.equal(written, await listing(byNft));
    assert.deepEqual(parseResolverRedirect(written), ports);
    assert.deepEqual(await readResolverRedirect(byNetlink.path), ports);
  }
});

test('removed, the table stays empty as the nft script left it; removing again, or where there never was one, is no error', async () => {
  await byNft.exec('nft', ['-f', writeScript('add table ip skiff_dns\nflush table ip skiff_dns\n')]);
  await removeResolverRedirect(byNetlink.path);
  assert.equal(await listing(byNetlink), await listing(byNft));
  assert.equal(await readResolverRedirect(byNetlink.path), undefined);
  await removeResolverRedirect(byNetlink.path);
  const fresh = await makeNetns(dir.path, 'fresh');
  try {
    await removeResolverRedirect(fresh.path);
    assert.match(await listing(fresh), /table ip skiff_dns/);
  } finally {
    await fresh.remove();
  }
});

test('a namespace that vanished, or a file that is none, is an error naming it and what failed', async () => {
  const gone = join(dir.path, 'ns-gone');
  await assert.rejects(installResolverRedirect(gone, { udp: 40001, tcp: 40002 }), {
    message: `failed to set up the DNS redirect in netns "${gone}": cannot open the netns: No such file or directory`,
  });
  const notNetns = join(dir.path, 'not-a-netns');
  writeFileSync(notNetns, '');
  await assert.rejects(removeResolverRedirect(notNetns), {
    message: `failed to remove the DNS redirect in netns "${notNetns}": cannot enter the netns: Invalid argument`,
  });
});

test("a query to 127.0.0.11:53 reaches the resolver's port, and its answer comes back from :53", async () => {
  const [resolverSocket, asker] = openSocketsInNetns(byNetlink.path, [
    { type: 'udp', family: 4, address: '127.0.0.11', port: 0 },
    { type: 'udp', family: 4, address: '127.0.0.1', port: 0 },
  ]);
  const resolver = dgram.createSocket('udp4');
  const client = dgram.createSocket('udp4');
  try {
    resolver.bind({ fd: resolverSocket!.fd });
    client.bind({ fd: asker!.fd });
    await installResolverRedirect(byNetlink.path, { udp: resolverSocket!.port, tcp: 40002 });
    resolver.on('message', (query, from) => resolver.send(Buffer.concat([Buffer.from('answer to '), query]), from.port, from.address));
    client.send('query', 53, '127.0.0.11');
    const [answer, from] = (await once(client, 'message')) as [Buffer, dgram.RemoteInfo];
    assert.equal(answer.toString(), 'answer to query');
    assert.deepEqual({ address: from.address, port: from.port }, { address: '127.0.0.11', port: 53 });
  } finally {
    resolver.close();
    client.close();
  }
});

let scripts = 0;
/** The script in a file of its own, for `nft -f`. */
function writeScript(text: string): string {
  const path = join(dir.path, `redirect-${++scripts}.nft`);
  writeFileSync(path, text);
  return path;
}
