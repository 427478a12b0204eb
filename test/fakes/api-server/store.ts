// The object store behind the fake API server: generic over kinds, one global resourceVersion
// counter (as etcd's revision), a bounded event history for watches that resume from an RV, and
// synchronous change listeners. HTTP semantics (status subresource, stale-RV conflicts) apply when
// a write says `http: true`; direct writes by a test replace the whole object, status included.

import { randomUUID } from 'node:crypto';
import {
  BUILTIN_KINDS,
  apiVersionOf,
  kindInfo,
  servingKey,
  storageKey,
  type KindInfo,
} from './kinds.js';
import { Defaulter } from './defaults.js';
import { validate } from './validation.js';
import { ApiStatusError, alreadyExists, badRequest, conflict, invalid, notFound, type StatusCause } from './status-error.js';
import { canonicalJson, isRecord, jsonClone, type KubeObject, type ObjectMeta } from './types.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  rv: number;
  kind: KindInfo;
  object: KubeObject;
  /** The object before a MODIFIED (for selector transitions). */
  previous?: KubeObject;
}

export interface WriteOptions {
  /** Apply API-server rules: stale-RV conflicts, status subresource separation, status reset on create. */
  http?: boolean;
  subresource?: 'status';
  dryRun?: boolean;
}

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

export interface StoreOptions {
  /** Events kept for watches resuming from an older RV (default 10 000). */
  historyLimit?: number;
  /** First resourceVersion handed out (default 1000). */
  firstResourceVersion?: number;
}

// RFC 1123 subdomain, as metadata.name must be for almost every kind.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const CRD_KEY = storageKey({ group: 'apiextensions.k8s.io', plural: 'customresourcedefinitions' });

function objKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function randomSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let s = '';
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

function withoutMetaAndStatus(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return canonicalJson(rest);
}

function withoutMeta(obj: KubeObject): string {
  const { metadata: _m, ...rest } = obj;
  return canonicalJson(rest);
}

function comparable(obj: KubeObject): string {
  const meta = { ...(obj.metadata ?? {}) };
  delete meta.resourceVersion;
  return canonicalJson({ ...obj, metadata: meta });
}

/** A PUT of a Service without its allocated ClusterIP keeps the old one (as a real server). */
function keepAllocatedServiceFields(kind: KindInfo, old: KubeObject, next: KubeObject): void {
  if (kind.group !== '' || kind.plural !== 'services' || !isRecord(old.spec) || !isRecord(next.spec)) return;
  for (const f of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy']) {
    if (next.spec[f] === undefined && old.spec[f] !== undefined) next.spec[f] = old.spec[f];
  }
}

export class ObjectStore {
  private readonly kindsByServing = new Map<string, KindInfo>();
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();
  private readonly historyLimit: number;
  private readonly defaulter = new Defaulter();
  private rv: number;
  /** Watches may resume from any RV >= this; older ones are 410 Gone. */
  private oldestRv: number;

  constructor(opts: StoreOptions = {}) {
    this.historyLimit = opts.historyLimit ?? 10_000;
    this.rv = opts.firstResourceVersion ?? 1000;
    this.oldestRv = this.rv;
    for (const k of BUILTIN_KINDS) this.registerKind(k);
  }

  // ---- kinds ---------------------------------------------------------------------------------

  registerKind(info: KindInfo): void {
    this.kindsByServing.set(servingKey(info.group, info.version, info.plural), info);
    if (!this.objects.has(storageKey(info))) this.objects.set(storageKey(info), new Map());
  }

  unregisterKind(group: string, version: string, plural: string): void {
    this.kindsByServing.delete(servingKey(group, version, plural));
  }

  kinds(): KindInfo[] {
    return [...this.kindsByServing.values()];
  }

  findKind(group: string, version: string, plural: string): KindInfo | undefined {
    return this.kindsByServing.get(servingKey(group, version, plural));
  }

  kindFor(apiVersion: string, kind: string): KindInfo | undefined {
    for (const k of this.kindsByServing.values()) if (apiVersionOf(k) === apiVersion && k.kind === kind) return k;
    return undefined;
  }

  // ---- resource versions and history ----------------------------------------------------------

  currentResourceVersion(): number {
    return this.rv;
  }

  oldestResourceVersion(): number {
    return this.oldestRv;
  }

  /** Forget all history: every watch or continue token from an RV older than now gets 410. */
  compact(): void {
    this.history.length = 0;
    this.oldestRv = this.rv;
  }

  /** Events after `rv` for one storage key, or 'expired' when `rv` is older than the history. */
  eventsSince(rv: number, kind: KindInfo): StoreEvent[] | 'expired' {
    if (rv < this.oldestRv) return 'expired';
    const key = storageKey(kind);
    return this.history.filter((e) => e.rv > rv && storageKey(e.kind) === key);
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(type: WatchEventType, kind: KindInfo, object: KubeObject, previous?: KubeObject): void {
    const e: StoreEvent = { type, rv: this.rv, kind, object: jsonClone(object) };
    if (previous !== undefined) e.previous = jsonClone(previous);
    this.history.push(e);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      const last = dropped[dropped.length - 1];
      if (last !== undefined) this.oldestRv = last.rv;
    }
    for (const l of [...this.listeners]) l(e);
  }

  // ---- reads -------------------------------------------------------------------------------

  private bucket(kind: KindInfo): Map<string, KubeObject> {
    let b = this.objects.get(storageKey(kind));
    if (b === undefined) {
      b = new Map();
      this.objects.set(storageKey(kind), b);
    }
    return b;
  }

  private nsOf(kind: KindInfo, namespace: string | undefined): string {
    if (!kind.namespaced) return '';
    return namespace === undefined || namespace === '' ? 'default' : namespace;
  }

  private present(kind: KindInfo, obj: KubeObject): KubeObject {
    const out = jsonClone(obj);
    out.apiVersion = apiVersionOf(kind);
    out.kind = kind.kind;
    return out;
  }

  tryGet(kind: KindInfo, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.bucket(kind).get(objKey(this.nsOf(kind, namespace), name));
    return o === undefined ? undefined : this.present(kind, o);
  }

  get(kind: KindInfo, namespace: string | undefined, name: string): KubeObject {
    const o = this.tryGet(kind, namespace, name);
    if (o === undefined) throw notFound(kind.group, kind.plural, name);
    return o;
  }

  /** All objects of a kind (in one namespace, or all when `namespace` is undefined), sorted by namespace/name. */
  list(kind: KindInfo, namespace: string | undefined, filter: (o: KubeObject) => boolean = () => true): ListResult {
    const items: KubeObject[] = [];
    const keys = [...this.bucket(kind).keys()].sort();
    for (const key of keys) {
      const o = this.bucket(kind).get(key);
      if (o === undefined) continue;
      if (kind.namespaced && namespace !== undefined && namespace !== '' && o.metadata?.namespace !== namespace) continue;
      const p = this.present(kind, o);
      if (filter(p)) items.push(p);
    }
    return { items, resourceVersion: String(this.rv) };
  }

  // ---- writes ------------------------------------------------------------------------------

  private validateName(kind: KindInfo, name: string | undefined, generateName: string | undefined): StatusCause[] {
    if ((name === undefined || name === '') && (generateName === undefined || generateName === '')) {
      return [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }];
    }
    if (name !== undefined && name !== '' && (name.length > 253 || !DNS_SUBDOMAIN.test(name))) {
      return [
        {
          reason: 'FieldValueInvalid',
          message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
          field: 'metadata.name',
        },
      ];
    }
    return [];
  }

  private check(kind: KindInfo, obj: KubeObject): void {
    const causes = validate(kind, obj);
    if (causes.length > 0) throw invalid(kind.group, kind.kind, obj.metadata?.name ?? '', causes);
  }

  create(kind: KindInfo, namespace: string | undefined, input: KubeObject, opts: WriteOptions = {}): KubeObject {
    const obj = jsonClone(input);
    const meta: ObjectMeta = isRecord(obj.metadata) ? obj.metadata : {};
    obj.metadata = meta;
    const ns = this.nsOf(kind, namespace ?? meta.namespace);
    if (kind.namespaced && meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const causes = this.validateName(kind, meta.name, meta.generateName);
    if (causes.length > 0) throw invalid(kind.group, kind.kind, meta.name ?? '', causes);
    const bucket = this.bucket(kind);
    if (meta.name === undefined || meta.name === '') {
      let candidate = `${meta.generateName ?? ''}${randomSuffix()}`;
      while (bucket.has(objKey(ns, candidate))) candidate = `${meta.generateName ?? ''}${randomSuffix()}`;
      meta.name = candidate;
    }
    const name = meta.name;
    if (bucket.has(objKey(ns, name))) throw alreadyExists(kind.group, kind.plural, name);
    if (kind.namespaced) meta.namespace = ns;
    else delete meta.namespace;
    if (opts.http === true) {
      if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
        // What etcd3 storage answers (as an internal error) for a create that carries an RV.
        throw new ApiStatusError(500, 'InternalError', 'Internal error occurred: resourceVersion should not be set on objects to be created');
      }
      if (kind.hasStatus) delete obj.status;
      delete meta.deletionTimestamp;
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = nowTimestamp();
    if (kind.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    obj.apiVersion = apiVersionOf(kind);
    obj.kind = kind.kind;
    this.defaulter.apply(kind, obj);
    this.defaulter.onWrite(kind, obj);
    this.decorate(kind, obj);
    if (opts.http === true) this.check(kind, obj);
    if (opts.dryRun === true) return obj;
    this.rv++;
    meta.resourceVersion = String(this.rv);
    bucket.set(objKey(ns, name), obj);
    this.defaulter.committed(kind, objKey(ns, name), obj);
    this.afterWrite(kind, obj);
    this.emit('ADDED', kind, obj);
    return this.present(kind, obj);
  }

  update(kind: KindInfo, namespace: string | undefined, name: string, input: KubeObject, opts: WriteOptions = {}): KubeObject {
    const ns = this.nsOf(kind, namespace ?? input.metadata?.namespace);
    const bucket = this.bucket(kind);
    const old = bucket.get(objKey(ns, name));
    if (old === undefined) throw notFound(kind.group, kind.plural, name);
    const body = jsonClone(input);
    const bodyMeta: ObjectMeta = isRecord(body.metadata) ? body.metadata : {};
    if (bodyMeta.name !== undefined && bodyMeta.name !== name) {
      throw badRequest(`the name of the object (${bodyMeta.name}) does not match the name on the URL (${name})`);
    }
    if (kind.namespaced && bodyMeta.namespace !== undefined && bodyMeta.namespace !== '' && bodyMeta.namespace !== ns) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const oldMeta = old.metadata ?? {};
    if (opts.http === true) {
      const rv = bodyMeta.resourceVersion;
      if (rv !== undefined && rv !== '' && rv !== oldMeta.resourceVersion) throw conflict(kind.group, kind.plural, name);
    }
    let next: KubeObject;
    if (opts.http === true && opts.subresource === 'status') {
      next = jsonClone(old);
      if (body.status === undefined) delete next.status;
      else next.status = body.status;
    } else {
      next = body;
      next.metadata = bodyMeta;
      if (opts.http === true && kind.hasStatus) {
        if (old.status === undefined) delete next.status;
        else next.status = jsonClone(old.status);
      }
    }
    keepAllocatedServiceFields(kind, old, next);
    const meta: ObjectMeta = next.metadata ?? {};
    next.metadata = meta;
    meta.name = name;
    if (kind.namespaced) meta.namespace = ns;
    else delete meta.namespace;
    meta.uid = oldMeta.uid;
    meta.creationTimestamp = oldMeta.creationTimestamp;
    if (oldMeta.deletionTimestamp !== undefined) meta.deletionTimestamp = oldMeta.deletionTimestamp;
    else delete meta.deletionTimestamp;
    if (kind.tracksGeneration) {
      // Custom resources: status changes count only when status is not a subresource.
      const spec = kind.hasStatus ? withoutMetaAndStatus : withoutMeta;
      meta.generation = oldMeta.generation ?? 1;
      if (spec(next) !== spec({ ...old, apiVersion: next.apiVersion, kind: next.kind })) meta.generation = (oldMeta.generation ?? 1) + 1;
    } else {
      delete meta.generation;
    }
    delete meta.generateName;
    if (oldMeta.generateName !== undefined) meta.generateName = oldMeta.generateName;
    next.apiVersion = apiVersionOf(kind);
    next.kind = kind.kind;
    meta.resourceVersion = oldMeta.resourceVersion;
    if (opts.subresource !== 'status') {
      this.defaulter.onSpecUpdate(kind, next);
      this.defaulter.onUpdate(kind, old, next);
    }
    this.defaulter.onWrite(kind, next);
    this.decorate(kind, next);
    if (opts.http === true) this.check(kind, next);
    // A write that changes nothing is not a write: no new RV, no event (as a real server).
    if (comparable(next) === comparable({ ...old, apiVersion: next.apiVersion, kind: next.kind })) {
      return this.present(kind, old);
    }
    if (opts.dryRun === true) return this.present(kind, next);
    const removing = meta.deletionTimestamp !== undefined && (meta.finalizers === undefined || meta.finalizers.length === 0);
    if (removing) this.beforeDelete(kind, next);
    this.rv++;
    meta.resourceVersion = String(this.rv);
    if (removing) {
      bucket.delete(objKey(ns, name));
      this.defaulter.committed(kind, objKey(ns, name), undefined);
      this.emit('DELETED', kind, next);
      return this.present(kind, next);
    }
    bucket.set(objKey(ns, name), next);
    this.defaulter.committed(kind, objKey(ns, name), next);
    this.afterWrite(kind, next);
    this.emit('MODIFIED', kind, next, old);
    return this.present(kind, next);
  }

  /** Removes the object (or, with finalizers, marks it with a deletionTimestamp) and returns it. */
  delete(kind: KindInfo, namespace: string | undefined, name: string, opts: DeleteOptions = {}): KubeObject {
    const ns = this.nsOf(kind, namespace);
    const bucket = this.bucket(kind);
    const old = bucket.get(objKey(ns, name));
    if (old === undefined) throw notFound(kind.group, kind.plural, name);
    const pre = opts.preconditions;
    const uidMismatch = pre?.uid !== undefined && pre.uid !== old.metadata?.uid;
    const rvMismatch = pre?.resourceVersion !== undefined && pre.resourceVersion !== old.metadata?.resourceVersion;
    if (uidMismatch || rvMismatch) throw conflict(kind.group, kind.plural, name);
    const next = jsonClone(old);
    const meta: ObjectMeta = next.metadata ?? {};
    next.metadata = meta;
    if (opts.dryRun === true) return this.present(kind, next);
    if (meta.finalizers !== undefined && meta.finalizers.length > 0) {
      if (meta.deletionTimestamp !== undefined) return this.present(kind, old);
      this.rv++;
      meta.deletionTimestamp = nowTimestamp();
      meta.deletionGracePeriodSeconds = 0;
      meta.resourceVersion = String(this.rv);
      bucket.set(objKey(ns, name), next);
      this.emit('MODIFIED', kind, next, old);
      return this.present(kind, next);
    }
    this.beforeDelete(kind, next);
    this.rv++;
    meta.resourceVersion = String(this.rv);
    bucket.delete(objKey(ns, name));
    this.defaulter.committed(kind, objKey(ns, name), undefined);
    this.emit('DELETED', kind, next);
    return this.present(kind, next);
  }

  // ---- CustomResourceDefinitions ------------------------------------------------------------

  /** A CRD is Established and NamesAccepted as soon as it is stored (no real controller needed). */
  private decorate(kind: KindInfo, obj: KubeObject): void {
    if (storageKey(kind) !== CRD_KEY) return;
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const names = isRecord(spec.names) ? spec.names : {};
    const now = nowTimestamp();
    const previous = isRecord(obj.status) && Array.isArray(obj.status.conditions) ? obj.status.conditions.filter(isRecord) : [];
    // Keep the first transition time so that rewriting an unchanged CRD stays a no-op.
    const cond = (type: string, reason: string, message: string): Record<string, unknown> => ({
      type,
      status: 'True',
      lastTransitionTime: previous.find((c) => c.type === type && c.status === 'True')?.lastTransitionTime ?? now,
      reason,
      message,
    });
    const versions = Array.isArray(spec.versions) ? spec.versions : [];
    obj.status = {
      acceptedNames: names,
      conditions: [
        cond('NamesAccepted', 'NoConflicts', 'no conflicts found'),
        cond('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
      ],
      storedVersions: versions.filter((v) => isRecord(v) && v.storage === true).map((v) => (isRecord(v) ? v.name : '')),
    };
  }

  private crdKinds(obj: KubeObject): KindInfo[] {
    const spec = isRecord(obj.spec) ? obj.spec : {};
    const names = isRecord(spec.names) ? spec.names : {};
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const strs = (v: unknown): string[] | undefined =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
    const group = str(spec.group);
    const plural = str(names.plural);
    const kind = str(names.kind);
    if (group === undefined || plural === undefined || kind === undefined) return [];
    const out: KindInfo[] = [];
    for (const v of Array.isArray(spec.versions) ? spec.versions : []) {
      if (!isRecord(v) || v.served === false) continue;
      const version = str(v.name);
      if (version === undefined) continue;
      const sub = isRecord(v.subresources) ? v.subresources : {};
      out.push(
        kindInfo({
          group,
          version,
          plural,
          kind,
          namespaced: spec.scope !== 'Cluster',
          hasStatus: isRecord(sub.status),
          singular: str(names.singular) ?? kind.toLowerCase(),
          listKind: str(names.listKind) ?? `${kind}List`,
          shortNames: strs(names.shortNames) ?? [],
          ...(strs(names.categories) === undefined ? {} : { categories: strs(names.categories) ?? [] }),
        }),
      );
    }
    return out;
  }

  private afterWrite(kind: KindInfo, obj: KubeObject): void {
    if (storageKey(kind) !== CRD_KEY) return;
    for (const k of this.kinds()) {
      if (this.crdKinds(obj).some((n) => n.group === k.group && n.plural === k.plural)) this.unregisterKind(k.group, k.version, k.plural);
    }
    for (const k of this.crdKinds(obj)) this.registerKind(k);
  }

  /** Deleting a CRD first deletes all its custom resources (as a real server) and stops serving them. */
  private beforeDelete(kind: KindInfo, obj: KubeObject): void {
    if (storageKey(kind) !== CRD_KEY) return;
    const crKinds = this.crdKinds(obj);
    const first = crKinds[0];
    if (first === undefined) return;
    for (const k of crKinds) this.unregisterKind(k.group, k.version, k.plural);
    const bucket = this.bucket(first);
    for (const o of [...bucket.values()]) {
      const name = o.metadata?.name ?? '';
      this.rv++;
      const gone = jsonClone(o);
      gone.metadata = { ...(gone.metadata ?? {}), resourceVersion: String(this.rv) };
      bucket.delete(objKey(o.metadata?.namespace ?? '', name));
      this.emit('DELETED', first, gone);
    }
  }
}
