import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
// Types only: the speaker talks to the API server through the lite client (src/k8s/lite/).
import type { KubernetesObject, V1EndpointSlice, V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import type { Clock, Timer } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import { METALLB_API_VERSION, parseConfigObjects } from '../config/index.js';
import type { LabelSelector } from '../config/label-selector.js';
import type { Config } from '../config/types.js';
import { ConfigError, FileError } from '../errors.js';
import { formatHostPort, parseHostPort, type HostPort } from '../ip/host-port.js';
import { registerK8sClientMetrics, type K8sClientMetrics } from '../k8s/client-metrics.js';
import { EventRecorder, type EventSubject } from '../k8s/events.js';
import { describeError, errorStatus } from '../k8s/api-errors.js';
import { ResilientInformerCore as ResilientInformer, type BackoffOptions } from '../k8s/informer-core.js';
import type { LiteClient } from '../k8s/lite/client.js';
import { liteEventWriter } from '../k8s/lite/events.js';
import { liteInformerOptions } from '../k8s/lite/informer.js';
import { slimEndpointSlice, slimL2Status, slimNode, slimService } from '../k8s/slim.js';
import type { PeerConfig } from '../membership/membership.js';
import { WorkerMembership } from '../membership/worker-membership.js';
import type { Logger } from '../observability/logger.js';
import { checkSecret } from '../standalone/standalone-config.js';
import { configWouldStrand, strandMessage } from './config-strand.js';
import { peersFromPods } from './k8s-peers.js';
import { DesiredMemo, kubernetesDesiredState, type KubernetesDesired } from './kubernetes-desired.js';
import { CreatedL2Statuses, diffL2Statuses, type AnnouncedService, type L2StatusAction, type L2StatusLike } from './l2-status.js';
import type { ServiceSpec } from './ownership.js';
import { SpeakerRuntime } from './runtime.js';
import { strictArpWarning, type ArpSysctl } from './strict-arp.js';

export const SPEAKER_COMPONENT = 'l2vip-speaker';
export const DEFAULT_MEMBERSHIP_PORT = 7946;

export interface KubernetesSpeakerOptions {
  /** The API server (src/k8s/lite/client.ts). */
  readonly client: LiteClient;
  /** This node (`spec.nodeName` of the speaker pod). */
  readonly nodeName: string;
  /** Where IPAddressPools, L2Advertisements, ServiceL2Statuses and the speaker pods live. */
  readonly namespace: string;
  /** Membership address; undefined: the node's InternalIP, port 7946. */
  readonly bind?: string | undefined;
  readonly secretFile: string;
  readonly peerSelector: LabelSelector;
  /** The selector as text, for the pod watch. */
  readonly peerSelectorText: string;
  readonly localDelivery: boolean;
  readonly loadBalancerClass?: string | undefined;
  readonly ignoreExcludeLb: boolean;
  /** `--virtual-mac`: Services get a virtual MAC unless annotated otherwise (docs/virtual-mac.md). */
  readonly virtualMac?: boolean | undefined;
  readonly metricsListen?: string | undefined;
  /** The speaker pod's name (owner of its ServiceL2Status objects), from $POD_NAME. */
  readonly podName?: string | undefined;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly watchBackoff?: BackoffOptions;
}

type CustomObject = KubernetesObject & { spec?: unknown; status?: unknown };

const METALLB = { group: 'metallb.io', version: 'v1beta1' } as const;
/**
 * Informer events come in bursts (a relist, 5 000 Services created at once, each then updated
 * twice by the controller): the first change is decided at once, later ones at most once per
 * RECOMPUTE_INTERVAL_MS after the previous pass ended. A pass over N Services costs O(N) (the
 * core re-elects them all), so a stream of N changes costs a bounded number of passes per
 * second instead of one per 20 ms burst, which made it O(N²) and starved the event loop. Each
 * pass that changes the services also changes the digest this node publishes, and every peer
 * re-elects everything on it: twice a second at most.
 */
const RECOMPUTE_INTERVAL_MS = 500;
/**
 * ...and at least this many times as long as the last pass took, so that passes use at most
 * about a tenth of the event loop however many Services there are (the failure detector and
 * the responders share it).
 */
const RECOMPUTE_COST_FACTOR = 10;
/** ServiceL2Status syncs: one at a time, the next at least this long after the previous one ended. */
const STATUS_INTERVAL_MS = 250;
/** A sync still writing after this long, with something changed meanwhile, stops taking new writes and diffs again. */
const STATUS_REDIFF_MS = 1_000;
/** ServiceL2Status writes in flight at once (as the controller's Service writes). */
const STATUS_WRITE_CONCURRENCY = 8;
/** ServiceL2Status objects are also checked this often, so a failed write is retried. */
const STATUS_RESYNC_MS = 30_000;

/**
 * The Kubernetes speaker: informers on Services, EndpointSlices, Nodes, the speaker pods and
 * MetalLB's IPAddressPools / L2Advertisements feed the pure rules (kubernetes-desired.ts); the
 * result is the desired state of the one speaker runtime, whose membership (peers from the
 * speaker pods) says who is live. It writes ServiceL2Status objects and Events for what it
 * announces. With the API server away it keeps the last state and keeps failing over.
 */
export class KubernetesSpeaker {
  readonly runtime: SpeakerRuntime;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly client: LiteClient;
  private readonly services: ResilientInformer<V1Service>;
  private readonly slices: ResilientInformer<V1EndpointSlice>;
  private readonly nodes: ResilientInformer<V1Node>;
  private readonly pods: ResilientInformer<V1Pod>;
  private readonly pools: ResilientInformer<CustomObject>;
  private readonly adverts: ResilientInformer<CustomObject>;
  private readonly statuses: ResilientInformer<CustomObject>;
  private readonly informers: ResilientInformer<KubernetesObject>[];
  private readonly recorder: EventRecorder;
  private membership: WorkerMembership | undefined;
  private metrics: K8sClientMetrics | undefined;

  private config: Config | undefined;
  private configSignature = '';
  private configStale = false;
  private lastConfigProblem = '';
  private desired: KubernetesDesired = { services: [], skipped: [] };
  /** Decisions of the last pass: a pass decides again only the Services whose objects changed. */
  private readonly memo = new DesiredMemo();
  /** Clock time the last recompute / status sync ended (the next waits its interval after it). */
  private lastRecomputeEnd = -Infinity;
  private lastRecomputeMs = 0;
  private lastStatusEnd = -Infinity;
  private statusRunning = false;
  /** Something changed while a sync ran: another follows it. */
  private statusPending = false;
  /** The owners and live nodes at the last membership change that scheduled a sync. */
  private statusOwners: ReadonlyMap<string, string | undefined> | undefined;
  private statusLive = '';
  private ownersCheck: Timer | undefined;
  private lastVirtualMacIssues = '[]';
  private started = false;
  private stopping = false;
  private recomputeTimer: Timer | undefined;
  private statusTimer: Timer | undefined;
  private resyncTimer: Timer | undefined;
  private statusChain: Promise<void> = Promise.resolve();
  /** ServiceL2Status objects created but not yet reported by the informer. */
  private readonly created = new CreatedL2Statuses();
  /** Services this node announced at the last status sync, for nodeAssigned / announceFailed Events. */
  private announcedBefore = new Set<string>();
  private failedBefore = new Set<string>();
  private peersSignature = '';

  constructor(private readonly o: KubernetesSpeakerOptions) {
    this.log = o.log.child({ component: 'k8s-speaker' });
    this.clock = o.clock ?? systemClock;
    const client = o.client;
    this.client = client;
    const ns = o.namespace;
    const backoff = o.watchBackoff;
    const changed = (): void => this.scheduleRecompute();
    const common = { log: this.log, ...(backoff !== undefined ? { backoff } : {}), onAdd: changed, onUpdate: changed, onDelete: changed };
    // Every informer over the lite list-and-watch cache; only the fields the rules read are kept
    // of the bulky kinds (src/k8s/slim.ts).
    this.services = new ResilientInformer<V1Service>(liteInformerOptions(client, {
      ...common,
      name: 'services',
      path: '/api/v1/services',
      list: () => client.list<V1Service>('/api/v1/services'),
      slim: slimService,
    }));
    this.slices = new ResilientInformer<V1EndpointSlice>(liteInformerOptions(client, {
      ...common,
      name: 'endpointslices',
      path: '/apis/discovery.k8s.io/v1/endpointslices',
      list: () => client.list<V1EndpointSlice>('/apis/discovery.k8s.io/v1/endpointslices'),
      slim: slimEndpointSlice,
    }));
    this.nodes = new ResilientInformer<V1Node>(liteInformerOptions(client, { ...common, name: 'nodes', path: '/api/v1/nodes', list: () => client.list<V1Node>('/api/v1/nodes'), slim: slimNode }));
    this.pods = new ResilientInformer<V1Pod>(liteInformerOptions(client, {
      ...common,
      name: 'pods',
      path: `/api/v1/namespaces/${ns}/pods`,
      labelSelector: o.peerSelectorText,
      list: () => client.list<V1Pod>(`/api/v1/namespaces/${ns}/pods`, { labelSelector: o.peerSelectorText }),
    }));
    const customList = (plural: string) => () => client.list<CustomObject>(`/apis/${METALLB.group}/${METALLB.version}/namespaces/${ns}/${plural}`);
    this.pools = new ResilientInformer<CustomObject>(liteInformerOptions(client, {
      ...common,
      name: 'ipaddresspools',
      path: `/apis/${METALLB.group}/${METALLB.version}/namespaces/${ns}/ipaddresspools`,
      list: customList('ipaddresspools'),
    }));
    this.adverts = new ResilientInformer<CustomObject>(liteInformerOptions(client, {
      ...common,
      name: 'l2advertisements',
      path: `/apis/${METALLB.group}/${METALLB.version}/namespaces/${ns}/l2advertisements`,
      list: customList('l2advertisements'),
    }));
    const statusChanged =
      (deleted: boolean) =>
      (o: CustomObject): void => {
        this.created.reported(o.metadata?.name, deleted);
        this.scheduleStatusSync();
      };
    this.statuses = new ResilientInformer<CustomObject>(liteInformerOptions(client, {
      ...common,
      onAdd: statusChanged(false),
      onUpdate: statusChanged(false),
      onDelete: statusChanged(true),
      name: 'servicel2statuses',
      path: `/apis/${METALLB.group}/${METALLB.version}/namespaces/${ns}/servicel2statuses`,
      list: customList('servicel2statuses'),
      slim: slimL2Status,
    }));
    this.informers = [this.services, this.slices, this.nodes, this.pods, this.pools, this.adverts, this.statuses] as unknown as ResilientInformer<KubernetesObject>[];
    this.recorder = new EventRecorder({
      writer: liteEventWriter(client),
      component: SPEAKER_COMPONENT,
      instance: o.nodeName,
      log: this.log,
      onError: () => this.metrics?.updateErrors.inc(),
    });
    this.runtime = this.makeRuntime();
    // Another host claims a VIP this node announces: a Warning on the Service, once per episode.
    this.runtime.onConflict((e) => {
      const svc = e.service === undefined ? undefined : this.serviceRef(e.service);
      if (svc === undefined) return;
      const ours = e.ourMac === undefined ? '' : ` (ours there: ${e.ourMac})`;
      const what = e.action === 'defend' ? 'defending it' : e.action === 'yield' ? 'yielding it' : 'not ours to keep';
      this.recorder.record(svc, {
        type: 'Warning',
        reason: 'ipConflict',
        message: `another host with MAC ${e.otherMac} claims ${e.ip} on ${e.iface} of node ${this.o.nodeName}${ours}: ${what}`,
      });
    });
  }

  private makeRuntime(): SpeakerRuntime {
    // The membership is made at start, once the node's address and the peers are known.
    return new SpeakerRuntime({
      node: this.o.nodeName,
      logger: this.o.log,
      clock: this.clock,
      membership: {
        view: () => this.requireMembership().view(),
        onChange: (h) => this.requireMembership().onChange(h),
        onRefute: (h) => this.requireMembership().onRefute(h),
        setMetadata: (m) => this.requireMembership().setMetadata(m),
        start: () => this.requireMembership().start(),
        leave: () => this.membership?.leave() ?? Promise.resolve(),
        stop: () => this.membership?.stop() ?? Promise.resolve(),
        stats: () => this.requireMembership().stats(),
      },
      localDelivery: this.o.localDelivery,
      metricsListen: this.o.metricsListen,
      mode: 'kubernetes',
      extraMetrics: (registry) => {
        this.metrics = registerK8sClientMetrics(registry, {
          configLoaded: () => this.config !== undefined,
          configStale: () => this.configStale,
          watchErrors: () => this.informers.map((i, n) => ({ resource: INFORMER_NAMES[n] ?? 'unknown', errors: i.errors })),
        });
      },
      notReady: () => (this.informers.every((i) => i.synced) ? [] : ['the initial lists from the API server are not complete']),
    });
  }

  private requireMembership(): WorkerMembership {
    if (this.membership === undefined) throw new Error('membership used before the Kubernetes speaker started');
    return this.membership;
  }

  /**
   * Lists everything, works out the membership address and peers, then starts the runtime with
   * the desired state of the initial lists: a restart never announces from a partial view.
   */
  async start(): Promise<void> {
    const secret = await readSecret(this.o.secretFile);
    for (const i of this.informers) i.start();
    try {
      await Promise.all(this.informers.map((i) => i.whenSynced()));
      const bind = this.bindAddress();
      const peers = this.peers(bind.port);
      this.peersSignature = JSON.stringify(peers);
      this.membership = new WorkerMembership({ self: this.o.nodeName, peers, secret, bind: formatHostPort(bind.host, bind.port), logger: this.o.log });
      this.reloadConfig();
      this.desired = this.compute();
      await this.runtime.start({ services: this.desired.services });
      this.membership.onChange(() => this.membershipChanged());
      this.started = true;
      this.warnStrictArp();
      this.scheduleStatusSync();
      this.log.info(
        { node: this.o.nodeName, bind: formatHostPort(bind.host, bind.port), peers: peers.length, services: this.desired.services.length, configLoaded: this.config !== undefined },
        'kubernetes speaker started',
      );
    } catch (err) {
      await Promise.all(this.informers.map((i) => i.stop()));
      throw err;
    }
  }

  /** Hands over (SIGTERM), removes this node's ServiceL2Status objects, stops watching. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.recomputeTimer?.cancel();
    this.statusTimer?.cancel();
    this.resyncTimer?.cancel();
    this.ownersCheck?.cancel();
    await this.runtime.stop();
    if (this.started) {
      // Nothing is announced from here any more: the successor writes its own objects.
      await this.withTimeout(this.syncStatuses([]), 3_000);
      await this.withTimeout(this.recorder.flush(), 2_000);
    }
    await Promise.all(this.informers.map((i) => i.stop()));
    this.started = false;
  }

  /** Owner of each service as this node sees it. */
  owners(): ReadonlyMap<string, string | undefined> {
    return this.runtime.owners();
  }

  private async withTimeout(p: Promise<void>, ms: number): Promise<void> {
    let t: Timer | undefined;
    await Promise.race([p, new Promise<void>((r) => (t = this.clock.setTimeout(r, ms)))]);
    t?.cancel();
  }

  private bindAddress(): HostPort {
    if (this.o.bind !== undefined) return parseHostPort(this.o.bind, '--bind');
    const node = this.nodes.get(this.o.nodeName);
    if (node === undefined) throw new ConfigError(`--node-name ${this.o.nodeName}: no such Node in the cluster`, [{ path: '--node-name', message: 'no such Node' }]);
    const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (ip === undefined) {
      throw new ConfigError(`Node ${this.o.nodeName} has no InternalIP address: pass --bind ADDR:PORT`, [{ path: '--bind', message: 'no InternalIP' }]);
    }
    return parseHostPort(formatHostPort(ip, DEFAULT_MEMBERSHIP_PORT), `Node ${this.o.nodeName} InternalIP`);
  }

  private peers(port: number): PeerConfig[] {
    return peersFromPods(this.pods.list(), { namespace: this.o.namespace, selector: this.o.peerSelector, port }).filter((p) => p.name !== this.o.nodeName);
  }

  private scheduleRecompute(): void {
    if (!this.started || this.stopping || this.recomputeTimer !== undefined) return;
    // Leading edge: a change after a quiet time is decided in the next turn (with whatever else
    // arrived in this one); during a stream, once per interval.
    const interval = Math.max(RECOMPUTE_INTERVAL_MS, RECOMPUTE_COST_FACTOR * this.lastRecomputeMs);
    const wait = Math.max(0, this.lastRecomputeEnd + interval - this.clock.now());
    this.recomputeTimer = this.clock.setTimeout(() => {
      this.recomputeTimer = undefined;
      const t0 = this.clock.now();
      this.recompute();
      this.lastRecomputeEnd = this.clock.now();
      this.lastRecomputeMs = this.lastRecomputeEnd - t0;
    }, wait);
  }

  private recompute(): void {
    if (!this.started || this.stopping) return;
    this.metrics?.updates.inc();
    const port = this.bindPort();
    const peers = this.peers(port);
    const sig = JSON.stringify(peers);
    if (sig !== this.peersSignature) {
      this.peersSignature = sig;
      this.membership?.setPeers(peers);
      this.log.info({ peers: peers.map((p) => p.name) }, 'speaker peers changed');
    }
    this.reloadConfig();
    const before = this.desired.services;
    this.desired = this.compute();
    // Most events change nothing the core sees (the controller's annotation patch, a status
    // already known): the core's re-election of every Service is skipped then.
    if (sameServices(before, this.desired.services)) return;
    this.runtime.setDesired({ services: this.desired.services });
    this.scheduleStatusSync();
  }

  /**
   * Membership changes come many times a second (suspicions, peers' metadata); the
   * ServiceL2Status objects depend only on the owners (the core keeps the same map object while
   * they stay the same) and on which nodes are live. Checked in the next turn, after the core
   * has re-elected for the change, whatever the order of the handlers.
   */
  private membershipChanged(): void {
    if (this.ownersCheck !== undefined) return;
    this.ownersCheck = this.clock.setTimeout(() => {
      this.ownersCheck = undefined;
      const owners = this.runtime.owners();
      const live = [...this.requireMembership().view().alive].sort().join(',');
      if (owners === this.statusOwners && live === this.statusLive) return;
      this.statusOwners = owners;
      this.statusLive = live;
      this.scheduleStatusSync();
    }, 0);
  }

  private bindPort(): number {
    return this.o.bind !== undefined ? parseHostPort(this.o.bind, '--bind').port : DEFAULT_MEMBERSHIP_PORT;
  }

  private compute(): KubernetesDesired {
    if (this.config === undefined) return { services: [], skipped: [] };
    const d = kubernetesDesiredState(
      {
        self: this.o.nodeName,
        config: this.config,
        services: this.services.list(),
        endpointSlices: this.slices.list(),
        nodes: this.nodes.list(),
        options: { loadBalancerClass: this.o.loadBalancerClass, ignoreExcludeLb: this.o.ignoreExcludeLb, virtualMac: this.o.virtualMac },
      },
      this.memo,
    );
    // Logged when they change, not on every recompute.
    const vmKey = JSON.stringify(d.virtualMacIssues ?? []);
    if (vmKey !== this.lastVirtualMacIssues) {
      this.lastVirtualMacIssues = vmKey;
      for (const i of d.virtualMacIssues ?? []) this.log.warn({ service: i.service, reason: 'virtual-mac' }, i.message);
    }
    if (d.skipped.length > 0 && this.log.isLevelEnabled('debug')) {
      this.log.debug({ skipped: d.skipped.length, reused: this.memo.reused, reasons: [...new Set(d.skipped.map((s) => s.reason))] }, 'services nobody announces');
    }
    return d;
  }

  /**
   * Pools and L2Advertisements into a Config. An invalid one, or one that would leave an IP this
   * node announces without a pool (MetalLB's stale config), is refused: the last valid one stays.
   */
  private reloadConfig(): void {
    // Typed lists carry no per-item kind: it comes from the informer the object is in.
    const asConfig = (kind: string) => (o: CustomObject) => ({ apiVersion: o.apiVersion ?? METALLB_API_VERSION, kind: o.kind ?? kind, metadata: o.metadata, spec: o.spec });
    const objects = [...this.pools.list().map(asConfig('IPAddressPool')), ...this.adverts.list().map(asConfig('L2Advertisement'))];
    objects.sort((a, b) => (`${a.kind}/${a.metadata?.name ?? ''}` < `${b.kind}/${b.metadata?.name ?? ''}` ? -1 : 1));
    const signature = JSON.stringify(objects.map((x) => [x.kind, x.metadata?.name, x.metadata?.labels, x.spec]));
    if (signature === this.configSignature) return;
    const result = parseConfigObjects(objects, { unknownFields: 'warn' });
    const refuse = (problem: string): void => {
      this.configStale = true;
      if (problem !== this.lastConfigProblem) {
        this.lastConfigProblem = problem;
        this.log.error({ reason: problem }, this.config === undefined ? 'invalid configuration; waiting for a valid one' : 'configuration refused; keeping the last valid one');
      }
    };
    if (result.config === undefined) {
      refuse(result.errors.map((e) => `${e.object ? `${e.object.kind}/${e.object.name} ` : ''}${e.path}: ${e.message}`).join('; '));
      return;
    }
    const announced = new Map<string, string[]>();
    for (const s of this.desired.services) if (this.runtime.owners().get(s.name) === this.o.nodeName) announced.set(s.name, [...s.addresses]);
    const stranded = configWouldStrand(result.config, announced);
    if (stranded.length > 0) {
      refuse(strandMessage(stranded));
      return;
    }
    for (const w of result.warnings) this.log.warn({ code: w.code, path: w.path || undefined, reason: w.message }, 'configuration warning');
    if (this.configStale) this.log.info('configuration valid again');
    this.config = result.config;
    this.configSignature = signature;
    this.configStale = false;
    this.lastConfigProblem = '';
  }

  /**
   * One sync at a time, each diffing what this node announces when it starts against the
   * objects then known; a change during a sync makes another follow it, STATUS_INTERVAL_MS after.
   */
  private scheduleStatusSync(): void {
    if (!this.started || this.stopping) return;
    if (this.statusRunning) {
      this.statusPending = true;
      return;
    }
    if (this.statusTimer !== undefined) return;
    const wait = Math.max(0, this.lastStatusEnd + STATUS_INTERVAL_MS - this.clock.now());
    this.statusTimer = this.clock.setTimeout(() => {
      this.statusTimer = undefined;
      void this.runStatusSync();
    }, wait);
  }

  private async runStatusSync(): Promise<void> {
    if (!this.started || this.stopping) return;
    this.statusRunning = true;
    this.statusPending = false;
    try {
      await this.syncStatuses();
    } finally {
      this.statusRunning = false;
      this.lastStatusEnd = this.clock.now();
      if (this.statusPending) {
        this.statusPending = false;
        this.scheduleStatusSync();
      }
      // Retry failed writes and catch up with anything missed.
      this.scheduleResync();
    }
  }

  private scheduleResync(): void {
    this.resyncTimer?.cancel();
    this.resyncTimer = this.clock.setTimeout(() => this.scheduleStatusSync(), STATUS_RESYNC_MS);
  }

  /** The services this node announces now, with their interfaces. */
  private announcedNow(): AnnouncedService[] {
    const owners = this.runtime.owners();
    return this.desired.services
      .filter((s: ServiceSpec) => owners.get(s.name) === this.o.nodeName)
      .map((s) => ({ service: s.name, interfaces: s.interfaces }));
  }

  /**
   * ServiceL2Status objects and Events for what this node announces (`final`: the given list,
   * written to the end, at stop; otherwise what it announces when the sync starts); one sync
   * at a time.
   */
  private syncStatuses(final?: readonly AnnouncedService[]): Promise<void> {
    this.statusChain = this.statusChain
      .then(() => this.applyStatuses(final ?? this.announcedNow(), final !== undefined))
      .catch((err: unknown) => this.log.warn({ reason: describeError(err) }, 'ServiceL2Status sync failed'));
    return this.statusChain;
  }

  private async applyStatuses(announced: readonly AnnouncedService[], final: boolean): Promise<void> {
    if (!final) this.recordAnnounceEvents(announced);
    const ns = this.o.namespace;
    const cache = this.statuses.list() as L2StatusLike[];
    const pending = this.created.pending(this.statuses.lastListApplied, (name) => this.statuses.get(name, ns) !== undefined);
    const existing: L2StatusLike[] = pending.length > 0 ? [...cache, ...pending] : cache;
    const pod = this.o.podName === undefined ? undefined : this.pods.get(this.o.podName, this.o.namespace);
    const uid = pod?.metadata?.uid;
    const actions = diffL2Statuses(
      {
        node: this.o.nodeName,
        namespace: this.o.namespace,
        speakerPod: this.o.podName !== undefined && uid !== undefined ? { name: this.o.podName, uid } : undefined,
        live: this.membership?.view().alive,
      },
      announced,
      existing,
    );
    // A few Services at a time (thousands are created after a restart or a bulk change); one
    // Service's actions in order.
    const byService = new Map<string, L2StatusAction[]>();
    for (const a of actions) byService.set(a.service, [...(byService.get(a.service) ?? []), a]);
    const queue = [...byService.values()];
    let taken = 0;
    const startedAt = this.clock.now();
    // Thousands of writes take seconds: when what this node announces changed meanwhile, the
    // rest of this list may be stale; stop taking new writes and let the next sync diff again.
    const stale = (): boolean => !final && (this.stopping || (this.statusPending && this.clock.now() - startedAt >= STATUS_REDIFF_MS));
    const worker = async (): Promise<void> => {
      for (let next = queue[taken++]; next !== undefined && !stale(); next = queue[taken++]) for (const a of next) await this.applyStatus(a);
    };
    await Promise.all(Array.from({ length: Math.min(STATUS_WRITE_CONCURRENCY, queue.length) }, worker));
  }

  private async applyStatus(a: L2StatusAction): Promise<void> {
    const base = `/apis/${METALLB.group}/${METALLB.version}/namespaces/${this.o.namespace}/servicel2statuses`;
    const one = (name: string): string => `${base}/${encodeURIComponent(name)}`;
    try {
      if (a.type === 'create') {
        const made = await this.client.create<CustomObject>(base, a.object);
        const name = made.metadata?.name;
        if (name === undefined) return;
        this.created.add({ ...a.object, metadata: { ...a.object.metadata, name } }, this.statuses.listsStarted);
        // The CRD has a status subresource: status given on create is dropped.
        await this.client.mergePatch(`${one(name)}/status`, { status: a.object.status });
      } else if (a.type === 'update') {
        if (a.metadataChanged) {
          const { labels, ownerReferences } = a.object.metadata;
          await this.client.mergePatch(one(a.name), { metadata: { labels, ownerReferences: ownerReferences ?? null } });
        }
        if (a.statusChanged) await this.client.mergePatch(`${one(a.name)}/status`, { status: a.object.status });
      } else {
        await this.client.delete(one(a.name)).catch((err: unknown) => {
          if (errorStatus(err) !== 404) throw err;
        });
        this.created.forget(a.name);
      }
      this.metrics?.updates.inc();
    } catch (err) {
      this.metrics?.updateErrors.inc();
      this.log.warn({ service: a.service, action: a.type, reason: describeError(err) }, 'cannot write ServiceL2Status; retrying later');
    }
  }

  /** nodeAssigned when this node starts announcing a Service; announceFailed while it owns it but cannot answer. */
  private recordAnnounceEvents(announced: readonly AnnouncedService[]): void {
    const now = new Set(announced.map((a) => a.service));
    const unanswered = new Set(this.runtime.announcer.unanswered().map((u) => u.ip));
    const failed = new Set<string>();
    const specs = new Map(this.desired.services.map((s) => [s.name, s]));
    for (const name of now) {
      const spec = specs.get(name);
      const svc = this.serviceRef(name);
      if (spec === undefined || svc === undefined) continue;
      if (spec.addresses.some((ip) => unanswered.has(ip))) {
        failed.add(name);
        if (!this.failedBefore.has(name)) {
          this.recorder.record(svc, { type: 'Warning', reason: 'announceFailed', message: `node ${this.o.nodeName} owns the service but cannot answer for it: see the speaker's /healthz` });
        }
      } else if (!this.announcedBefore.has(name)) {
        this.recorder.record(svc, { type: 'Normal', reason: 'nodeAssigned', message: `announcing from node "${this.o.nodeName}" with protocol "layer2"` });
      }
    }
    this.announcedBefore = new Set([...now].filter((n) => !failed.has(n)));
    this.failedBefore = failed;
  }

  private serviceRef(name: string): EventSubject | undefined {
    const i = name.indexOf('/');
    const svc = this.services.get(name.slice(i + 1), name.slice(0, i));
    if (svc?.metadata?.name === undefined) return undefined;
    return {
      kind: 'Service',
      apiVersion: 'v1',
      name: svc.metadata.name,
      namespace: svc.metadata.namespace ?? name.slice(0, i),
      ...(svc.metadata.uid !== undefined ? { uid: svc.metadata.uid } : {}),
    };
  }

  /** MetalLB's strictARP requirement with kube-proxy in IPVS mode: warn with the fix. */
  private warnStrictArp(): void {
    const read = (path: string): number | undefined => {
      try {
        return Number(readFileSync(path, 'utf8').trim());
      } catch {
        return undefined;
      }
    };
    const conf = (iface: string): ArpSysctl => ({
      arpIgnore: read(`/proc/sys/net/ipv4/conf/${iface}/arp_ignore`),
      arpAnnounce: read(`/proc/sys/net/ipv4/conf/${iface}/arp_announce`),
    });
    const interfaces = new Map(
      this.runtime.links
        .interfaces()
        .filter((i) => i.mac?.length === 6 && !i.flags.loopback && i.name !== 'kube-ipvs0')
        .map((i) => [i.name, conf(i.name)] as const),
    );
    const warning = strictArpWarning({ kubeIpvs: existsSync('/sys/class/net/kube-ipvs0'), all: conf('all'), interfaces });
    if (warning !== undefined) this.log.warn({ reason: 'strict-arp' }, warning);
  }
}

/** The same desired services: the same objects, or equal ones (a virtual MAC makes a copy per pass). */
function sameServices(a: readonly ServiceSpec[], b: readonly ServiceSpec[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined || y === undefined) return false;
    if (
      x.name !== y.name ||
      x.virtualMac !== y.virtualMac ||
      x.weights !== y.weights ||
      x.nodeInterfaces !== y.nodeInterfaces ||
      !sameList(x.addresses, y.addresses) ||
      !sameList(x.nodes, y.nodes) ||
      !sameList(x.interfaces ?? [], y.interfaces ?? []) ||
      (x.interfaces === undefined) !== (y.interfaces === undefined)
    ) {
      return false;
    }
  }
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const INFORMER_NAMES = ['services', 'endpointslices', 'nodes', 'pods', 'ipaddresspools', 'l2advertisements', 'servicel2statuses'];

/** The membership key: at least 32 bytes, as in standalone mode. */
async function readSecret(file: string): Promise<Uint8Array> {
  const bytes = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new FileError(`--secret-file ${file}: cannot read it (${err.code ?? err.message})`);
  });
  const { secret, problem } = checkSecret(bytes, file, '--secret-file');
  if (secret === undefined) throw new ConfigError(`--secret-file: ${problem?.message ?? 'unusable'}`, problem ? [problem] : []);
  return secret;
}
