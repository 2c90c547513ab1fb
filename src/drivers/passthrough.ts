/**
 * The `host` and `null` drivers: nothing in the kernel. A sandbox on `host`
 * is the daemon's own namespace; one on `none` has only its loopback.
 */
import type { NetworkDriver } from './driver.js';

export class PassthroughDriver implements NetworkDriver {
  readonly routesOutside = false;
  async createNetwork(): Promise<void> {}
  async deleteNetwork(): Promise<void> {}
  async join(): Promise<void> {}
  async leave(): Promise<void> {}
  async setDefaultRoute(): Promise<void> {}
  async restoreNetwork(): Promise<void> {}
  ownedLinks(): string[] {
    return [];
  }
  endpointIntact(): Promise<boolean> {
    return Promise.resolve(true);
  }
}
