/**
 * ServiceL2Status: "which node announces this Service, on which interfaces", one object per
 * announced Service, written by the announcing speaker (MetalLB
 * internal/k8s/controllers/layer2_status_controller.go). A pure diff: desired (what this node
 * announces now) against existing objects (an informer's cache of ServiceL2Status in
 * `--namespace`) into create / update / delete actions that a thin adapter carries out.
 *
 * MetalLB's rules, kept:
 *   - `metallb.io/v1beta1` ServiceL2Status, `generateName: l2-`, in the speaker's namespace;
 *     labels `metallb.io/node`, `metallb.io/service-name`, `metallb.io/service-namespace`;
 *     `status.{node, serviceName, serviceNamespace}`; `status.interfaces[].name` the configured
 *     interfaces, absent when the Service is announced on every interface.
 *   - Owner reference to the speaker pod when it is known, so the objects go with the pod.
 *   - A Service this node announces: keep one object of ours, delete our extra ones and the
 *     other nodes' objects for it (the new leader cleans up after the old one).
 *   - A Service this node does not announce: delete our objects for it, never another node's.
 *   - Objects without the three labels are not ours to judge (MetalLB's event filter) and are left alone.
 * Differences: interfaces are sorted (MetalLB lists a Go set, in random order, so its status can
 * change without cause); with `live` given, another node's object is deleted only when that node
 * is not live, so two nodes announcing during a partition do not delete each other's objects
 * in a loop.
 */
import type { Labels } from '../config/label-selector.js';

export const L2_STATUS_API_VERSION = 'metallb.io/v1beta1';
export const L2_STATUS_KIND = 'ServiceL2Status';
export const L2_STATUS_GENERATE_NAME = 'l2-';
export const LABEL_ANNOUNCE_NODE = 'metallb.io/node';
export const LABEL_SERVICE_NAME = 'metallb.io/service-name';
export const LABEL_SERVICE_NAMESPACE = 'metallb.io/service-namespace';

/** A Service this node announces now. */
export interface AnnouncedService {
  /** "namespace/name". */
  readonly service: string;
  /** Configured interfaces (ServiceSpec.interfaces); undefined or empty: every interface. */
  readonly interfaces?: readonly string[] | undefined;
}

export interface OwnerReferenceLike {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface L2StatusContext {
  /** This node's name. */
  readonly node: string;
  /** `--namespace`: where the objects live. */
  readonly namespace: string;
  /** The speaker pod, when known: owner of the objects. */
  readonly speakerPod?: { readonly name: string; readonly uid: string } | undefined;
  /** Nodes live in our membership; when given, other nodes' objects are deleted only for nodes not in it. */
  readonly live?: ReadonlySet<string> | undefined;
}

export interface L2StatusBody {
  readonly node: string;
  readonly serviceName: string;
  readonly serviceNamespace: string;
  readonly interfaces?: readonly { readonly name: string }[];
}

/** A ServiceL2Status as written: `generateName` on create, `name` on update. */
export interface L2StatusObject {
  readonly apiVersion: typeof L2_STATUS_API_VERSION;
  readonly kind: typeof L2_STATUS_KIND;
  readonly metadata: {
    readonly name?: string;
    readonly generateName?: string;
    readonly namespace: string;
    readonly labels: Labels;
    readonly ownerReferences?: readonly OwnerReferenceLike[];
  };
  readonly status: L2StatusBody;
}

/** An existing ServiceL2Status as the informer holds it (a plain object of the CRD). */
export interface L2StatusLike {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly labels?: Labels;
    readonly ownerReferences?: readonly OwnerReferenceLike[];
  };
  readonly status?: {
    readonly node?: string;
    readonly serviceName?: string;
    readonly serviceNamespace?: string;
    readonly interfaces?: readonly { readonly name?: string }[];
  };
}

/**
 * What to do. `create`: POST `object` (it has `generateName`); the CRD has a status
 * subresource, so the API server drops `status` on create and the adapter writes it to
 * `/status` of the created object. `update`: patch `name`'s metadata (labels, ownerReferences)
 * and/or status as flagged. `delete`: delete `name` (a 404 is success).
 */
export type L2StatusAction =
  | { readonly type: 'create'; readonly service: string; readonly object: L2StatusObject }
  | {
      readonly type: 'update';
      readonly service: string;
      readonly name: string;
      readonly object: L2StatusObject;
      readonly metadataChanged: boolean;
      readonly statusChanged: boolean;
    }
  | { readonly type: 'delete'; readonly service: string; readonly name: string; readonly node: string };

function splitService(service: string): { namespace: string; name: string } {
  const i = service.indexOf('/');
  return i < 0 ? { namespace: '', name: service } : { namespace: service.slice(0, i), name: service.slice(i + 1) };
}

function podRef(ctx: L2StatusContext): OwnerReferenceLike | undefined {
  const p = ctx.speakerPod;
  return p === undefined ? undefined : { apiVersion: 'v1', kind: 'Pod', name: p.name, uid: p.uid };
}

/** The object this node should have for `announced` (with `generateName`, as created). */
export function desiredL2Status(ctx: L2StatusContext, announced: AnnouncedService): L2StatusObject {
  const { namespace, name } = splitService(announced.service);
  const ifaces = [...new Set(announced.interfaces ?? [])].sort();
  const owner = podRef(ctx);
  return {
    apiVersion: L2_STATUS_API_VERSION,
    kind: L2_STATUS_KIND,
    metadata: {
      generateName: L2_STATUS_GENERATE_NAME,
      namespace: ctx.namespace,
      labels: { [LABEL_ANNOUNCE_NODE]: ctx.node, [LABEL_SERVICE_NAME]: name, [LABEL_SERVICE_NAMESPACE]: namespace },
      ...(owner !== undefined ? { ownerReferences: [owner] } : {}),
    },
    status: {
      node: ctx.node,
      serviceName: name,
      serviceNamespace: namespace,
      ...(ifaces.length > 0 ? { interfaces: ifaces.map((n) => ({ name: n })) } : {}),
    },
  };
}

function sameStatus(have: L2StatusLike['status'], want: L2StatusBody): boolean {
  if (have === undefined) return false;
  if (have.node !== want.node || have.serviceName !== want.serviceName || have.serviceNamespace !== want.serviceNamespace) return false;
  const a = (have.interfaces ?? []).map((i) => i.name ?? '').sort();
  const b = (want.interfaces ?? []).map((i) => i.name);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hasOwner(obj: L2StatusLike, owner: OwnerReferenceLike | undefined): boolean {
  if (owner === undefined) return true;
  return (obj.metadata?.ownerReferences ?? []).some((r) => r.kind === owner.kind && r.apiVersion === owner.apiVersion && r.name === owner.name && r.uid === owner.uid);
}

/** Existing owner references with ours upserted (controllerutil.SetOwnerReference: same kind and name replaced). */
function withOwner(existing: readonly OwnerReferenceLike[], owner: OwnerReferenceLike): OwnerReferenceLike[] {
  return [...existing.filter((r) => !(r.kind === owner.kind && r.apiVersion === owner.apiVersion && r.name === owner.name)), owner];
}

/**
 * Create / update / delete actions that make the existing ServiceL2Status objects match
 * `announced` (the Services this node announces now). Deterministic: actions sorted by
 * Service, deletes of a Service before its create or update. Objects outside `ctx.namespace`
 * or without the three labels are ignored.
 */
export function diffL2Statuses(ctx: L2StatusContext, announced: readonly AnnouncedService[], existing: readonly L2StatusLike[]): L2StatusAction[] {
  const byService = new Map<string, { name: string; node: string; obj: L2StatusLike }[]>();
  for (const obj of existing) {
    const m = obj.metadata;
    const labels = m?.labels;
    const name = m?.name;
    if (m === undefined || labels === undefined || name === undefined || m.namespace !== ctx.namespace) continue;
    const node = labels[LABEL_ANNOUNCE_NODE];
    const svcName = labels[LABEL_SERVICE_NAME];
    const svcNs = labels[LABEL_SERVICE_NAMESPACE];
    if (node === undefined || svcName === undefined || svcNs === undefined) continue;
    const key = `${svcNs}/${svcName}`;
    const list = byService.get(key) ?? [];
    list.push({ name, node, obj });
    byService.set(key, list);
  }
  for (const list of byService.values()) list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const want = new Map<string, AnnouncedService>();
  for (const a of announced) want.set(a.service, a);
  const owner = podRef(ctx);
  const keys = [...new Set([...byService.keys(), ...want.keys()])].sort();
  const actions: L2StatusAction[] = [];
  for (const service of keys) {
    const have = byService.get(service) ?? [];
    const a = want.get(service);
    if (a === undefined) {
      for (const h of have) if (h.node === ctx.node) actions.push({ type: 'delete', service, name: h.name, node: h.node });
      continue;
    }
    const desired = desiredL2Status(ctx, a);
    const ours = have.filter((h) => h.node === ctx.node);
    // Keep the object that already says the right thing, so a restart does not rewrite them all.
    const keep = ours.find((h) => sameStatus(h.obj.status, desired.status) && hasOwner(h.obj, owner)) ?? ours[0];
    for (const h of have) {
      if (h === keep) continue;
      if (h.node !== ctx.node && ctx.live?.has(h.node) === true) continue;
      actions.push({ type: 'delete', service, name: h.name, node: h.node });
    }
    if (keep === undefined) {
      actions.push({ type: 'create', service, object: desired });
      continue;
    }
    const statusChanged = !sameStatus(keep.obj.status, desired.status);
    const metadataChanged = !hasOwner(keep.obj, owner);
    if (!statusChanged && !metadataChanged) continue;
    const refs = keep.obj.metadata?.ownerReferences ?? [];
    const refsOut = owner !== undefined ? withOwner(refs, owner) : refs;
    actions.push({
      type: 'update',
      service,
      name: keep.name,
      object: {
        ...desired,
        metadata: {
          name: keep.name,
          namespace: desired.metadata.namespace,
          labels: desired.metadata.labels,
          ...(refsOut.length > 0 ? { ownerReferences: refsOut } : {}),
        },
      },
      metadataChanged,
      statusChanged,
    });
  }
  return actions;
}

/** How many names of objects reported deleted before their creation was answered are remembered. */
const EARLY_DELETES_KEPT = 1024;

/**
 * ServiceL2Status objects this node created that its informer may not show yet: the diff must
 * count them as existing, or the next sync creates a second object for the same Service.
 *
 * An entry lasts until the informer reports the object (added, updated or deleted: from then
 * on its cache is right about it), this node deletes it, or a list started after the creation
 * has been applied to the cache (a watch restarted meanwhile may have lost its events; the list
 * has it if it exists). Never on a timer: an informer that lags behind a burst of writes by
 * more than any fixed time would otherwise make the diff create the object again.
 */
export class CreatedL2Statuses {
  private readonly byName = new Map<string, { readonly object: L2StatusLike; readonly listsStarted: number }>();
  /** Reported deleted before the create's answer came back (the watch can be faster than the answer). */
  private readonly deletedEarly = new Set<string>();

  get size(): number {
    return this.byName.size;
  }

  /**
   * Just created (the API server's answer): `object` as written with its `metadata.name`;
   * `listsStarted`: how many lists the informer had started when the answer came.
   */
  add(object: L2StatusLike, listsStarted: number): void {
    const name = object.metadata?.name;
    if (name === undefined || this.deletedEarly.delete(name)) return;
    this.byName.set(name, { object, listsStarted });
  }

  /** The informer reported `name` (an add, an update or a delete). */
  reported(name: string | undefined, deleted: boolean): void {
    if (name === undefined) return;
    if (this.byName.delete(name) || !deleted) return;
    this.deletedEarly.add(name);
    if (this.deletedEarly.size > EARLY_DELETES_KEPT) {
      const oldest = this.deletedEarly.values().next().value;
      if (oldest !== undefined) this.deletedEarly.delete(oldest);
    }
  }

  /** This node deleted it (or found it gone). */
  forget(name: string): void {
    this.byName.delete(name);
  }

  /**
   * The objects to count besides the informer's cache. `lastListApplied`: the number of the
   * latest list applied to the cache; `cached`: whether the cache holds `name`.
   */
  pending(lastListApplied: number, cached: (name: string) => boolean): L2StatusLike[] {
    const out: L2StatusLike[] = [];
    for (const [name, e] of this.byName) {
      if (lastListApplied > e.listsStarted || cached(name)) this.byName.delete(name);
      else out.push(e.object);
    }
    return out;
  }
}
