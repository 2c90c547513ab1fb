/**
 * Whether frames a bridge forwards between its own ports go through the IP
 * firewall hooks (br_netfilter). skiff needs it for none of its bridges:
 * ICC off is the ports' isolation (drivers/bridge.ts), isolation between
 * networks and published ports are routed, so the inet table sees them
 * anyway. With it on, every bridged packet pays conntrack and the inet
 * hooks (~7% CPU per GB between two containers, bench/README.md).
 *
 * The switch is namespace-wide (net.bridge.bridge-nf-call-iptables and
 * -ip6tables; each bridge's own nf_call_iptables can only add to it), and in
 * production the namespace is the host's, shared with other software's
 * bridges. So by default skiff turns the namespace's switches off and first
 * turns the per-bridge ones on for every bridge that is not skiff's: those
 * keep what they had. `--bridge-nf-call-iptables` keeps dockerd's way
 * (namespace-wide on). A bridge someone makes later gets the namespace's
 * value, off: the daemon's log says so at start.
 */
import { listLinks, SKIFF_LINK_ALIAS } from '../kernel/links.js';
import { linkSetBridge, type RtnetlinkRequest } from '../kernel/rtnetlink/messages.js';
import { sendRequests } from '../kernel/rtnetlink/send.js';
import { readSysctl, setSysctl } from '../kernel/sysctl.js';

export const NF_CALL_IPTABLES = 'net.bridge.bridge-nf-call-iptables';
export const NF_CALL_IP6TABLES = 'net.bridge.bridge-nf-call-ip6tables';
type NfCallKey = typeof NF_CALL_IPTABLES | typeof NF_CALL_IP6TABLES;

export interface BridgeNetfilterState {
  /** The namespace's switches; undefined when br_netfilter is not loaded (no such sysctl: bridged frames meet no IP hook). */
  iptables?: boolean;
  ip6tables?: boolean;
  /** Bridges in the namespace that skiff did not make. */
  foreignBridges: string[];
}

export interface BridgeNetfilterPlan {
  /** Per-bridge switches turned on before the namespace's go off. */
  pin: Array<{ bridge: string; nfCallIptables?: true; nfCallIp6tables?: true }>;
  sysctls: Array<{ key: NfCallKey; value: '0' | '1' }>;
  /** One line for the daemon's log. */
  summary: string;
}

/** What to change, from what the namespace holds (pure). keepOn: dockerd's way, the namespace's switches on. */
export function planBridgeNetfilter(state: BridgeNetfilterState, keepOn: boolean): BridgeNetfilterPlan {
  const present = ([NF_CALL_IPTABLES, NF_CALL_IP6TABLES] as const).filter((key) => valueOf(state, key) !== undefined);
  if (present.length === 0) {
    return { pin: [], sysctls: [], summary: 'br_netfilter is not loaded: frames bridged within a network meet no firewall hook' };
  }
  if (keepOn) {
    return {
      pin: [],
      sysctls: present.filter((key) => valueOf(state, key) !== true).map((key) => ({ key, value: '1' })),
      summary: `${present.join(' and ')} on (--bridge-nf-call-iptables): frames bridged within a network pass the firewall, as with dockerd`,
    };
  }
  const on = present.filter((key) => valueOf(state, key) === true);
  const pin = on.length === 0 ? [] : state.foreignBridges.map((bridge) => ({ bridge, ...pinned(on) }));
  const kept = pin.length === 0 ? '' : `; kept on for the bridges skiff did not make (${state.foreignBridges.join(', ')})`;
  return {
    pin,
    sysctls: on.map((key) => ({ key, value: '0' })),
    summary: `${present.join(' and ')} off: frames bridged within a network skip the firewall (ICC off isolates the ports)${kept}; a bridge made later by other software gets them off too (--bridge-nf-call-iptables keeps them on)`,
  };
}

function valueOf(state: BridgeNetfilterState, key: NfCallKey): boolean | undefined {
  return key === NF_CALL_IPTABLES ? state.iptables : state.ip6tables;
}

function pinned(on: readonly NfCallKey[]): { nfCallIptables?: true; nfCallIp6tables?: true } {
  return { ...(on.includes(NF_CALL_IPTABLES) ? { nfCallIptables: true } : {}), ...(on.includes(NF_CALL_IP6TABLES) ? { nfCallIp6tables: true } : {}) };
}

/** The namespace's switches, and the bridges that are not skiff's when they matter (a switch is on and skiff will turn it off). */
export async function readBridgeNetfilter(keepOn: boolean): Promise<BridgeNetfilterState> {
  const flag = async (key: NfCallKey) => {
    const value = await readSysctl(key);
    return value === undefined ? undefined : value === '1';
  };
  const iptables = await flag(NF_CALL_IPTABLES);
  const ip6tables = await flag(NF_CALL_IP6TABLES);
  if (keepOn || (iptables !== true && ip6tables !== true)) return { iptables, ip6tables, foreignBridges: [] };
  const links = await listLinks();
  return {
    iptables,
    ip6tables,
    foreignBridges: links.filter((link) => link.kind === 'bridge' && link.alias !== SKIFF_LINK_ALIAS).map((link) => link.ifname),
  };
}

/** Carries the plan out: the other bridges' own switches first, so none of them is ever without its firewall. */
export async function applyBridgeNetfilter(plan: BridgeNetfilterPlan): Promise<void> {
  const requests: RtnetlinkRequest[] = plan.pin.map(({ bridge, ...change }) => linkSetBridge(bridge, change));
  if (requests.length > 0) await sendRequests(requests);
  for (const { key, value } of plan.sysctls) await setSysctl(key, value);
}

/** Reads, plans and applies; returns the line to log. */
export async function settleBridgeNetfilter(keepOn: boolean): Promise<string> {
  const plan = planBridgeNetfilter(await readBridgeNetfilter(keepOn), keepOn);
  await applyBridgeNetfilter(plan);
  return plan.summary;
}
