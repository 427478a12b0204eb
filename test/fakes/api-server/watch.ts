// One watch stream: newline-delimited JSON events in an HTTP 200 chunked response, as a real API
// server writes them. Selector transitions follow the real server: an object that starts matching
// arrives as ADDED, one that stops matching as DELETED.

import type { ServerResponse } from 'node:http';
import { apiVersionOf, type KindInfo } from './kinds.js';
import type { Predicate } from './selectors.js';
import type { StatusBody } from './status-error.js';
import type { StoreEvent } from './store.js';
import { toTable, type IncludeObject } from './table.js';
import type { KubeObject } from './types.js';

export type WireEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchSpec {
  kind: KindInfo;
  /** undefined: all namespaces. */
  namespace: string | undefined;
  matches: Predicate;
  bookmarks: boolean;
  /** Wrap each object in a meta.k8s.io/v1 Table (kubectl get -w). */
  table: IncludeObject | undefined;
}

export class WatchStream {
  private ended = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly onEnd: (() => void)[] = [];

  constructor(
    readonly res: ServerResponse,
    readonly spec: WatchSpec,
  ) {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    res.on('close', () => this.cleanup());
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Runs when the stream ends for any reason (client gone, timeout, fault, server close). */
  whenEnded(fn: () => void): void {
    if (this.ended) fn();
    else this.onEnd.push(fn);
  }

  addTimer(t: NodeJS.Timeout): void {
    this.timers.push(t);
  }

  private inScope(obj: KubeObject): boolean {
    return !this.spec.kind.namespaced || this.spec.namespace === undefined || obj.metadata?.namespace === this.spec.namespace;
  }

  private present(obj: KubeObject): KubeObject {
    return { ...obj, apiVersion: apiVersionOf(this.spec.kind), kind: this.spec.kind.kind };
  }

  /** Translate a store event to what this watch sees (nothing, or one wire event). */
  deliver(e: StoreEvent): void {
    const now = this.inScope(e.object) && this.spec.matches(this.present(e.object));
    if (e.type === 'MODIFIED') {
      const before = e.previous !== undefined && this.inScope(e.previous) && this.spec.matches(this.present(e.previous));
      if (now && before) this.sendObject('MODIFIED', e.object);
      else if (now) this.sendObject('ADDED', e.object);
      else if (before) this.sendObject('DELETED', e.object);
      return;
    }
    if (now) this.sendObject(e.type, e.object);
  }

  sendObject(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: KubeObject): void {
    const o = this.present(obj);
    if (this.spec.table !== undefined) {
      this.write(type, toTable(this.spec.kind, [o], this.spec.table, { resourceVersion: o.metadata?.resourceVersion ?? '' }));
    } else {
      this.write(type, o);
    }
  }

  sendBookmark(resourceVersion: number, annotations?: Record<string, string>): void {
    if (!this.spec.bookmarks) return;
    const metadata: Record<string, unknown> = { resourceVersion: String(resourceVersion) };
    if (annotations !== undefined) metadata.annotations = annotations;
    this.write('BOOKMARK', { kind: this.spec.kind.kind, apiVersion: apiVersionOf(this.spec.kind), metadata });
  }

  sendError(status: StatusBody): void {
    this.write('ERROR', status);
  }

  private write(type: WireEventType, object: unknown): void {
    if (this.ended || this.res.destroyed) return;
    this.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  /** Clean end of the stream (the client sees a normal end of body). */
  end(): void {
    if (!this.ended && !this.res.destroyed) this.res.end();
    this.cleanup();
  }

  /** Abrupt end: the socket is destroyed mid-stream. */
  destroy(): void {
    this.res.socket?.destroy();
    this.res.destroy();
    this.cleanup();
  }

  private cleanup(): void {
    if (this.ended) return;
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    for (const fn of this.onEnd.splice(0)) fn();
  }
}
