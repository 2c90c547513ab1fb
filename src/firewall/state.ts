/**
 * What the firewall needs to know about the engine's state: skiff's bridge
 * networks and the ports published on them. The engine builds this from its
 * store; render.ts turns it into nftables text.
 */
import { invalid } from '../errors.js';

export interface FirewallNetwork {
  id: string;
  /** The network's bridge, e.g. 'br-0123456789ab' or 'skiff0'. */
  bridgeName: string;
  /** Canonical CIDRs. */
  subnets4: string[];
  subnets6: string[];
  /** Inter-container communication on the bridge (com.docker.network.bridge.enable_icc). */
  icc: boolean;
  /** `--internal`: nothing is forwarded from or to the bridge beyond the bridge itself. */
  internal: boolean;
  /** Outbound NAT (com.docker.network.bridge.enable_ip_masquerade). */
  masquerade: boolean;
}

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/** One published port (docker run -p). */
export interface FirewallPort {
  protocol: PortProtocol;
  /** The host address the port is bound to; '0.0.0.0' (or '::') means any local address. */
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
  /** The bridge the container's endpoint is on. */
  bridgeName: string;
}

export interface FirewallState {
  networks: FirewallNetwork[];
  ports: FirewallPort[];
}

/** The table skiff keeps all its firewall state in, unless told otherwise. */
export const DEFAULT_TABLE = 'skiff';

/** The table name, checked to be a plain nft identifier (it is spliced into script text). */
export function checkTableName(table: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(table)) throw invalid(`invalid nftables table name "${table}"`);
  return table;
}
