/**
 * nf_tables transactions (messages.ts) carried out by skiff's native addon
 * (native/nfnetlink.c) on a NETLINK_NETFILTER socket in the namespace bound
 * at a file: what `nsenter --net=PATH nft -f -` did, without starting two
 * programs and libnftables (~18 ms). The batch is applied whole or not at all.
 */
import { loadAddon, type AddonBatchOutcome } from '../addon.js';
import { transaction, type NftablesMessage } from './messages.js';

/** One change of a transaction: its message, and what it does in nft's words for error messages ("add table ip skiff_dns"). */
export interface NftablesCommand {
  message: NftablesMessage;
  nft: string;
}

/**
 * Applies the commands as one transaction in the namespace bound at
 * netnsPath; a refusal throws an Error naming the command (in nft's words)
 * and the kernel's answer: `add chain ip skiff_dns resolver …: Operation not permitted`.
 */
export async function sendTransaction(netnsPath: string, commands: readonly NftablesCommand[]): Promise<void> {
  const messages = transaction(commands.map((command) => command.message));
  const { failure } = await loadAddon().sendNftables(
    netnsPath,
    messages.map((bytes) => ({ bytes, links: [] })),
  );
  if (failure !== undefined) throw new Error(describeFailure(failure, commands));
}

/** The message for a refused transaction: the command refused (index 0 is the batch's start: the transaction as a whole), then the kernel's words. */
export function describeFailure(failure: NonNullable<AddonBatchOutcome['failure']>, commands: readonly NftablesCommand[]): string {
  const kernel = failure.extack === undefined ? '' : ` (${failure.extack})`;
  switch (failure.step) {
    case 'request': {
      const command = commands[failure.index - 1]?.nft ?? 'the transaction';
      return `${command}: ${failure.reason}${kernel}`;
    }
    case 'open':
      return `cannot open the netns: ${failure.reason}`;
    case 'setns':
      return `cannot enter the netns: ${failure.reason}`;
    default:
      return `cannot make a netfilter socket: ${failure.reason}`;
  }
}
