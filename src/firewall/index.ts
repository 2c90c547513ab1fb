export type { FirewallNetwork, FirewallPort, FirewallState, PortProtocol } from './state.js';
export { DEFAULT_TABLE, checkTableName } from './state.js';
export { dnatElementOf, renderTable, renderNetworkAdded, renderNetworkRemoved, renderPortsAdded, renderPortsRemoved } from './render.js';
export { applyNft, deleteTable, listTable, hasElement, listChain } from './apply.js';
export {
  renderResolverRedirect,
  parseResolverRedirect,
  installResolverRedirect,
  readResolverRedirect,
  removeResolverRedirect,
  RESOLVER_ADDRESS,
  REDIRECT_TABLE,
  type RedirectPorts,
} from './resolver-redirect.js';
export { Firewall } from './firewall.js';
export { renderProbeTable, parseTraceLines, removeProbeTable, TraceMonitor, type ProbeMatch, type TraceEvent } from './trace.js';
export { settleBridgeNetfilter, planBridgeNetfilter, NF_CALL_IPTABLES, NF_CALL_IP6TABLES, type BridgeNetfilterState } from './bridge-netfilter.js';
