/**
 * The in-daemon relay of IPv6 host bindings (ports/proxy.ts) against real
 * sockets in the test's world: bytes both ways, a half-close passed on, a
 * failure kept to its own connection (an upstream that refuses, a client
 * that resets), close() ending the listener and every open connection, and
 * UDP flows answered to the right client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { assertInWorld } from '../helpers/world.js';
import { listenTcpRelay, listenUdpRelay } from '../../src/ports/proxy.js';

assertInWorld();

/** A TCP server on 127.0.0.1 that answers "got:" and what it read once the client half-closes. */
async function echoAfterEnd(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => socket.end(`got:${text}`));
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

async function exchange(port: number, text: string): Promise<string> {
  const client = connect({ host: '::1', port, allowHalfOpen: true });
  let answer = '';
  client.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  await once(client, 'connect');
  client.end(text);
  await once(client, 'close');
  return answer;
}

test("TCP: a half-close is passed on, so the answer that follows the client's FIN comes back", async () => {
  const upstream = await echoAfterEnd();
  const relay = await listenTcpRelay('::1', 18080, { address: '127.0.0.1', port: upstream.port });
  try {
    assert.equal(await exchange(18080, 'hello'), 'got:hello');
    assert.equal(await exchange(18080, 'again'), 'got:again');
  } finally {
    relay.close();
    upstream.server.close();
  }
});

test('TCP: an upstream that refuses closes only that client; the listener goes on serving', async () => {
  const refused = createServer();
  refused.listen(0, '127.0.0.1');
  await once(refused, 'listening');
  const deadPort = (refused.address() as AddressInfo).port;
  refused.close();
  const relay = await listenTcpRelay('::1', 18081, { address: '127.0.0.1', port: deadPort });
  try {
    const client = connect({ host: '::1', port: 18081 });
    client.on('error', () => undefined);
    await once(client, 'close');
    assert.equal(client.bytesRead, 0, 'the client is closed without an answer');
    // The same listener, now with a live upstream on that port.
    const upstream = createServer({ allowHalfOpen: true }, (socket) => socket.on('end', () => socket.end('alive')).resume());
    upstream.listen(deadPort, '127.0.0.1');
    await once(upstream, 'listening');
    assert.equal(await exchange(18081, 'x'), 'alive');
    upstream.close();
  } finally {
    relay.close();
  }
});

test('TCP: a client reset closes its upstream connection; close() ends the listener and every open pair', async () => {
  const upstream = await echoAfterEnd();
  const relay = await listenTcpRelay('::1', 18082, { address: '127.0.0.1', port: upstream.port });
  const resetting = connect({ host: '::1', port: 18082 });
  await once(resetting, 'connect');
  while (upstream.sockets.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
  resetting.resetAndDestroy();
  await once(upstream.sockets[0]!, 'close');

  const open = connect({ host: '::1', port: 18082 });
  open.on('error', () => undefined);
  await once(open, 'connect');
  while (upstream.sockets.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  relay.close();
  await Promise.all([once(open, 'close'), once(upstream.sockets[1]!, 'close')]);
  const after = connect({ host: '::1', port: 18082 });
  const [error] = (await once(after, 'error')) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'ECONNREFUSED', 'nothing listens any more');
  upstream.server.close();
});

test('UDP: each client gets its own answers through the relay', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (message, from) => echo.send(`echo:${message.toString()}`, from.port, from.address));
  echo.bind(0, '127.0.0.1');
  await once(echo, 'listening');
  const relay = await listenUdpRelay('::1', 18083, { address: '127.0.0.1', port: echo.address().port });
  try {
    const ask = async (text: string) => {
      const client = createSocket('udp6');
      const answer = once(client, 'message');
      client.send(text, 18083, '::1');
      const [message] = (await answer) as [Buffer];
      client.close();
      return message.toString();
    };
    assert.deepEqual(await Promise.all([ask('one'), ask('two'), ask('three')]), ['echo:one', 'echo:two', 'echo:three']);
  } finally {
    relay.close();
    echo.close();
  }
});
