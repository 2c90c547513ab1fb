/**
 * The one writer of skiff's nftables table. It keeps what the table holds
 * (networks and published ports), so a whole-table render is always complete,
 * and changes the kernel only through element updates or one atomic
 * whole-table apply.
 */
import { applyNft } from './apply.js';
import { renderNetworkAdded, renderNetworkRemoved, renderPortsAdded, renderPortsRemoved, renderTable } from './render.js';
import { checkTableName, type FirewallNetwork, type FirewallPort, type FirewallState } from './state.js';

function portKey(port: FirewallPort): string {
  return `${port.protocol}/${port.hostIp}/${port.hostPort}`;
}

export class Firewall {
  private readonly networks = new Map<string, FirewallNetwork>();
  private readonly ports = new Map<string, FirewallPort>();

  constructor(readonly table: string) {
    checkTableName(table);
  }

  state(): FirewallState {
    return { networks: [...this.networks.values()], ports: [...this.ports.values()] };
  }

  /** Renders and applies the whole table from what it holds (daemon start, repairs). */
  async applyWhole(): Promise<void> {
    await applyNft(renderTable(this.state(), this.table));
  }

  /** Replaces the networks it holds (after a restart's reconcile) without touching the kernel; applyWhole follows. */
  resetNetworks(networks: readonly FirewallNetwork[]): void {
    this.networks.clear();
    for (const network of networks) this.networks.set(network.id, network);
  }

  async addNetwork(network: FirewallNetwork): Promise<void> {
    await applyNft(renderNetworkAdded(network, this.table));
    this.networks.set(network.id, network);
  }

  /** Idempotent: elements already gone are no error. */
  async removeNetwork(network: FirewallNetwork): Promise<void> {
    await applyNft(renderNetworkRemoved(network, this.table));
    this.networks.delete(network.id);
  }

  async addPorts(ports: readonly FirewallPort[]): Promise<void> {
    if (ports.length === 0) return;
    await applyNft(renderPortsAdded([...ports], this.table));
    for (const port of ports) this.ports.set(portKey(port), port);
  }

  /** Idempotent: elements already gone are no error. */
  async removePorts(ports: readonly FirewallPort[]): Promise<void> {
    if (ports.length === 0) return;
    await applyNft(renderPortsRemoved([...ports], this.table));
    for (const port of ports) this.ports.delete(portKey(port));
  }
}
