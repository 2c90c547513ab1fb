export type { FirewallNetwork, FirewallPort, FirewallState, PortProtocol } from './state.js';
export { DEFAULT_TABLE, checkTableName } from './state.js';
export { renderTable, renderNetworkAdded, renderNetworkRemoved, renderPortsAdded, renderPortsRemoved } from './render.js';
export { applyNft, deleteTable, listTable } from './apply.js';
