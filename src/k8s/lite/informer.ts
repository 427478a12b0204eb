/**
 * A list-and-watch cache over LiteClient with the behaviour of client-node's ListWatch, which
 * ResilientInformer (src/k8s/informer-core.ts) wraps with restarts and `synced`: list, then
 * watch from the list's resourceVersion (with bookmarks); a 410 Gone (status or ERROR event)
 * relists and reports what changed meanwhile as add/update/delete; a watch the server ends is
 * resumed from the last resourceVersion seen; any other failure is reported as `error` and the
 * informer stops (the wrapper restarts it). Objects may be slimmed (src/k8s/slim.ts) as they
 * arrive.
 */
import type { Informer, KubernetesListObject, KubernetesObject, ObjectCache, ObjectCallback } from '@kubernetes/client-node';
import type { ResilientInformerOptions } from '../informer-core.js';
import type { LiteClient, WatchHandle } from './client.js';

type Verb = 'add' | 'update' | 'delete' | 'change' | 'error' | 'connect';
type AnyCallback = (arg: never) => void;

export interface LiteInformerOptions<T extends KubernetesObject> {
  readonly labelSelector?: string | undefined;
  readonly slim?: ((obj: T) => T) | undefined;
  /** Server-side end of each watch, seconds. Default: random in [300, 600), as client-go. */
  readonly watchTimeoutSeconds?: number;
}

export class LiteInformer<T extends KubernetesObject> implements Informer<T>, ObjectCache<T> {
  private objects = new Map<string, Map<string, T>>();
  private resourceVersion = '';
  private stopped = true;
  private request: WatchHandle | undefined;
  private readonly callbacks: Record<'add' | 'update' | 'delete' | 'error' | 'connect', AnyCallback[]> = { add: [], update: [], delete: [], error: [], connect: [] };

  constructor(
    private readonly client: LiteClient,
    private readonly path: string,
    private readonly listFn: () => Promise<KubernetesListObject<T>>,
    private readonly opts: LiteInformerOptions<T> = {},
  ) {}

  on(verb: 'add' | 'update' | 'delete' | 'change', cb: ObjectCallback<T>): void;
  on(verb: 'error' | 'connect', cb: (err?: unknown) => void): void;
  on(verb: Verb, cb: AnyCallback): void {
    if (verb === 'change') {
      for (const v of ['add', 'update', 'delete'] as const) this.callbacks[v].push(cb);
      return;
    }
    this.callbacks[verb].push(cb);
  }

  off(verb: 'add' | 'update' | 'delete' | 'change', cb: ObjectCallback<T>): void;
  off(verb: 'error' | 'connect', cb: (err?: unknown) => void): void;
  off(verb: Verb, cb: AnyCallback): void {
    for (const v of verb === 'change' ? (['add', 'update', 'delete'] as const) : [verb]) {
      const i = this.callbacks[v].indexOf(cb);
      if (i >= 0) this.callbacks[v].splice(i, 1);
    }
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.done(null);
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch();
    return Promise.resolve();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ?? '')?.get(name);
  }

  list(namespace?: string): readonly T[] {
    if (namespace === undefined || namespace === '') {
      const all: T[] = [];
      for (const m of this.objects.values()) all.push(...m.values());
      return all;
    }
    return [...(this.objects.get(namespace)?.values() ?? [])];
  }

  latestResourceVersion(): string {
    return this.resourceVersion;
  }

  private emit(verb: 'add' | 'update' | 'delete', obj: T): void {
    for (const cb of this.callbacks[verb].slice()) (cb as ObjectCallback<T>)(obj);
  }

  private emitError(err: unknown): void {
    for (const cb of this.callbacks.error.slice()) (cb as (e: unknown) => void)(err);
  }

  private abortWatch(): void {
    this.request?.abort();
    this.request = undefined;
  }

  /** ListWatch.doneHandler: after a watch ends (or at start), relist if needed and watch again. */
  private async done(err: unknown): Promise<void> {
    this.abortWatch();
    if (err !== null && err !== undefined) {
      if (statusOf(err) !== 410) {
        this.emitError(err);
        return;
      }
      this.resourceVersion = '';
    }
    if (this.stopped) return;
    for (const cb of this.callbacks.connect.slice()) (cb as (e: unknown) => void)(undefined);
    if (this.resourceVersion === '') {
      let listed: KubernetesListObject<T>;
      try {
        listed = await this.listFn();
      } catch (e) {
        this.emitError(e);
        return;
      }
      // ResilientInformer's list function slims the listed items itself.
      this.replace(listed.items);
      this.resourceVersion = listed.metadata?.resourceVersion ?? '';
      if (this.stopped) return;
    }
    // As client-go's reflector: the server ends each watch after 5-10 minutes (spread, so that
    // many clients do not re-watch at once), and a watch silent for longer is a dead connection.
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? Math.floor(300 * (1 + Math.random()));
    const query = {
      resourceVersion: this.resourceVersion,
      ...(this.opts.labelSelector !== undefined ? { labelSelector: this.opts.labelSelector } : {}),
      timeoutSeconds,
    };
    this.request = this.client.watch(
      this.path,
      query,
      (e) => this.event(e.type, e.object),
      (e) => void this.done(e),
    );
  }

  private event(type: string, raw: unknown): void {
    if (raw === null || typeof raw !== 'object') return;
    switch (type) {
      case 'ERROR':
        // A Status: 410 Gone means relist when the server ends the watch (it does right after).
        if ((raw as { code?: unknown }).code === 410) this.resourceVersion = '';
        return;
      case 'ADDED':
      case 'MODIFIED': {
        const obj = this.slim(raw as T);
        this.addOrUpdate(obj);
        break;
      }
      case 'DELETED': {
        const obj = this.slim(raw as T);
        const ns = obj.metadata?.namespace ?? '';
        const name = obj.metadata?.name ?? '';
        const m = this.objects.get(ns);
        if (m?.delete(name) === true) {
          if (m.size === 0) this.objects.delete(ns);
        }
        this.emit('delete', obj);
        break;
      }
      case 'BOOKMARK':
        break;
      default:
        return;
    }
    this.resourceVersion = (raw as KubernetesObject).metadata?.resourceVersion ?? '';
  }

  private slim(obj: T): T {
    return this.opts.slim === undefined ? obj : this.opts.slim(obj);
  }

  private addOrUpdate(obj: T): void {
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    let m = this.objects.get(ns);
    if (m === undefined) {
      m = new Map();
      this.objects.set(ns, m);
    }
    const old = m.get(name);
    if (old === undefined) {
      m.set(name, obj);
      this.emit('add', obj);
    } else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
      m.set(name, obj);
      this.emit('update', obj);
    }
  }

  /** A new list: deletes what is gone, then adds or updates the rest (as ListWatch). */
  private replace(items: readonly T[]): void {
    const keep = new Set(items.map((o) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`));
    for (const [ns, m] of this.objects) {
      for (const [name, obj] of m) {
        if (keep.has(`${ns}/${name}`)) continue;
        m.delete(name);
        this.emit('delete', obj);
      }
      if (m.size === 0) this.objects.delete(ns);
    }
    for (const o of items) this.addOrUpdate(o);
  }
}

function statusOf(err: unknown): number {
  if (err === null || typeof err !== 'object') return 0;
  const e = err as { code?: unknown; statusCode?: unknown };
  return typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : 0;
}

/**
 * `opts` for ResilientInformerCore over a LiteInformer on `client` (the speaker's informers): the
 * core slims the lists, the lite informer the watched objects, with the same `slim`.
 */
export function liteInformerOptions<T extends KubernetesObject>(client: LiteClient, opts: ResilientInformerOptions<T>): ResilientInformerOptions<T> {
  return { ...opts, make: (list) => new LiteInformer<T>(client, opts.path, list, { labelSelector: opts.labelSelector, slim: opts.slim }) };
}
