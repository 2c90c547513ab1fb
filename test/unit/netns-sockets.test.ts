/**
 * The native addon's answers to what it is asked: sockets made in a
 * namespace (here this process's own, by its /proc path) come back open,
 * close-on-exec and bound as asked; a namespace that is not there, or a spec
 * that is not one, is an error that names what went wrong and leaves nothing open.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, readdirSync, readFileSync } from 'node:fs';
import { openSocketsInNetns, type SocketSpec } from '../../src/kernel/netns-sockets.js';

const openFds = () => readdirSync('/proc/self/fd').length;

it('makes the sockets asked for, bound where asked, close-on-exec', () => {
  const [udp, tcp, unbound] = openSocketsInNetns('/proc/self/ns/net', [
    { type: 'udp', family: 4, address: '127.0.0.1' },
    { type: 'tcp', family: 4, address: '127.0.0.1', listen: true },
    { type: 'udp', family: 4 },
  ]);
  try {
    assert.ok(udp!.port > 0 && tcp!.port > 0, 'the kernel chose the ports');
    assert.equal(unbound!.port, 0);
    for (const { fd } of [udp!, tcp!, unbound!]) {
      const flags = /^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!;
      assert.ok((parseInt(flags, 8) & 0o2000000) !== 0, `fd ${fd} is close-on-exec`);
    }
  } finally {
    for (const socket of [udp, tcp, unbound]) if (socket !== undefined) closeSync(socket.fd);
  }
});

it('names the namespace and the step when it fails, and leaves nothing open', () => {
  const before = openFds();
  assert.throws(
    () => openSocketsInNetns('/nonexistent/netns', [{ type: 'udp', family: 4 }]),
    /failed to open sockets in netns "\/nonexistent\/netns": open: No such file/,
  );
  assert.throws(
    () =>
      openSocketsInNetns('/proc/self/ns/net', [
        { type: 'udp', family: 4, address: '127.0.0.1' },
        { type: 'udp', family: 4, address: 'not-an-address' },
      ]),
    /failed to open sockets in netns "\/proc\/self\/ns\/net": parse address/,
  );
  assert.throws(() => openSocketsInNetns('/proc/self/ns/net', [{ type: 'sctp', family: 4 } as unknown as SocketSpec]), /a socket spec is/);
  assert.equal(openFds(), before);
});
