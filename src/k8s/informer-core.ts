// Type imports only: the speaker loads this without @kubernetes/client-node (src/k8s/lite/).
import type { Informer, KubernetesListObject, KubernetesObject, ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { describeError } from './api-errors.js';

export interface BackoffOptions {
  /** First delay after an error, ms. Default 250. */
  readonly initialMs?: number;
  /** Ceiling, ms. Default 30 000. */
  readonly maxMs?: number;
}

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** Short name for logs and metrics: "services", "ipaddresspools". */
  readonly name: string;
  /** Watch path, e.g. /api/v1/services or /apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  readonly onAdd?: (obj: T) => void;
  readonly onUpdate?: (obj: T) => void;
  readonly onDelete?: (obj: T) => void;
  /** After the first complete list has been delivered (once). */
  readonly onSynced?: () => void;
  /**
   * What the cache keeps of each listed or watched object (src/k8s/slim.ts): a smaller copy
   * with only the fields the caller reads. Default: the object as received.
   */
  readonly slim?: (obj: T) => T;
  /**
   * Builds the underlying informer from the (slimming, counting) list function: the lite
   * informer (src/k8s/lite/informer.ts), a fake in tests. Without it, ResilientInformer from
   * ./informer.ts builds client-node's.
   */
  readonly make?: (list: () => Promise<KubernetesListObject<T>>) => Informer<T> & ObjectCache<T>;
}

/**
 * client-node's informer (ListWatch) with what it lacks for a long-running process:
 * - it stops for good on an abrupt close, a non-410 error status or a failed list: this wrapper
 *   starts it again after an exponential back-off (reset once a list or event gets through);
 *   a 410 makes client-node relist by itself, and the relist reports what changed meanwhile as
 *   add/update/delete, so nothing is lost;
 * - it never says when the first list is complete: `synced` / `onSynced` do.
 * Errors are counted (`errors`) and logged at warn level, one line per failure.
 */
export class ResilientInformerCore<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private running = false;
  private isSynced = false;
  private delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private errorCount = 0;
  private restartCount = 0;
  private readonly syncedWaiters: (() => void)[] = [];
  private startedLists = 0;
  private appliedList = 0;

  constructor(
    private readonly opts: ResilientInformerOptions<T>,
    fallback?: (list: () => Promise<KubernetesListObject<T>>) => Informer<T> & ObjectCache<T>,
  ) {
    this.delayMs = opts.backoff?.initialMs ?? 250;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const seq = ++this.startedLists;
      const listed = await opts.list();
      const slim = opts.slim;
      const result = slim === undefined ? listed : { ...listed, items: listed.items.map(slim) };
      // ListWatch applies the list synchronously right after this promise settles.
      setImmediate(() => {
        this.appliedList = Math.max(this.appliedList, seq);
        this.onListApplied();
      });
      return result;
    };
    const make = opts.make ?? fallback;
    if (make === undefined) throw new TypeError('ResilientInformer needs a KubeConfig or a make() function');
    this.informer = make(list);
    this.informer.on('add', (o) => this.event(o, opts.onAdd));
    this.informer.on('update', (o) => this.event(o, opts.onUpdate));
    this.informer.on('delete', (o) => this.event(o, opts.onDelete));
    this.informer.on('error', (err: unknown) => this.failed(err));
  }

  get synced(): boolean {
    return this.isSynced;
  }

  /** Failures seen (list or watch), each followed by a restart. */
  get errors(): number {
    return this.errorCount;
  }

  get restarts(): number {
    return this.restartCount;
  }

  /**
   * Lists started so far (the first, and one per restart or 410 Gone). An object written
   * after `listsStarted` was N is in the cache, or gone, once `lastListApplied` exceeds N, even if
   * its watch event was lost in a restart.
   */
  get listsStarted(): number {
    return this.startedLists;
  }

  /** The number (1, 2, ...) of the latest list applied to the cache; 0 before the first. */
  get lastListApplied(): number {
    return this.appliedList;
  }

  /** Resolves once the first list is in the cache. */
  whenSynced(): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    return new Promise((resolve) => this.syncedWaiters.push(resolve));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.informer.stop();
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  private kick(): void {
    this.informer.start().catch((err: unknown) => this.failed(err));
  }

  private event(obj: T, cb: ((obj: T) => void) | undefined): void {
    if (!this.running) return;
    this.delayMs = this.opts.backoff?.initialMs ?? 250;
    try {
      cb?.(obj);
    } catch (err) {
      this.opts.log.error({ informer: this.opts.name, reason: err instanceof Error ? err.message : String(err) }, 'informer callback failed');
    }
  }

  private onListApplied(): void {
    if (!this.running) return;
    this.delayMs = this.opts.backoff?.initialMs ?? 250;
    if (this.isSynced) return;
    this.isSynced = true;
    this.opts.log.debug({ informer: this.opts.name, objects: this.informer.list().length }, 'initial list synced');
    for (const w of this.syncedWaiters.splice(0)) w();
    this.opts.onSynced?.();
  }

  private failed(err: unknown): void {
    // Stopping aborts the watch, which client-node reports as an error: not a failure.
    if (!this.running || this.timer) return;
    this.errorCount++;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.opts.backoff?.maxMs ?? 30_000);
    this.opts.log.warn({ informer: this.opts.name, reason: describeError(err), retryInMs: delay }, 'watch failed; restarting');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.running) return;
      this.restartCount++;
      this.kick();
    }, delay);
  }
}
