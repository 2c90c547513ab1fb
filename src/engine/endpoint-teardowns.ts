/**
 * Endpoints whose links are being deleted after the API answered. Deleting a
 * veth takes the kernel ~25 ms (it waits for RCU grace periods), most of a
 * disconnect; the endpoint is cut off first (its host end down and off the
 * bridge, or its whole namespace gone), so the answer need not wait for it.
 *
 * Until its link is gone an endpoint keeps its store record ('removing') and
 * its addresses: a daemon killed meanwhile finishes the delete at restart
 * (reconcile drops 'removing' endpoints), and no address is handed out again
 * while a link still carries it. Whoever needs the links gone first (a
 * network's removal, a join that found no free address, the daemon's stop)
 * waits for them here.
 */
import type { Endpoint } from '../model/network.js';

interface Teardown {
  endpoint: Endpoint;
  done: Promise<void>;
}

export class EndpointTeardowns {
  private readonly pending = new Map<string, Teardown>();

  constructor(private readonly log: (message: string) => void) {}

  /**
   * Runs deleteLinks after the current turn of the event loop (the answer is
   * written first), then release. A failed delete is logged and the endpoint
   * keeps its record and addresses: the next restart deletes it.
   */
  start(endpoint: Endpoint, deleteLinks: () => Promise<void>, release: () => void | Promise<void>): void {
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(deleteLinks)
      .then(release)
      .catch((error: unknown) => this.log(`deleting the links of endpoint ${endpoint.id} failed (kept until the next restart): ${String(error)}`))
      .finally(() => this.pending.delete(endpoint.id));
    this.pending.set(endpoint.id, { endpoint, done });
  }

  /** Endpoints still being torn down that match. */
  matching(predicate: (endpoint: Endpoint) => boolean): Endpoint[] {
    return [...this.pending.values()].map((teardown) => teardown.endpoint).filter(predicate);
  }

  /** Waits until every teardown that matches has finished (or failed). */
  async settled(predicate: (endpoint: Endpoint) => boolean = () => true): Promise<void> {
    await Promise.all([...this.pending.values()].filter((teardown) => predicate(teardown.endpoint)).map((teardown) => teardown.done));
  }
}
