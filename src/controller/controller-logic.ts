import { Allocator, ALLOCATION_CODES, ANNOTATIONS, DEPRECATED_ANNOTATIONS, serviceKey, type ServiceInput } from '../allocator/index.js';
import type { NamespaceLabels } from '../allocator/pool-selection.js';
import { CONFIG_WARNING_CODES, parseConfigObjects } from '../config/index.js';
import type { Config, ConfigIssue, ConfigParseResult } from '../config/types.js';
import { parseIp } from '../ip/address.js';
import type { EventRecord } from '../k8s/events.js';

/**
 * The parts of a core/v1 Service the controller reads, as plain data (client-node's V1Service
 * fits). Everything in this file is pure: objects in, decisions out; controller.ts performs them.
 */
export interface ServiceObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec?: {
    readonly type?: string;
    readonly loadBalancerIP?: string;
    readonly loadBalancerClass?: string;
    readonly ipFamilyPolicy?: string;
    readonly ipFamilies?: readonly string[];
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly externalTrafficPolicy?: string;
    readonly selector?: Readonly<Record<string, string>>;
    readonly ports?: readonly { readonly protocol?: string; readonly port: number }[];
  };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly { readonly ip?: string }[] } };
}

/** What to do for one Service. Undefined fields mean "leave as it is". */
export interface ServiceDecision {
  readonly key: string;
  /** New status.loadBalancer.ingress IPs ([] clears it). */
  readonly ingress?: readonly string[];
  /** New metallb.io/ip-allocated-from-pool value; null removes it (and the deprecated spelling). */
  readonly poolAnnotation?: string | null;
  readonly events: readonly EventRecord[];
  /** allocated: holds IPs; failed: could not get any; released: not a LoadBalancer any more; ignored: not ours. */
  readonly outcome: 'allocated' | 'failed' | 'released' | 'ignored';
  /** The Service let go of addresses it held: another Service may now get them. */
  readonly freed: boolean;
}

export const EVENT_REASONS = {
  ipAllocated: 'IPAllocated',
  allocationFailed: 'AllocationFailed',
  clearAssignment: 'ClearAssignment',
  allocationWarning: 'AllocationWarning',
  invalidConfiguration: 'InvalidConfiguration',
} as const;

export function keyOf(svc: ServiceObject): string {
  return serviceKey({ namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '' });
}

/** IPs in status.loadBalancer.ingress (hostname-only entries skipped). */
export function statusIps(svc: ServiceObject): string[] {
  const out: string[] = [];
  for (const i of svc.status?.loadBalancer?.ingress ?? []) if (i.ip !== undefined && i.ip !== '') out.push(i.ip);
  return out;
}

/**
 * spec.ipFamilies, or when the API server left it empty (old objects, some fakes), the families
 * of spec.clusterIPs / spec.clusterIP in order ("None" and unparsable entries skipped).
 */
export function ipFamiliesOf(svc: ServiceObject): string[] | undefined {
  const families = svc.spec?.ipFamilies;
  if (families && families.length > 0) return [...families];
  const ips = svc.spec?.clusterIPs && svc.spec.clusterIPs.length > 0 ? svc.spec.clusterIPs : svc.spec?.clusterIP ? [svc.spec.clusterIP] : [];
  const out: string[] = [];
  for (const text of ips) {
    const ip = parseIp(text);
    if (ip) out.push(ip.family === 4 ? 'IPv4' : 'IPv6');
  }
  return out.length > 0 ? out : undefined;
}

/** The allocator's view of a Service. */
export function toServiceInput(svc: ServiceObject): ServiceInput {
  const spec = svc.spec ?? {};
  const families = ipFamiliesOf(svc);
  return {
    namespace: svc.metadata?.namespace ?? '',
    name: svc.metadata?.name ?? '',
    ...(svc.metadata?.labels ? { labels: svc.metadata.labels } : {}),
    ...(svc.metadata?.annotations ? { annotations: svc.metadata.annotations } : {}),
    spec: {
      ...(spec.type !== undefined ? { type: spec.type } : {}),
      ...(spec.loadBalancerIP !== undefined ? { loadBalancerIP: spec.loadBalancerIP } : {}),
      ...(spec.loadBalancerClass !== undefined ? { loadBalancerClass: spec.loadBalancerClass } : {}),
      ...(spec.ipFamilyPolicy !== undefined ? { ipFamilyPolicy: spec.ipFamilyPolicy } : {}),
      ...(families !== undefined ? { ipFamilies: families } : {}),
      ...(spec.externalTrafficPolicy !== undefined ? { externalTrafficPolicy: spec.externalTrafficPolicy } : {}),
      ...(spec.selector !== undefined ? { selector: spec.selector } : {}),
      ...(spec.ports !== undefined ? { ports: spec.ports.map((p) => ({ port: p.port, ...(p.protocol !== undefined ? { protocol: p.protocol } : {}) })) } : {}),
    },
  };
}

/** The sharing key, as MetalLB's SharingKey (the stable spelling wins whenever present). */
export function sharingKeyOf(svc: ServiceObject): string {
  const a = svc.metadata?.annotations ?? {};
  return a[ANNOTATIONS.allowSharedIP] ?? a[DEPRECATED_ANNOTATIONS.allowSharedIP] ?? '';
}

/**
 * True when a change from `before` to `after` calls for reprocessing every Service (MetalLB does
 * so when a sharing key changes): an address may have become usable for another Service.
 */
export function sharingKeyChanged(before: ServiceObject | undefined, after: ServiceObject): boolean {
  return before !== undefined && sharingKeyOf(before) !== sharingKeyOf(after);
}

/**
 * The order in which Services are (re)processed: those already holding IPs first, most IPs
 * first, so after a restart or a config change every held address is claimed back before a new
 * Service could take it (MetalLB's reprocessAll); then the rest. Ties by key, for determinism.
 */
export function processingOrder<T extends ServiceObject>(services: readonly T[]): T[] {
  return [...services]
    .map((s) => ({ s, n: statusIps(s).length, k: keyOf(s) }))
    .sort((a, b) => b.n - a.n || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0))
    .map((x) => x.s);
}

function quote(ips: readonly string[]): string {
  return `[${ips.map((ip) => JSON.stringify(ip)).join(' ')}]`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The pool annotation as currently set (stable spelling first). */
function currentPoolAnnotation(svc: ServiceObject): string | undefined {
  const a = svc.metadata?.annotations ?? {};
  return a[ANNOTATIONS.ipAllocatedFromPool] ?? a[DEPRECATED_ANNOTATIONS.ipAllocatedFromPool];
}

/**
 * Turns Services into decisions with an Allocator (MetalLB's convergeBalancer). Keeps, per
 * Service, the last failure reported, so a Service that keeps failing for the same reason gets
 * one AllocationFailed Event, not one per reprocess.
 */
export class ServiceReconciler {
  private readonly lastFailure = new Map<string, string>();

  constructor(readonly allocator: Allocator) {}

  reconcile(svc: ServiceObject): ServiceDecision {
    const key = keyOf(svc);
    const current = statusIps(svc);
    const before = this.allocator.get(key);
    const r = this.allocator.allocate(toServiceInput(svc), current);
    const events: EventRecord[] = [];
    const poolNow = currentPoolAnnotation(svc);
    const after = this.allocator.get(key)?.ips ?? [];
    const freed = (before?.ips ?? []).some((ip) => !after.includes(ip));
    if (!r.ok && r.code === ALLOCATION_CODES.otherClass) {
      this.lastFailure.delete(key);
      return { key, events, outcome: 'ignored', freed };
    }
    if (!r.ok && r.code === ALLOCATION_CODES.notLoadBalancer) {
      this.lastFailure.delete(key);
      return {
        key,
        events,
        outcome: 'released',
        freed,
        ...(current.length > 0 ? { ingress: [] } : {}),
        ...(poolNow !== undefined ? { poolAnnotation: null } : {}),
      };
    }
    if (r.cleared) {
      events.push({
        type: 'Warning',
        reason: EVENT_REASONS.clearAssignment,
        message: `current IP ${quote(r.cleared.ips)} for "${key}" not allowed by config, will attempt for new IP assignment: ${r.cleared.reason}`,
      });
    }
    if (!r.ok) {
      const message = `Failed to allocate IP for "${key}": ${r.reason}`;
      if (this.lastFailure.get(key) !== message || r.cleared) {
        events.push({ type: 'Warning', reason: EVENT_REASONS.allocationFailed, message });
      }
      this.lastFailure.set(key, message);
      return {
        key,
        events,
        outcome: 'failed',
        freed,
        ...(current.length > 0 ? { ingress: [] } : {}),
        ...(poolNow !== undefined ? { poolAnnotation: null } : {}),
      };
    }
    this.lastFailure.delete(key);
    const changed = !sameList(before?.ips ?? [], r.ips) && !sameList(current, r.ips);
    if (changed) events.push({ type: 'Normal', reason: EVENT_REASONS.ipAllocated, message: `Assigned IP ${quote(r.ips)}` });
    if (r.warning && changed) events.push({ type: 'Warning', reason: EVENT_REASONS.allocationWarning, message: r.warning.reason });
    return {
      key,
      events,
      outcome: 'allocated',
      freed,
      ...(!sameList(current, r.ips) ? { ingress: r.ips } : {}),
      ...(poolNow !== r.pool ? { poolAnnotation: r.pool } : {}),
    };
  }

  /** The Service is gone: free its addresses. */
  forget(key: string): boolean {
    this.lastFailure.delete(key);
    return this.allocator.release(key);
  }
}

/** Result of reading the IPAddressPools: the config to use and what to report. */
export interface PoolConfigResult {
  /** The new config, when the pools are valid. */
  readonly config?: Config;
  readonly errors: readonly ConfigIssue[];
  readonly warnings: readonly ConfigIssue[];
}

/**
 * Reads the IPAddressPools on their own (L2Advertisements are the speaker's business, so an
 * invalid one never stops allocation). Unknown fields are warnings: the API server prunes
 * fields its CRD lacks, and a newer CRD must not break an older l2vip.
 */
export function readPools(objects: readonly unknown[]): PoolConfigResult {
  const r: ConfigParseResult = parseConfigObjects(objects, { unknownFields: 'warn' });
  const warnings = r.warnings.filter((w) => w.code !== CONFIG_WARNING_CODES.poolNotAdvertised);
  return { ...(r.config ? { config: r.config } : {}), errors: r.errors, warnings };
}

/** One Warning Event per invalid object: kind/name and the messages. */
export function configErrorEvents(errors: readonly ConfigIssue[]): { object: { kind: string; name: string; namespace?: string }; event: EventRecord }[] {
  const byObject = new Map<string, { object: { kind: string; name: string; namespace?: string }; lines: string[] }>();
  for (const e of errors) {
    if (!e.object || e.object.name === '') continue;
    const k = JSON.stringify([e.object.kind, e.object.namespace ?? '', e.object.name]);
    const entry = byObject.get(k) ?? { object: e.object, lines: [] as string[] };
    entry.lines.push(`${e.path ? `${e.path}: ` : ''}${e.message} (${e.code})`);
    byObject.set(k, entry);
  }
  return [...byObject.values()].map(({ object, lines }) => ({
    object,
    event: {
      type: 'Warning',
      reason: EVENT_REASONS.invalidConfiguration,
      message: `invalid configuration, keeping the last valid one: ${lines.join('; ')}`,
    },
  }));
}

export type { NamespaceLabels };
