// The HTTP side of the fake API server: routing, list paging, watches, patches, discovery and
// fault injection. All state lives in the ObjectStore.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { decodeContinue, encodeContinue, sortKey } from './continue-token.js';
import { coreVersions, groupList, resourceList, versionInfo } from './discovery.js';
import { bodyObject, failWith, onlyAggregatedDiscovery, parseObject, readBody, send } from './http-io.js';
import { apiVersionOf, type KindInfo } from './kinds.js';
import { jsonPatch, mergePatch, patchTypeOf, strategicMerge, type PatchType } from './patches.js';
import { parseFieldSelector, parseLabelSelector, type Predicate } from './selectors.js';
import {
  ApiStatusError,
  badRequest,
  expired,
  invalid,
  notFound,
  reasonForCode,
  resourceNotFound,
  type StatusReason,
} from './status-error.js';
import { ObjectStore, type StoreOptions } from './store.js';
import { includeObjectParam, toTable, wantsTable } from './table.js';
import { isRecord, type KubeObject } from './types.js';
import { WatchStream } from './watch.js';
import { checkWireFormats } from './wire-formats.js';

export interface FakeApiServerOptions extends StoreOptions {
  /** Require `Authorization: Bearer <token>` (default: any or no token is accepted). */
  token?: string;
  /** Interval of BOOKMARK events on watches that allow them (default 60 000 ms, as a real server). */
  bookmarkIntervalMs?: number;
  /** Server-side end of every watch without its own timeoutSeconds (default: never). */
  defaultWatchTimeoutSeconds?: number;
  /**
   * Creating a namespaced object over HTTP needs its Namespace object, else 404 as a real server
   * (default false: any namespace is accepted). Direct store writes are never checked.
   */
  requireNamespaces?: boolean;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  contentType: string | undefined;
  accept: string | undefined;
  status?: number;
}

/** A failure the server answers instead of serving matching requests (see `injectFailure`). */
export interface InjectedFailure {
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Matches the URL path: a prefix string or a RegExp (any when omitted). */
  path?: string | RegExp;
  /** Matches watch requests only (true) or non-watch requests only (false). */
  watch?: boolean;
  code: number;
  reason?: StatusReason;
  message?: string;
  /** How many matching requests fail (default 1; Infinity for all until cleared). */
  times?: number;
}

/** One open watch, for tests that wait for a client's informers to be established. */
export interface WatchInfo {
  group: string;
  version: string;
  plural: string;
  namespace: string | undefined;
  query: string;
}

interface Route {
  kind: KindInfo;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

const REQUEST_LOG_LIMIT = 10_000;

function and(a: Predicate, b: Predicate): Predicate {
  return (o) => a(o) && b(o);
}

/** Items of a typed (built-in) list carry no apiVersion/kind on the wire; custom resources' do. */
function listItem(kind: KindInfo, o: KubeObject): KubeObject {
  if (!kind.builtIn) return o;
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

export class FakeApiServer {
  readonly store: ObjectStore;
  readonly requests: RequestRecord[] = [];
  private readonly http: Server;
  private readonly watches = new Set<WatchStream>();
  private readonly sockets = new Set<Socket>();
  private refuseUntil = 0;
  private refuseMode: 'close' | '503' = 'close';
  private latencyMs = 0;
  private failures: (InjectedFailure & { left: number })[] = [];
  private readonly watchInfo = new Map<WatchStream, WatchInfo>();
  private listening: AddressInfo | undefined;

  constructor(private readonly opts: FakeApiServerOptions = {}) {
    this.store = new ObjectStore(opts);
    this.http = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => failWith(res, err));
    });
    // Node closes idle kept-alive sockets after 5 s by default; a client reusing one at that moment
    // sees ECONNRESET, which a client-node informer treats as fatal. A real API server keeps idle
    // connections much longer, so the fake does too (close() still drops them all).
    this.http.keepAliveTimeout = 120_000;
    this.http.on('connection', (socket: Socket) => {
      if (this.refusing() && this.refuseMode === 'close') {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(0, '127.0.0.1', () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address();
    if (addr === null || typeof addr === 'string') throw new Error('fake API server: no TCP address');
    this.listening = addr;
    return addr;
  }

  get port(): number {
    if (this.listening === undefined) throw new Error('fake API server: not listening');
    return this.listening.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Ends every watch, drops every connection and frees the port. */
  async close(): Promise<void> {
    for (const w of [...this.watches]) w.end();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
      for (const s of this.sockets) s.destroy();
    });
  }

  // ---- fault injection ---------------------------------------------------------------------

  /** Number of watch streams open now. */
  activeWatchCount(): number {
    return this.watches.size;
  }

  /** The watch streams open now (resource, namespace, raw query). */
  activeWatches(): WatchInfo[] {
    return [...this.watchInfo.values()];
  }

  /** Delay every later request by `ms` before it is served (0 to stop). */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Answer matching requests with a Status failure instead of serving them. */
  injectFailure(f: InjectedFailure): void {
    this.failures.push({ ...f, left: f.times ?? 1 });
  }

  clearFailures(): void {
    this.failures = [];
  }

  private injected(method: string, url: URL): ApiStatusError | undefined {
    const isWatch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    const f = this.failures.find(
      (x) =>
        x.left > 0 &&
        (x.method === undefined || x.method.toUpperCase() === method) &&
        (x.watch === undefined || x.watch === isWatch) &&
        (x.path === undefined || (typeof x.path === 'string' ? url.pathname.startsWith(x.path) : x.path.test(url.pathname))),
    );
    if (f === undefined) return undefined;
    f.left--;
    this.failures = this.failures.filter((x) => x.left > 0);
    return new ApiStatusError(f.code, f.reason ?? reasonForCode(f.code), f.message ?? `injected failure (${f.code})`);
  }

  /** Destroy every watch socket mid-stream (client-node's informer reports 'error' and stops). */
  dropAllWatches(): void {
    for (const w of [...this.watches]) w.destroy();
  }

  /** Send every watch an ERROR event with a 410 Expired Status and end it (informers relist). */
  expireWatches(): void {
    const rv = this.store.currentResourceVersion();
    for (const w of [...this.watches]) {
      w.sendError(expired(`too old resource version: ${rv} (${rv + 1})`).toStatus());
      w.end();
    }
  }

  /** End every watch cleanly (informers re-watch from their last RV). */
  endWatches(): void {
    for (const w of [...this.watches]) w.end();
  }

  /** Send a BOOKMARK now on every watch that allows them. */
  sendBookmarks(): void {
    const rv = this.store.currentResourceVersion();
    for (const w of [...this.watches]) w.sendBookmark(rv);
  }

  /**
   * For `ms` milliseconds, refuse service: 'close' destroys new connections and new requests on
   * kept-alive ones; '503' answers 503 ServiceUnavailable with a Status body.
   */
  refuseConnections(ms: number, mode: 'close' | '503' = 'close'): void {
    this.refuseUntil = Date.now() + ms;
    this.refuseMode = mode;
  }

  /** Forget the watch history: watches, lists with Exact RVs and continue tokens from older RVs get 410. */
  compact(): void {
    this.store.compact();
  }

  private refusing(): boolean {
    return Date.now() < this.refuseUntil;
  }

  // ---- request handling --------------------------------------------------------------------

  private record(req: IncomingMessage, url: URL, res: ServerResponse): void {
    const rec: RequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      contentType: req.headers['content-type'],
      accept: req.headers.accept,
    };
    res.on('finish', () => {
      rec.status = res.statusCode;
    });
    this.requests.push(rec);
    if (this.requests.length > REQUEST_LOG_LIMIT) this.requests.splice(0, this.requests.length - REQUEST_LOG_LIMIT);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (this.refusing()) {
      if (this.refuseMode === 'close') {
        req.socket.destroy();
        return;
      }
      send(res, 503, new ApiStatusError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request').toStatus());
      return;
    }
    this.record(req, url, res);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const failure = this.injected(req.method ?? 'GET', url);
    if (failure !== undefined) {
      send(res, failure.code, failure.toStatus());
      return;
    }
    if (this.opts.token !== undefined && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      send(res, 401, new ApiStatusError(401, 'Unauthorized', 'Unauthorized').toStatus());
      return;
    }
    const path = url.pathname.replace(/\/+$/, '');
    const segs = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const method = req.method ?? 'GET';

    if (path === '/version') return send(res, 200, versionInfo());
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
      return;
    }
    if (segs[0] !== 'api' && segs[0] !== 'apis') throw resourceNotFound();
    const accept = req.headers.accept;
    if (onlyAggregatedDiscovery(accept)) {
      // Only aggregated discovery is acceptable to this client: say so, it will retry legacy.
      throw new ApiStatusError(406, 'NotAcceptable', 'only legacy discovery is served');
    }
    if (path === '/api') return send(res, 200, coreVersions(`127.0.0.1:${this.port}`));
    if (path === '/apis') return send(res, 200, groupList(this.store.kinds()));

    const [group, version, rest] = segs[0] === 'api' ? ['', segs[1], segs.slice(2)] : [segs[1] ?? '', segs[2], segs.slice(3)];
    if (version === undefined) {
      if (segs[0] === 'apis' && group !== '') {
        const g = groupList(this.store.kinds());
        const found = (g.groups as { name: string }[]).find((x) => x.name === group);
        if (found !== undefined) return send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...found });
      }
      throw resourceNotFound();
    }
    if (rest.length === 0) {
      const list = resourceList(group, version, this.store.kinds());
      if (list === undefined) throw resourceNotFound();
      return send(res, 200, list);
    }
    const route = this.route(group, version, rest);
    await this.serveResource(req, res, url, method, route);
  }

  private route(group: string, version: string, rest: string[]): Route {
    let namespace: string | undefined;
    let parts = rest;
    if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] !== 'status' && rest[2] !== 'finalize') {
      namespace = rest[1];
      parts = rest.slice(2);
    }
    const [plural = '', name, subresource, ...extra] = parts;
    const kind = this.store.findKind(group, version, plural);
    if (kind === undefined || extra.length > 0) throw resourceNotFound();
    if (namespace !== undefined && !kind.namespaced) throw resourceNotFound();
    if (subresource !== undefined && !(subresource === 'status' && kind.hasStatus)) throw resourceNotFound();
    return { kind, namespace, name, subresource };
  }

  private async serveResource(req: IncomingMessage, res: ServerResponse, url: URL, method: string, r: Route): Promise<void> {
    const q = url.searchParams;
    const dryRun = q.get('dryRun') === 'All';
    const { kind, namespace, name, subresource } = r;
    if (name === undefined) {
      if (method === 'GET') {
        if (q.get('watch') === 'true' || q.get('watch') === '1') return this.watch(req, res, q, r);
        return this.list(req, res, q, r);
      }
      if (method === 'POST') {
        if (kind.namespaced && namespace === undefined) throw new ApiStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const body = await bodyObject(req);
        this.checkTypeMeta(kind, body);
        checkWireFormats(kind, body);
        this.checkNamespaceExists(kind, namespace);
        const created = this.store.create(kind, namespace, body, { http: true, dryRun });
        return send(res, 201, created);
      }
      if (method === 'DELETE') {
        const matches = and(parseLabelSelector(q.get('labelSelector')), parseFieldSelector(q.get('fieldSelector')));
        const items = this.store.list(kind, namespace, matches).items;
        const deleted = items.map((o) => this.store.delete(kind, o.metadata?.namespace, o.metadata?.name ?? '', { dryRun }));
        return send(res, 200, {
          kind: kind.listKind,
          apiVersion: apiVersionOf(kind),
          metadata: { resourceVersion: String(this.store.currentResourceVersion()) },
          items: deleted.map((o) => listItem(kind, o)),
        });
      }
      throw new ApiStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
    if (kind.namespaced && namespace === undefined) throw resourceNotFound();
    switch (method) {
      case 'GET': {
        const obj = this.store.get(kind, namespace, name);
        if (wantsTable(req.headers.accept)) {
          return send(res, 200, toTable(kind, [obj], includeObjectParam(q.get('includeObject')), { resourceVersion: obj.metadata?.resourceVersion ?? '' }));
        }
        return send(res, 200, obj);
      }
      case 'PUT': {
        const body = await bodyObject(req);
        this.checkTypeMeta(kind, body);
        checkWireFormats(kind, body);
        const updated = this.store.update(kind, namespace, name, body, subresource === 'status' ? { http: true, subresource: 'status', dryRun } : { http: true, dryRun });
        return send(res, 200, updated);
      }
      case 'PATCH':
        return this.patch(req, res, q, r, name);
      case 'DELETE': {
        const text = await readBody(req);
        const opts = text.trim() === '' ? {} : parseObject(text, false);
        const pre = isRecord(opts) && isRecord(opts.preconditions) ? opts.preconditions : {};
        const bodyDryRun = isRecord(opts) && Array.isArray(opts.dryRun) && opts.dryRun.includes('All');
        const preconditions: { uid?: string; resourceVersion?: string } = {};
        if (typeof pre.uid === 'string') preconditions.uid = pre.uid;
        if (typeof pre.resourceVersion === 'string') preconditions.resourceVersion = pre.resourceVersion;
        const deleted = this.store.delete(kind, namespace, name, { preconditions, dryRun: dryRun || bodyDryRun });
        if (kind.deleteReturnsObject || deleted.metadata?.deletionTimestamp !== undefined) return send(res, 200, deleted);
        return send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, group: kind.group, kind: kind.plural, uid: deleted.metadata?.uid ?? '' },
        });
      }
      default:
        throw new ApiStatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  private checkNamespaceExists(kind: KindInfo, namespace: string | undefined): void {
    if (this.opts.requireNamespaces !== true || !kind.namespaced || namespace === undefined) return;
    const nsKind = this.store.findKind('', 'v1', 'namespaces');
    if (nsKind !== undefined && this.store.tryGet(nsKind, undefined, namespace) === undefined) throw notFound('', 'namespaces', namespace);
  }

  private checkTypeMeta(kind: KindInfo, body: KubeObject): void {
    if (body.kind !== undefined && body.kind !== kind.kind) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${apiVersionOf(kind)})`);
    }
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(kind)) {
      throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(kind)})`);
    }
  }

  private list(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, r: Route): void {
    const { kind, namespace } = r;
    const matches = and(parseLabelSelector(q.get('labelSelector')), parseFieldSelector(q.get('fieldSelector')));
    const rvParam = q.get('resourceVersion');
    if (q.get('resourceVersionMatch') === 'Exact' && rvParam !== null && Number(rvParam) < this.store.oldestResourceVersion()) {
      throw expired(`too old resource version: ${rvParam} (${this.store.oldestResourceVersion()})`);
    }
    const all = this.store.list(kind, namespace, matches);
    let items = all.items;
    let listRv = all.resourceVersion;
    const cont = q.get('continue');
    if (cont !== null && cont !== '') {
      const token = decodeContinue(cont);
      if (token.rv < this.store.oldestResourceVersion()) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue parameter from the 410 response.',
        );
      }
      items = items.filter((o) => sortKey(o) > token.after);
      listRv = String(token.rv);
    }
    const limit = Number(q.get('limit') ?? '0');
    const meta: Record<string, string> = { resourceVersion: listRv };
    let remaining: number | undefined;
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      remaining = items.length - limit;
      items = items.slice(0, limit);
      const last = items[items.length - 1];
      if (last !== undefined) meta.continue = encodeContinue({ rv: Number(listRv), after: sortKey(last) });
    }
    if (wantsTable(req.headers.accept)) {
      return send(res, 200, toTable(kind, items, includeObjectParam(q.get('includeObject')), meta));
    }
    const metadata: Record<string, unknown> = { ...meta };
    if (remaining !== undefined) metadata.remainingItemCount = remaining;
    send(res, 200, { kind: kind.listKind, apiVersion: apiVersionOf(kind), metadata, items: items.map((o) => listItem(kind, o)) });
  }

  private watch(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, r: Route): void {
    const { kind, namespace } = r;
    const matches = and(parseLabelSelector(q.get('labelSelector')), parseFieldSelector(q.get('fieldSelector')));
    const table = wantsTable(req.headers.accept) ? includeObjectParam(q.get('includeObject')) : undefined;
    const w = new WatchStream(res, { kind, namespace, matches, bookmarks: q.get('allowWatchBookmarks') === 'true', table });
    this.watches.add(w);
    this.watchInfo.set(w, { group: kind.group, version: kind.version, plural: kind.plural, namespace, query: q.toString() });
    w.whenEnded(() => {
      this.watches.delete(w);
      this.watchInfo.delete(w);
    });

    const rvParam = q.get('resourceVersion') ?? '';
    const sendInitial = q.get('sendInitialEvents') === 'true';
    if (rvParam === '' || rvParam === '0' || sendInitial) {
      for (const o of this.store.list(kind, namespace, matches).items) w.sendObject('ADDED', o);
      if (sendInitial) w.sendBookmark(this.store.currentResourceVersion(), { 'k8s.io/initial-events-end': 'true' });
    } else {
      const from = Number(rvParam);
      const events = Number.isFinite(from) ? this.store.eventsSince(from, kind) : 'expired';
      if (events === 'expired') {
        w.sendError(expired(`too old resource version: ${rvParam} (${this.store.oldestResourceVersion()})`).toStatus());
        w.end();
        return;
      }
      for (const e of events) w.deliver(e);
    }
    const unsubscribe = this.store.subscribe((e) => {
      if (e.kind.group === kind.group && e.kind.plural === kind.plural) w.deliver(e);
      // The CRD serving this kind is gone: end the watch, as a real server does.
      else if (e.type === 'DELETED' && e.kind.plural === 'customresourcedefinitions' && this.store.findKind(kind.group, kind.version, kind.plural) === undefined) {
        w.end();
      }
    });
    w.whenEnded(unsubscribe);

    const timeout = Number(q.get('timeoutSeconds') ?? this.opts.defaultWatchTimeoutSeconds ?? 0);
    if (Number.isFinite(timeout) && timeout > 0) {
      w.addTimer(
        setTimeout(() => {
          w.sendBookmark(this.store.currentResourceVersion());
          w.end();
        }, timeout * 1000),
      );
    }
    if (w.spec.bookmarks) {
      const every = this.opts.bookmarkIntervalMs ?? 60_000;
      const tick = (): void => {
        w.sendBookmark(this.store.currentResourceVersion());
        w.addTimer(setTimeout(tick, every));
      };
      w.addTimer(setTimeout(tick, every));
    }
  }

  private async patch(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, r: Route, name: string): Promise<void> {
    const { kind, namespace, subresource } = r;
    const type: PatchType | undefined = patchTypeOf(req.headers['content-type']);
    if (type === undefined) {
      await readBody(req);
      throw new ApiStatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
    }
    const patchBody = parseObject(await readBody(req), type === 'apply');
    const dryRun = q.get('dryRun') === 'All';
    const writeOpts = subresource === 'status' ? { http: true, subresource: 'status' as const, dryRun } : { http: true, dryRun };
    if (type === 'apply') {
      const fieldManager = q.get('fieldManager');
      if (fieldManager === null || fieldManager === '') {
        throw invalid('meta.k8s.io', 'PatchOptions', '', [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }]);
      }
      if (!isRecord(patchBody)) throw badRequest('apply patch: the body must be an object');
      this.checkTypeMeta(kind, patchBody);
      const existing = this.store.tryGet(kind, namespace, name);
      if (existing === undefined) {
        if (subresource === 'status') throw notFound(kind.group, kind.plural, name);
        const meta = isRecord(patchBody.metadata) ? patchBody.metadata : {};
        if (meta.name !== undefined && meta.name !== name) {
          throw badRequest(`the name of the object (${JSON.stringify(meta.name)}) does not match the name on the URL (${name})`);
        }
        this.checkNamespaceExists(kind, namespace);
        const toCreate: KubeObject = { ...patchBody, metadata: { ...meta, name } };
        checkWireFormats(kind, toCreate);
        const created = this.store.create(kind, namespace, toCreate, { http: true, dryRun });
        return send(res, 201, created);
      }
      const merged = strategicMerge(existing, patchBody);
      if (!isRecord(merged)) throw badRequest('apply patch: the result is not an object');
      checkWireFormats(kind, merged);
      return send(res, 200, this.store.update(kind, namespace, name, merged, writeOpts));
    }
    const existing = this.store.get(kind, namespace, name);
    let patched: unknown;
    if (type === 'json') patched = jsonPatch(existing, patchBody);
    else if (type === 'merge') patched = mergePatch(existing, patchBody);
    else patched = strategicMerge(existing, patchBody);
    if (!isRecord(patched)) throw new ApiStatusError(422, 'Invalid', 'the patch result is not an object');
    checkWireFormats(kind, patched);
    send(res, 200, this.store.update(kind, namespace, name, patched, writeOpts));
  }
}
