import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Namespace,
  type V1Service,
} from '@kubernetes/client-node';
import { Allocator, ANNOTATIONS, DEPRECATED_ANNOTATIONS } from '../allocator/index.js';
import type { Clock, Timer } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import { METALLB_API_VERSION } from '../config/index.js';
import type { Config } from '../config/types.js';
import { KubernetesApiError } from '../errors.js';
import { EventRecorder, type EventSubject } from '../k8s/events.js';
import { coreEventWriter } from '../k8s/events-client-node.js';
import { describeError, errorStatus } from '../k8s/api-errors.js';
import { ResilientInformer, type BackoffOptions } from '../k8s/informer.js';
import { LeaseElector } from '../k8s/lease.js';
import { patchAnnotations, patchCustomStatus, patchServiceIngress } from '../k8s/patch.js';
import type { Logger } from '../observability/logger.js';
import {
  configErrorEvents,
  keyOf,
  processingOrder,
  readPools,
  ServiceReconciler,
  sharingKeyOf,
  type ServiceDecision,
} from './controller-logic.js';
import { controllerMetrics, type ControllerMetrics } from './metrics.js';
import { poolStatus, poolStatusEqual } from './pool-status.js';

export const LEASE_NAME = 'l2vip-controller';
export const COMPONENT = 'l2vip-controller';
/**
 * Service writes in flight at once. Allocation itself is pure and fast; at 5 000 Services the
 * time to "all allocated" is the writes' round trips (two per Service), so more of them in
 * flight, within what an API server serves without a sweat (its default max-requests-inflight
 * is 400).
 */
const WRITE_CONCURRENCY = 16;

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  /** Where IPAddressPools and the Lease live. */
  readonly namespace: string;
  /** spec.loadBalancerClass handled; undefined: only Services without a class. */
  readonly loadBalancerClass?: string;
  /** Lease holderIdentity and Event source: the pod name, else the host name. */
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Informer restart back-off. */
  readonly watchBackoff?: BackoffOptions;
}

type PoolObject = KubernetesObject & { spec?: unknown; status?: unknown };

const POOLS = { group: 'metallb.io', version: 'v1beta1', plural: 'ipaddresspools' } as const;

/**
 * The Kubernetes controller: informers on Services, IPAddressPools (in its namespace) and
 * Namespaces feed the pure ServiceReconciler; its decisions become status patches, annotation
 * patches and Events. Only the replica holding the Lease allocates and writes; the others keep
 * their caches warm and take over within the lease duration.
 */
export class Controller {
  readonly metrics: ControllerMetrics;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly services: ResilientInformer<V1Service>;
  private readonly pools: ResilientInformer<PoolObject>;
  private readonly namespaces: ResilientInformer<V1Namespace>;
  private readonly elector: LeaseElector;
  private readonly recorder: EventRecorder;

  private config: Config | undefined;
  private configSignature = '';
  private capacity = new Map<string, { v4: bigint; v6: bigint }>();
  private configLoaded = false;
  private configStale = false;
  private lastConfigErrors = '';
  private leading = false;
  private reconciler: ServiceReconciler | undefined;
  private readonly dirty = new Set<string>();
  private reprocessPending = false;
  private draining: Promise<void> | undefined;
  private readonly retries = new Map<string, { delay: number; timer?: Timer }>();
  private readonly sharingKeys = new Map<string, string>();
  private readonly namespaceLabelSigs = new Map<string, string>();
  private readonly poolStatusWritten = new Map<string, string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly deferred = new Set<string>();
  private reloadScheduled = false;
  private stopped = false;

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log.child({ component: 'controller' });
    this.clock = opts.clock ?? systemClock;
    const kc = opts.kubeConfig;
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.metrics = controllerMetrics({
      pools: () =>
        (this.config?.pools ?? []).map((p) => ({
          name: p.name,
          stats: this.reconciler?.allocator.poolStats(p.name),
          capacity: this.capacity.get(p.name) ?? { v4: 0n, v6: 0n },
        })),
      configLoaded: () => this.configLoaded,
      configStale: () => this.configStale,
      leader: () => this.leading,
      watchErrors: () => [
        { resource: 'services', errors: this.services.errors },
        { resource: 'ipaddresspools', errors: this.pools.errors },
        { resource: 'namespaces', errors: this.namespaces.errors },
      ],
    });
    this.recorder = new EventRecorder({
      writer: coreEventWriter(this.core),
      component: COMPONENT,
      instance: opts.identity,
      log: this.log,
      onError: () => this.metrics.updateErrors.inc(),
    });
    const backoff = opts.watchBackoff ?? {};
    const onSynced = (): void => this.maybeStart();
    this.services = new ResilientInformer<V1Service>(kc, {
      name: 'services',
      path: '/api/v1/services',
      list: () => this.core.listServiceForAllNamespaces(),
      log: this.log,
      backoff,
      onAdd: (s) => this.serviceChanged(s),
      onUpdate: (s) => this.serviceChanged(s),
      onDelete: (s) => this.serviceDeleted(s),
      onSynced,
    });
    this.pools = new ResilientInformer<PoolObject>(kc, {
      name: 'ipaddresspools',
      path: `/apis/${POOLS.group}/${POOLS.version}/namespaces/${opts.namespace}/${POOLS.plural}`,
      list: async () =>
        (await this.custom.listNamespacedCustomObject({ ...POOLS, namespace: opts.namespace })) as KubernetesListObject<PoolObject>,
      log: this.log,
      backoff,
      onAdd: () => this.scheduleReload(),
      onUpdate: () => this.scheduleReload(),
      onDelete: () => this.scheduleReload(),
      onSynced,
    });
    this.namespaces = new ResilientInformer<V1Namespace>(kc, {
      name: 'namespaces',
      path: '/api/v1/namespaces',
      list: () => this.core.listNamespace(),
      log: this.log,
      backoff,
      onAdd: (n) => this.namespaceChanged(n),
      onUpdate: (n) => this.namespaceChanged(n),
      onDelete: (n) => this.namespaceChanged(n, true),
      onSynced,
    });
    this.elector = new LeaseElector({
      api: kc.makeApiClient(CoordinationV1Api),
      namespace: opts.namespace,
      name: LEASE_NAME,
      identity: opts.identity,
      leaseDurationSeconds: opts.leaseDurationSeconds ?? 15,
      clock: this.clock,
      log: this.log,
      onStartedLeading: () => {
        this.log.info({ identity: opts.identity }, 'leading: allocating');
        this.leading = true;
        this.maybeStart();
      },
      onStoppedLeading: () => {
        this.log.info({ identity: opts.identity }, 'no longer leading: standing by');
        this.leading = false;
        this.deactivate();
      },
    });
  }

  /** Initial lists synced and a configuration loaded (standby replicas too). */
  get ready(): boolean {
    return this.synced() && this.configLoaded;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.services.start();
    this.pools.start();
    this.namespaces.start();
    this.elector.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.elector.stop();
    this.deactivate();
    await this.draining;
    await Promise.all([this.services.stop(), this.pools.stop(), this.namespaces.stop()]);
    await this.recorder.flush();
  }

  private synced(): boolean {
    return this.services.synced && this.pools.synced && this.namespaces.synced;
  }

  private maybeStart(): void {
    if (!this.synced() || this.stopped) return;
    if (!this.configLoaded) this.reloadConfig();
    if (!this.leading || !this.config || this.reconciler) return;
    const allocator = new Allocator(this.config, {
      namespaceLabels: (ns) => this.namespaceLabels(ns),
      ...(this.opts.loadBalancerClass !== undefined ? { loadBalancerClass: this.opts.loadBalancerClass } : {}),
    });
    this.reconciler = new ServiceReconciler(allocator);
    this.poolStatusWritten.clear();
    const services = this.services.list();
    this.log.info({ services: services.length, pools: this.config.pools.length }, 'initial allocation pass');
    // Services holding IPs first, most IPs first: a restart never moves an address.
    for (const s of processingOrder(services)) this.dirty.add(keyOf(s));
    this.kick();
  }

  private deactivate(): void {
    this.reconciler = undefined;
    this.dirty.clear();
    this.deferred.clear();
    this.reprocessPending = false;
    for (const r of this.retries.values()) r.timer?.cancel();
    this.retries.clear();
  }

  private namespaceLabels(ns: string): Record<string, string> | undefined {
    const obj = this.namespaces.get(ns);
    if (!obj) return undefined;
    // The API server sets this label on every namespace (since 1.22); older objects may lack it.
    return { ...(obj.metadata?.labels ?? {}), 'kubernetes.io/metadata.name': ns };
  }

  private serviceChanged(svc: V1Service): void {
    const key = keyOf(svc);
    const before = this.sharingKeys.get(key);
    const after = sharingKeyOf(svc);
    this.sharingKeys.set(key, after);
    if (!this.reconciler) return;
    // A changed sharing key may free an address another Service waits for (MetalLB reprocesses all).
    if (before !== undefined && before !== after) this.reprocessPending = true;
    this.dirty.add(key);
    this.kick();
  }

  private serviceDeleted(svc: V1Service): void {
    const key = keyOf(svc);
    this.sharingKeys.delete(key);
    if (!this.reconciler) return;
    this.dirty.add(key);
    this.kick();
  }

  private namespaceChanged(ns: V1Namespace, deleted = false): void {
    const name = ns.metadata?.name ?? '';
    const sig = deleted ? '' : JSON.stringify(Object.entries(ns.metadata?.labels ?? {}).sort());
    const before = this.namespaceLabelSigs.get(name);
    if (deleted) this.namespaceLabelSigs.delete(name);
    else this.namespaceLabelSigs.set(name, sig);
    if (!this.reconciler || before === sig) return;
    // Namespace selectors of pools may now match differently.
    if (this.config?.pools.some((p) => (p.serviceAllocation?.namespaceSelectors.length ?? 0) > 0)) {
      this.reprocessPending = true;
      this.kick();
    }
  }

  private scheduleReload(): void {
    if (!this.synced() || this.reloadScheduled) return;
    this.reloadScheduled = true;
    // Coalesce a burst of pool events (a relist, kubectl apply of many) into one reload.
    setImmediate(() => {
      this.reloadScheduled = false;
      if (!this.stopped) this.reloadConfig();
    });
  }

  private reloadConfig(): void {
    const objects = [...this.pools.list()].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
    const signature = JSON.stringify(objects.map((o) => [o.metadata?.name, o.metadata?.labels, o.spec]));
    if (this.configLoaded && signature === this.configSignature) {
      // Back to the configuration in force (the invalid change was undone).
      if (this.configStale) this.log.info('configuration valid again');
      this.configStale = false;
      this.lastConfigErrors = '';
      return;
    }
    // The status we write ourselves must not look like configuration.
    const result = readPools(objects.map((o) => ({ apiVersion: o.apiVersion ?? METALLB_API_VERSION, kind: o.kind ?? 'IPAddressPool', metadata: o.metadata, spec: o.spec })));
    for (const w of result.warnings) {
      this.log.warn({ code: w.code, object: w.object ? `${w.object.kind}/${w.object.name}` : undefined, path: w.path || undefined, reason: w.message }, 'configuration warning');
    }
    if (!result.config) {
      this.configStale = true;
      const sig = JSON.stringify(result.errors.map((e) => [e.code, e.object?.name, e.path, e.message]));
      if (sig !== this.lastConfigErrors) {
        this.lastConfigErrors = sig;
        this.log.error(
          { errors: result.errors.length, reason: result.errors.map((e) => `${e.object?.name ?? ''} ${e.path}: ${e.message}`).join('; ') },
          this.configLoaded ? 'invalid configuration; keeping the last valid one' : 'invalid configuration; waiting for a valid one',
        );
        for (const { object, event } of configErrorEvents(result.errors)) {
          const obj = this.pools.get(object.name, this.opts.namespace);
          this.recorder.record(
            { kind: object.kind, apiVersion: METALLB_API_VERSION, name: object.name, namespace: this.opts.namespace, ...(obj?.metadata?.uid ? { uid: obj.metadata.uid } : {}) },
            event,
          );
        }
      }
      return;
    }
    const first = !this.configLoaded;
    this.configSignature = signature;
    this.config = result.config;
    this.configLoaded = true;
    this.configStale = false;
    this.lastConfigErrors = '';
    const empty = new Allocator(result.config);
    this.capacity = new Map(
      result.config.pools.map((p) => {
        const s = empty.poolStats(p.name);
        return [p.name, { v4: s ? s.assignedV4 + s.availableV4 : 0n, v6: s ? s.assignedV6 + s.availableV6 : 0n }];
      }),
    );
    this.log.info({ pools: result.config.pools.length }, first ? 'configuration loaded' : 'configuration updated');
    if (this.reconciler) {
      const lost = this.reconciler.allocator.setConfig(result.config);
      if (lost.length > 0) this.log.info({ services: lost.length }, 'configuration change removed assigned IPs; re-allocating');
      this.reprocessPending = true;
      this.kick();
    } else {
      this.maybeStart();
    }
  }

  private kick(): void {
    if (this.draining || !this.reconciler) return;
    this.draining = this.drain()
      .catch((err: unknown) => this.log.error({ reason: describeError(err) }, 'processing loop failed'))
      .finally(() => {
        this.draining = undefined;
        if (this.reconciler && (this.dirty.size > 0 || this.reprocessPending)) this.kick();
      });
  }

  private async drain(): Promise<void> {
    const tally = { allocated: 0, failed: 0, released: 0 };
    const failures: string[] = [];
    for (;;) {
      const rec = this.reconciler;
      if (!rec) break;
      if (this.dirty.size === 0) {
        if (!this.reprocessPending) break;
        this.reprocessPending = false;
        for (const s of processingOrder(this.services.list())) this.dirty.add(keyOf(s));
        continue;
      }
      const key = this.dirty.values().next().value as string;
      this.dirty.delete(key);
      // One write at a time per Service, so an older decision never lands after a newer one.
      if (this.inFlight.has(key)) {
        this.deferred.add(key);
        continue;
      }
      const slash = key.indexOf('/');
      const svc = this.services.get(key.slice(slash + 1), key.slice(0, slash));
      this.metrics.updates.inc();
      if (!svc) {
        if (rec.forget(key)) {
          tally.released++;
          this.log.debug({ service: key }, 'service deleted; addresses released');
          this.reprocessPending = true;
        }
        continue;
      }
      const decision = rec.reconcile(svc);
      if (decision.freed) this.reprocessPending = true;
      if (decision.outcome === 'failed' && decision.events.length > 0) {
        tally.failed++;
        if (failures.length < 5) failures.push(`${key}: ${decision.events[decision.events.length - 1]?.message ?? ''}`);
      } else if (decision.ingress !== undefined) {
        if (decision.outcome === 'allocated') tally.allocated++;
        else tally.released++;
      }
      for (const e of decision.events) this.recorder.record(this.subject(svc), e);
      if (decision.ingress === undefined && decision.poolAnnotation === undefined) {
        this.retries.delete(key);
        continue;
      }
      // Allocation is sequential (it is pure and fast); the writes run a few at a time.
      while (this.inFlight.size >= WRITE_CONCURRENCY) await Promise.race(this.inFlight.values());
      const write = this.apply(svc, decision).finally(() => {
        this.inFlight.delete(key);
        if (this.deferred.delete(key)) this.dirty.add(key);
      });
      this.inFlight.set(key, write);
    }
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
    // One summary per batch, not one line per Service (bulk creations, config changes).
    if (tally.failed > 0) this.log.warn({ ...tally, reason: failures.join('; ') }, 'services updated; some allocations failed');
    else if (tally.allocated + tally.released > 0) this.log.info(tally, 'services updated');
    await this.writePoolStatuses();
  }

  private subject(svc: V1Service): EventSubject {
    return {
      kind: 'Service',
      apiVersion: 'v1',
      name: svc.metadata?.name ?? '',
      ...(svc.metadata?.namespace !== undefined ? { namespace: svc.metadata.namespace } : {}),
      ...(svc.metadata?.uid !== undefined ? { uid: svc.metadata.uid } : {}),
    };
  }

  private async apply(svc: V1Service, d: ServiceDecision): Promise<void> {
    if (d.outcome === 'allocated') this.log.debug({ service: d.key, ips: d.ingress }, 'assigned');
    else if (d.outcome === 'failed') this.log.debug({ service: d.key, reason: d.events[d.events.length - 1]?.message }, 'allocation failed');
    const ns = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    try {
      if (d.poolAnnotation !== undefined) {
        const annotations: Record<string, string | null> = { [ANNOTATIONS.ipAllocatedFromPool]: d.poolAnnotation };
        if (svc.metadata?.annotations?.[DEPRECATED_ANNOTATIONS.ipAllocatedFromPool] !== undefined) annotations[DEPRECATED_ANNOTATIONS.ipAllocatedFromPool] = null;
        await patchAnnotations(this.core, ns, name, annotations);
      }
      if (d.ingress !== undefined) await patchServiceIngress(this.core, ns, name, d.ingress);
      this.retries.delete(d.key);
    } catch (err) {
      // Gone meanwhile: the delete event follows.
      if (errorStatus(err) === 404) return;
      this.metrics.updateErrors.inc();
      const e = new KubernetesApiError(`updating Service ${d.key}: ${describeError(err)}`, errorStatus(err), { cause: err });
      this.retryLater(d.key, e);
    }
  }

  private retryLater(key: string, err: KubernetesApiError): void {
    const r = this.retries.get(key) ?? { delay: 500 };
    r.timer?.cancel();
    this.log.warn({ service: key, code: err.code, reason: err.message, retryInMs: r.delay }, 'write failed; will retry');
    const delay = r.delay;
    r.delay = Math.min(delay * 2, 30_000);
    r.timer = this.clock.setTimeout(() => {
      r.timer = undefined;
      if (!this.reconciler) return;
      this.dirty.add(key);
      this.kick();
    }, delay);
    this.retries.set(key, r);
  }

  private async writePoolStatuses(): Promise<void> {
    const rec = this.reconciler;
    if (!rec || !this.config) return;
    for (const pool of this.config.pools) {
      const stats = rec.allocator.poolStats(pool.name);
      const obj = this.pools.get(pool.name, this.opts.namespace);
      if (!stats || !obj) continue;
      const want = poolStatus(stats);
      const sig = `${obj.metadata?.uid ?? ''}${JSON.stringify(want)}`;
      if (this.poolStatusWritten.get(pool.name) === sig) continue;
      if (poolStatusEqual(obj.status, want)) {
        this.poolStatusWritten.set(pool.name, sig);
        continue;
      }
      try {
        await patchCustomStatus(this.custom, { ...POOLS, namespace: this.opts.namespace, name: pool.name }, { ...want });
        this.poolStatusWritten.set(pool.name, sig);
      } catch (err) {
        if (errorStatus(err) === 404) continue;
        this.metrics.updateErrors.inc();
        this.log.warn({ pool: pool.name, reason: describeError(err) }, 'pool status not written');
      }
    }
  }
}
