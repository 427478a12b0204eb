/**
 * A wire-faithful fake Kubernetes API server for tests (plain HTTP on 127.0.0.1, random port).
 * Real clients (@kubernetes/client-node, kubectl) talk to it through a kubeconfig; nothing under
 * src/ knows it is a fake.
 *
 *   const api = await startFakeApiServer({ metallb: true });
 *   const kubeconfig = api.writeKubeconfig(tmpDir);        // → path; http://127.0.0.1:PORT, token user
 *   api.objects.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'ns' }, ... });
 *   api.objects.patchStatus('v1', 'Service', 'ns', 's', { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } });
 *   api.faults.dropAllWatches();                            // abrupt socket close on every watch
 *   api.faults.injectFailure({ method: 'PUT', path: '/apis/coordination.k8s.io', code: 409 });
 *   await api.close();                                      // ends watches, frees the port
 *
 * Served: core v1 Namespaces, Nodes, Pods, Services, Secrets, ConfigMaps, Events; events.k8s.io/v1
 * Events; discovery.k8s.io/v1 EndpointSlices; coordination.k8s.io/v1 Leases;
 * apiextensions.k8s.io/v1 CRDs, and the custom resources of every stored CRD (scope, versions and
 * status subresource from the CRD). `metallb: true` (or `registerMetallbKinds()`) serves
 * metallb.io/v1beta1 IPAddressPool, L2Advertisement and ServiceL2Status without a CRD.
 *
 * Semantics (see the files for detail):
 * - store.ts: one global resourceVersion; uid, creationTimestamp, generateName; generation only
 *   for custom resources and CRDs (bumped when anything but metadata, and status if it is a
 *   subresource, changes) and EndpointSlices; the other served built-in kinds have none on a real
 *   server; no managedFields; no-op writes keep the RV and emit nothing; a create that carries a
 *   resourceVersion is a 500 (as etcd3 storage answers); 409 on
 *   create of an existing name or a PUT with a stale RV; 422 for a missing/invalid name and the
 *   few field rules in validation.ts (labels, annotation keys, Service status IPs); finalizers
 *   delay deletion (deletionTimestamp) until emptied. Namespaces are not required to exist
 *   (unless `requireNamespaces: true`) and deleting one does not cascade. Services get a
 *   ClusterIP, ipFamilies and NodePorts, `ipMode: VIP` on LoadBalancer status ingress entries,
 *   and lose status.loadBalancer when updated to another type (defaults.ts). Direct writes through `objects` replace the whole object, status included, and
 *   emit watch events like any write.
 * - server.ts: list with labelSelector, fieldSelector (equality on any dotted path), limit/continue
 *   (continue tokens from before a compaction are 410), resourceVersionMatch=Exact below the history
 *   is 410; watch with resourceVersion replay from a bounded history (older → ERROR 410 Expired in a
 *   200 stream), "" / "0" start with synthetic ADDED, allowWatchBookmarks, timeoutSeconds,
 *   sendInitialEvents; status subresources; PATCH merge/json/strategic/apply (patches.ts documents
 *   the strategic and server-side-apply approximations); DELETE returns the object for Services,
 *   Pods, Namespaces, CRDs and custom resources and a Success Status for the others (as the real
 *   stores); typed lists carry no per-item apiVersion/kind; dryRun=All; MicroTime fields must have
 *   six fractional digits (wire-formats.ts, 400 otherwise).
 *   Protobuf bodies get 415. `kubectl get` gets meta.k8s.io/v1 Tables (table.ts).
 * - discovery.ts: /version, /api, /apis, /api/v1, /apis/<g>/<v>; aggregated discovery and
 *   /openapi/* are not served (kubectl falls back; use `kubectl apply --validate=false`).
 *
 * Faults (api.faults): dropAllWatches, expireWatches, endWatches, refuseConnections(ms, 'close'|'503'),
 * compact, sendBookmarks, setLatency, injectFailure/clearFailures. Remember the client-node traps
 * (/work/shared/reference/kubernetes-notes.md): after an abrupt close, a 503 or a failed list its
 * informer reports 'error' and stops until start() is called again; a clean end or a 410 is handled
 * by the informer itself. With kubectl pass `--cache-dir <tmp>` so discovery is not cached across
 * servers on reused ports.
 */

import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { METALLB_KINDS, kindInfo, type KindInfo, type KindSpec } from './kinds.js';
import { FakeApiServer, type FakeApiServerOptions, type InjectedFailure, type RequestRecord, type WatchInfo } from './server.js';
import type { DeleteOptions, ObjectStore, StoreEvent } from './store.js';
import { mergePatch } from './patches.js';
import type { KubeObject } from './types.js';

export type { KindInfo, KindSpec } from './kinds.js';
export type { FakeApiServerOptions, InjectedFailure, RequestRecord, WatchInfo } from './server.js';
export type { StoreEvent } from './store.js';
export type { KubeObject, ObjectMeta, JsonObject, JsonValue } from './types.js';
export { ApiStatusError } from './status-error.js';
export { FakeApiServer } from './server.js';

export interface StartOptions extends FakeApiServerOptions {
  /** Serve metallb.io/v1beta1 IPAddressPool, L2Advertisement, ServiceL2Status without CRDs. */
  metallb?: boolean;
}

/** Direct store access for tests, by apiVersion + kind. Writes emit watch events. */
export interface ObjectAccess {
  /** Creates as given (status included); fills uid, creationTimestamp, resourceVersion, generation. */
  create(obj: KubeObject): KubeObject;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[];
  /** Replaces the whole object (status included). */
  update(obj: KubeObject): KubeObject;
  /** Creates or replaces. */
  upsert(obj: KubeObject): KubeObject;
  /** RFC 7386 merge patch of the whole object (status included). */
  patch(apiVersion: string, kind: string, namespace: string | undefined, name: string, patch: Record<string, unknown>): KubeObject;
  /** Merge patch of `.status` only. */
  patchStatus(apiVersion: string, kind: string, namespace: string | undefined, name: string, status: Record<string, unknown>): KubeObject;
  delete(apiVersion: string, kind: string, namespace: string | undefined, name: string, opts?: DeleteOptions): KubeObject;
  /** Every store change as it happens (after the write). Returns an unsubscribe function. */
  onEvent(listener: (e: StoreEvent) => void): () => void;
  /** The store's current resourceVersion. */
  resourceVersion(): string;
  /**
   * Resolves with the object once `predicate` holds for it (checked now and after every change);
   * `undefined` as the object means it does not exist. Rejects after `timeoutMs` (default 5000).
   */
  waitFor(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    predicate: (obj: KubeObject | undefined) => boolean,
    timeoutMs?: number,
  ): Promise<KubeObject | undefined>;
}

export interface Faults {
  /** Destroy every watch socket mid-stream. */
  dropAllWatches(): void;
  /** ERROR event with a 410 Expired Status, then a clean end, on every watch. */
  expireWatches(): void;
  /** Clean end of every watch. */
  endWatches(): void;
  /** Close new connections (and requests on kept-alive ones) for `ms`, or answer 503 ('503'). */
  refuseConnections(ms: number, mode?: 'close' | '503'): void;
  /** Drop the watch history: resuming from any RV before now is 410 Gone. */
  compact(): void;
  /** BOOKMARK now on every watch that allows bookmarks. */
  sendBookmarks(): void;
  /** Delay every later request by `ms` (0 to stop). */
  setLatency(ms: number): void;
  /** Answer matching requests (method/path/watch) with a Status of `code`, `times` times (default 1). */
  injectFailure(f: InjectedFailure): void;
  clearFailures(): void;
}

export interface FakeApi {
  url: string;
  port: number;
  server: FakeApiServer;
  store: ObjectStore;
  objects: ObjectAccess;
  faults: Faults;
  /** Every request so far (method, path, query, content type, final status). */
  requests: RequestRecord[];
  activeWatchCount(): number;
  /** The open watches (resource, namespace, query): wait on this for a client's informers. */
  activeWatches(): WatchInfo[];
  /** Writes a kubeconfig (into `dir/kubeconfig` when given a directory) and returns its path. */
  writeKubeconfig(dirOrFile: string): string;
  registerKind(spec: KindSpec): KindInfo;
  registerMetallbKinds(): void;
  close(): Promise<void>;
}

export const FAKE_TOKEN = 'fake-api-server-token';

export function kubeconfigYaml(url: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: fake',
    '  cluster:',
    `    server: ${url}`,
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: fake',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: fake',
    '  context:',
    '    cluster: fake',
    '    user: fake',
    '    namespace: default',
    'current-context: fake',
    '',
  ].join('\n');
}

function objectAccess(store: ObjectStore): ObjectAccess {
  const kindOf = (apiVersion: string | undefined, kind: string | undefined): KindInfo => {
    const k = apiVersion === undefined || kind === undefined ? undefined : store.kindFor(apiVersion, kind);
    if (k === undefined) throw new Error(`fake API server: kind ${String(apiVersion)}/${String(kind)} is not registered`);
    return k;
  };
  const nameOf = (obj: KubeObject): string => {
    const n = obj.metadata?.name;
    if (n === undefined) throw new Error('fake API server: object has no metadata.name');
    return n;
  };
  const access: ObjectAccess = {
    create: (obj) => store.create(kindOf(obj.apiVersion, obj.kind), obj.metadata?.namespace, obj),
    get: (apiVersion, kind, namespace, name) => store.tryGet(kindOf(apiVersion, kind), namespace, name),
    list: (apiVersion, kind, namespace) => store.list(kindOf(apiVersion, kind), namespace).items,
    update: (obj) => store.update(kindOf(obj.apiVersion, obj.kind), obj.metadata?.namespace, nameOf(obj), obj),
    upsert: (obj) => {
      const k = kindOf(obj.apiVersion, obj.kind);
      const exists = store.tryGet(k, obj.metadata?.namespace, nameOf(obj)) !== undefined;
      return exists ? store.update(k, obj.metadata?.namespace, nameOf(obj), obj) : store.create(k, obj.metadata?.namespace, obj);
    },
    patch: (apiVersion, kind, namespace, name, patch) => {
      const k = kindOf(apiVersion, kind);
      const next = mergePatch(store.get(k, namespace, name), patch) as KubeObject;
      return store.update(k, namespace, name, next);
    },
    patchStatus: (apiVersion, kind, namespace, name, status) => {
      const k = kindOf(apiVersion, kind);
      const next = mergePatch(store.get(k, namespace, name), { status }) as KubeObject;
      return store.update(k, namespace, name, next);
    },
    delete: (apiVersion, kind, namespace, name, opts) => store.delete(kindOf(apiVersion, kind), namespace, name, opts),
    onEvent: (listener) => store.subscribe(listener),
    resourceVersion: () => String(store.currentResourceVersion()),
    waitFor: (apiVersion, kind, namespace, name, predicate, timeoutMs = 5000) => {
      const k = kindOf(apiVersion, kind);
      const current = (): KubeObject | undefined => store.tryGet(k, namespace, name);
      const now = current();
      if (predicate(now)) return Promise.resolve(now);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          unsubscribe();
          const ns = namespace === undefined ? '' : `${namespace}/`;
          reject(new Error(`fake API server: timed out after ${timeoutMs} ms waiting for ${kind} ${ns}${name}; it is now ${JSON.stringify(current())}`));
        }, timeoutMs);
        const unsubscribe = store.subscribe((e) => {
          if (e.kind.group !== k.group || e.kind.plural !== k.plural || e.object.metadata?.name !== name) return;
          const obj = current();
          if (!predicate(obj)) return;
          clearTimeout(timer);
          unsubscribe();
          resolve(obj);
        });
      });
    },
  };
  return access;
}

export async function startFakeApiServer(opts: StartOptions = {}): Promise<FakeApi> {
  const server = new FakeApiServer(opts);
  const store = server.store;
  const registerMetallbKinds = (): void => {
    for (const k of METALLB_KINDS) store.registerKind(k);
  };
  if (opts.metallb === true) registerMetallbKinds();
  await server.listen();
  const url = server.url;
  const token = opts.token ?? FAKE_TOKEN;
  return {
    url,
    port: server.port,
    server,
    store,
    objects: objectAccess(store),
    faults: {
      dropAllWatches: () => server.dropAllWatches(),
      expireWatches: () => server.expireWatches(),
      endWatches: () => server.endWatches(),
      refuseConnections: (ms, mode) => server.refuseConnections(ms, mode),
      compact: () => server.compact(),
      sendBookmarks: () => server.sendBookmarks(),
      setLatency: (ms) => server.setLatency(ms),
      injectFailure: (f) => server.injectFailure(f),
      clearFailures: () => server.clearFailures(),
    },
    requests: server.requests,
    activeWatchCount: () => server.activeWatchCount(),
    activeWatches: () => server.activeWatches(),
    writeKubeconfig: (dirOrFile) => {
      let isDir = false;
      try {
        isDir = statSync(dirOrFile).isDirectory();
      } catch {
        isDir = false;
      }
      const file = isDir ? join(dirOrFile, 'kubeconfig') : dirOrFile;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, kubeconfigYaml(url, token), { mode: 0o600 });
      return file;
    },
    registerKind: (spec) => {
      const info = kindInfo(spec);
      store.registerKind(info);
      return info;
    },
    registerMetallbKinds,
    close: () => server.close(),
  };
}
