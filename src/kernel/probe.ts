/**
 * Sends the trace's one probe packet from a namespace: ICMP echo with the
 * host's ping, TCP or UDP with probe-sender.js (both run inside the
 * namespace through nsenter, or in the daemon's own for the host).
 */
import { fileURLToPath } from 'node:url';
import { run, runInNetns } from './exec.js';

export interface ProbePacket {
  protocol: 'icmp' | 'tcp' | 'udp';
  destination: string;
  /** TCP/UDP destination port. */
  port?: number;
  /** TCP/UDP source port: what the trace rule recognises the probe by. */
  sourcePort?: number;
  /** ICMP payload size: what the trace rule recognises an echo request by (ip length = size + 28). */
  payloadSize?: number;
}

export interface ProbeOutcome {
  outcome: 'answered' | 'refused' | 'timeout' | 'unreachable';
  detail: string;
}

export const PROBE_TIMEOUT_MS = 1000;
const senderPath = fileURLToPath(new URL('./probe-sender.js', import.meta.url));

function inNamespace(netnsPath: string | undefined, program: string, args: string[]) {
  // Twice the probe's own timeout: the program's start-up must not turn an answer into a failure.
  const options = { timeoutMs: PROBE_TIMEOUT_MS * 5 };
  return netnsPath === undefined ? run(program, args, options) : runInNetns(netnsPath, program, args, options);
}

async function ping(packet: ProbePacket, netnsPath: string | undefined): Promise<ProbeOutcome> {
  const args = ['-n', '-c', '1', '-W', String(PROBE_TIMEOUT_MS / 1000), '-s', String(packet.payloadSize ?? 56), packet.destination];
  try {
    await inNamespace(netnsPath, 'ping', args);
    return { outcome: 'answered', detail: 'echo reply received' };
  } catch (error) {
    // ping exits 1 when no reply came, 2 on a local error ("Network is unreachable").
    const exitCode = ((error as Error).cause as { code?: unknown } | undefined)?.code;
    if (exitCode === 1) return { outcome: 'timeout', detail: `no echo reply within ${PROBE_TIMEOUT_MS} ms` };
    const message = error instanceof Error ? error.message : String(error);
    return { outcome: 'unreachable', detail: message.slice(message.lastIndexOf(': ') + 2) };
  }
}

/** Sends one probe and says what came back; never throws for the network's answer, only for a sender that cannot run. */
export async function sendProbe(packet: ProbePacket, netnsPath?: string): Promise<ProbeOutcome> {
  if (packet.protocol === 'icmp') return ping(packet, netnsPath);
  const { stdout } = await inNamespace(netnsPath, process.execPath, [
    senderPath,
    packet.protocol,
    packet.destination,
    String(packet.port ?? 0),
    String(packet.sourcePort ?? 0),
    String(PROBE_TIMEOUT_MS),
  ]);
  return JSON.parse(stdout) as ProbeOutcome;
}
