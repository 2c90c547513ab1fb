/**
 * The DNS redirect's nf_tables transactions against nft's, byte for byte:
 * each batch of test/fixtures/nftables/nft-batches.json (what nft 1.0.6
 * sent for resolver-redirect.ts's scripts, recorded by capture.sh beside
 * it) built by kernel/nftables/messages.ts and compared message by message
 * with nft's, but for the sequence numbers (the sender's) and NLM_F_ACK
 * (skiff asks for an acknowledgement of each change; nft asks for none).
 * Then the error messages a refused transaction reads as.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderResolverRedirect, resolverRedirectCommands, resolverRedirectRemoval, type RedirectPorts } from '../../src/firewall/resolver-redirect.js';
import { transaction } from '../../src/kernel/nftables/messages.js';
import { describeFailure } from '../../src/kernel/nftables/send.js';

interface Capture {
  transaction: 'install' | 'remove';
  ports?: RedirectPorts;
  script: string;
  messages: string[];
}

const captures = JSON.parse(readFileSync(fileURLToPath(new URL('../../../test/fixtures/nftables/nft-batches.json', import.meta.url)), 'utf8')) as Capture[];

const NLM_F_ACK = 0x4;

/** The message as nft would have sent it: sequence number 0, no acknowledgement asked for. */
function normalised(message: Uint8Array): string {
  const bytes = Buffer.from(message);
  bytes.writeUInt32LE(0, 8);
  bytes.writeUInt16LE(bytes.readUInt16LE(6) & ~NLM_F_ACK, 6);
  return bytes.toString('hex');
}

test('the fixture has the install for two port pairs and the remove', () => {
  assert.deepEqual(
    captures.map((capture) => capture.transaction),
    ['install', 'install', 'remove'],
  );
});

for (const capture of captures) {
  const what = capture.ports === undefined ? capture.transaction : `${capture.transaction} udp ${capture.ports.udp} tcp ${capture.ports.tcp}`;
  const commands = capture.ports === undefined ? resolverRedirectRemoval() : resolverRedirectCommands(capture.ports);

  test(`${what}: the nft script recorded is the commands' nft words`, () => {
    assert.equal(`${commands.map((command) => command.nft).join('\n')}\n`, capture.script);
    if (capture.ports !== undefined) assert.equal(renderResolverRedirect(capture.ports), capture.script);
  });

  test(`${what}: the same batch as nft, message by message`, () => {
    const messages = transaction(commands.map((command) => command.message));
    assert.deepEqual(
      messages.map(normalised),
      capture.messages.map((hex) => normalised(Buffer.from(hex, 'hex'))),
    );
    for (const message of messages.slice(1, -1)) assert.ok(Buffer.from(message).readUInt16LE(6) & NLM_F_ACK, 'every change asks for its acknowledgement');
    for (const message of messages) assert.equal(Buffer.from(message).readUInt32LE(0), message.length, 'nlmsg_len is the whole message');
  });
}

test("a refused transaction names the change in nft's words and the kernel's answer", () => {
  const commands = resolverRedirectCommands({ udp: 40001, tcp: 40002 });
  assert.equal(
    describeFailure({ index: 4, step: 'request', errno: 95, reason: 'Operation not supported', extack: 'no such hook' }, commands),
    'add chain ip skiff_dns resolver { type filter hook output priority raw; policy accept; }: Operation not supported (no such hook)',
  );
  assert.equal(
    describeFailure({ index: 0, step: 'request', errno: 105, reason: 'No buffer space available' }, commands),
    'the transaction: No buffer space available',
    'index 0 is the batch as a whole',
  );
  assert.equal(
    describeFailure({ index: -1, step: 'open', errno: 2, reason: 'No such file or directory' }, commands),
    'cannot open the netns: No such file or directory',
  );
});
