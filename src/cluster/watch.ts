/**
 * Follows the cluster: one read of the root, then a watch from the revision
 * after it. When the watch is lost (etcd restarted or unreachable, history
 * compacted), the root is read again and the watch restarted after that read;
 * the view turns both into changes, so a consumer sees each change once.
 * etcd3's own watch reconnection is not used: it resumes from the revision of
 * its last response header, which can skip events still being caught up.
 */
import type { IWatchResponse, Watcher } from 'etcd3';
import type { SkiffError } from '../errors.js';
import type { EtcdConnection } from './etcd.js';
import type { KeyLayout } from './keys.js';
import { ClusterView, type ClusterChange, type WatchedEvent } from './view.js';

export interface WatchHandlers {
  /** Changes in the order etcd made them; called synchronously, so keep it quick or queue. */
  onChanges: (changes: ClusterChange[]) => void;
  /** The whole cluster was just read (at start and after every lost watch); called before that read's changes. */
  onResynced?: () => void;
  /** The watch was lost, a re-read failed, or a record could not be read; the watch carries on by itself. */
  onError: (error: SkiffError) => void;
}

const FIRST_RETRY_MS = 100;
const LAST_RETRY_MS = 1_000;
const STOP_WAIT_MS = 1_000;

export class ClusterWatch {
  readonly view: ClusterView;
  private watcher: Watcher | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = FIRST_RETRY_MS;
  private stopped = false;
  private resyncCount = 0;

  private constructor(
    private readonly connection: EtcdConnection,
    private readonly keys: KeyLayout,
    private readonly handlers: WatchHandlers,
  ) {
    this.view = new ClusterView(keys, handlers.onError);
  }

  /** Reads the cluster and starts following it; fails with the store's error if etcd cannot be reached. */
  static async start(connection: EtcdConnection, keys: KeyLayout, handlers: WatchHandlers): Promise<ClusterWatch> {
    const watch = new ClusterWatch(connection, keys, handlers);
    await watch.sync();
    return watch;
  }

  /** How many times the cluster was read again after a lost watch. */
  get resyncs(): number {
    return this.resyncCount;
  }

  /** 'live' while a watch is attached, 'resyncing' while the cluster is being read again. */
  get state(): 'live' | 'resyncing' {
    return this.watcher === undefined ? 'resyncing' : 'live';
  }

  private async sync(): Promise<void> {
    const read = await this.connection.readPrefix(this.keys.root, 'reading the cluster');
    if (this.stopped) return;
    const changes = this.view.resync(read.keys, read.revision);
    this.attach(read.revision + 1);
    this.handlers.onResynced?.();
    if (changes.length > 0) this.handlers.onChanges(changes);
  }

  private attach(fromRevision: number): void {
    const watcher = this.connection.watchFrom(this.keys.root, fromRevision);
    this.watcher = watcher;
    watcher.on('connected', () => {
      this.retryDelayMs = FIRST_RETRY_MS;
    });
    watcher.on('data', (response: IWatchResponse) => {
      if (this.watcher !== watcher) return;
      const events: WatchedEvent[] = response.events.map((event) => ({
        type: event.type === 'Put' ? 'put' : 'delete',
        key: event.kv.key.toString(),
        value: event.kv.value.toString(),
        modRevision: Number(event.kv.mod_revision),
      }));
      const changes = this.view.applyEvents(events);
      if (changes.length > 0) this.handlers.onChanges(changes);
    });
    watcher.on('disconnected', (error: Error) => this.lost(watcher, error));
    watcher.on('error', (error: Error) => this.lost(watcher, error));
  }

  private lost(watcher: Watcher, error: Error): void {
    if (this.watcher !== watcher || this.stopped) return;
    this.watcher = undefined;
    // Detached at once, so etcd3 does not resume it on its own.
    void watcher.cancel().catch(() => undefined);
    this.handlers.onError(this.connection.failure('watching the cluster', error));
    this.scheduleResync();
  }

  private scheduleResync(): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.resyncCount++;
      this.sync().catch((error: SkiffError) => {
        this.handlers.onError(error);
        this.retryDelayMs = Math.min(this.retryDelayMs * 2, LAST_RETRY_MS);
        if (!this.stopped) this.scheduleResync();
      });
    }, this.retryDelayMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher === undefined) return;
    // Cancelling waits for etcd's answer; an etcd that is gone will not give one.
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, STOP_WAIT_MS);
    });
    await Promise.race([watcher.cancel().catch(() => undefined), givenUp]);
    clearTimeout(timer);
  }
}
