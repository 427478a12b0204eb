import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import { Announcer } from '../announcer/announcer.js';
import { DEFAULT_GARP_TIMING, type GarpTiming } from '../announcer/garp-schedule.js';
import { toOwnedIp } from '../announcer/owned-ips.js';
import type { Clock } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import { refuseHostAddressVips } from '../delivery/host-state.js';
import { LocalDelivery } from '../delivery/local-delivery.js';
import { InterfaceError } from '../errors.js';
import { spawnRunner } from '../host/command-runner.js';
import { AfPacketSocket } from '../netdev/afpacket-socket.js';
import { arpAndNdpFilter } from '../netdev/bpf.js';
import { ineligibilityMessage, structuralIneligibility } from '../netdev/eligibility.js';
import { Ipv6GroupJoiner } from '../netdev/ipv6-group-joiner.js';
import { LinkWatcher, type LinkWatcherPort } from '../netdev/link-watcher.js';
import { installCrashHandler } from '../host/crash-handler.js';
import { HeapTrimmer } from '../host/heap-trimmer.js';
import { loadNative, type NativeAddon } from '../netdev/native.js';
import { StallWatch } from '../observability/health.js';
import { droppedLogBytesTotal, type Logger } from '../observability/logger.js';
import { speakerMetrics, startMetricsServer } from '../observability/metrics.js';
import type { MembershipStats, MembershipView } from '../membership/membership.js';
import { ConflictEpisodes, type ConflictEpisode } from './conflict-episodes.js';
import { OwnershipHistory } from './failover.js';
import { NftVirtualMacs } from '../netdev/virtual-mac-device.js';
import { SoloMembership } from './solo-membership.js';
import { VirtualMacGate } from './virtual-mac-gate.js';
import { Speaker, type DesiredState, type MembershipPort } from './speaker.js';
import { buildStatus, statusJsonSlices, type StatusDocument, type StatusInput } from './status.js';

/** A membership the runtime can also stop without a handoff (when a start fails half-way). */
export type RuntimeMembership = MembershipPort & {
  stop(): Promise<void>;
  stats?(): MembershipStats;
  view(): MembershipView;
};

export interface SpeakerRuntimeOptions {
  /** This node's name: the election key, and what peers call it. */
  readonly node: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** The failure detector to elect over; undefined: this node alone, always the owner (`l2vip announce`). */
  readonly membership?: RuntimeMembership;
  readonly garp?: GarpTiming;
  /** Make this host accept the VIPs' traffic (local routes, lo addresses). */
  readonly localDelivery: boolean;
  /** How long a graceful stop keeps answering after publishing `draining` (see Speaker). */
  readonly handoffMs?: number;
  /** Serve /metrics, /healthz, /readyz and /status here (IP:port, or :port). */
  readonly metricsListen?: string | undefined;
  /** Flap damping (see Speaker); undefined: the default. */
  readonly holdDownMs?: number | undefined;
  /** Metrics of the mode (e.g. the Kubernetes client's), added to the speaker's registry. */
  readonly extraMetrics?: ((registry: Registry) => void) | undefined;
  /** Why the mode is not ready yet (e.g. caches not synced), on top of the runtime's own reasons. */
  readonly notReady?: (() => readonly string[]) | undefined;
  /** What /status reports as the mode: standalone, announce or kubernetes (default: announce without a membership, else standalone). */
  readonly mode?: string;
  /** Wall clock (ms since the epoch) for the times /status reports; default Date.now. */
  readonly wallClock?: () => number;
  /** Config reloads by result, for l2vip_config_reloads_total (standalone's SIGHUP). */
  readonly configReloads?: () => { readonly success: number; readonly failure: number };
}

/**
 * The one assembly of a speaker: link watcher, AF_PACKET responders, IPv6 group joins, local
 * delivery, the speaker core over a membership, and metrics. `announce`, `standalone` and the
 * Kubernetes speaker differ only in where desired state and peers come from.
 */
export class SpeakerRuntime {
  readonly links: LinkWatcher;
  readonly announcer: Announcer;
  readonly speaker: Speaker;
  readonly membership: RuntimeMembership;
  private readonly groups: Ipv6GroupJoiner;
  private readonly delivery: LocalDelivery | undefined;
  /** Services with a virtual MAC (docs/virtual-mac.md): between the speaker and the announcer. */
  readonly virtualMacs: VirtualMacGate;
  private desired: DesiredState = { services: [] };
  private metrics: Server | undefined;
  private started = false;
  private readonly stalls: StallWatch;
  private readonly trimmer: HeapTrimmer;
  /** Owners, owned-since and last failovers as this node saw them; failover durations. */
  readonly history: OwnershipHistory;
  /** Other MACs claiming our VIPs, by episode. */
  readonly conflicts: ConflictEpisodes;
  private readonly clock: Clock;
  private uninstallCrashHandler: (() => void) | undefined;

  constructor(private readonly o: SpeakerRuntimeOptions) {
    const log = o.logger;
    const clock = (this.clock = o.clock ?? systemClock);
    this.stalls = new StallWatch(clock);
    // No addon (it is needed for the data path anyway): nothing to trim or settle with.
    const addon = (): NativeAddon | undefined => {
      try {
        return loadNative();
      } catch {
        return undefined;
      }
    };
    this.trimmer = new HeapTrimmer(
      clock,
      () => addon()?.mallocTrim() ?? false,
      () => addon()?.lowMemoryNotification?.(),
    );
    this.history = new OwnershipHistory(clock);
    this.conflicts = new ConflictEpisodes(clock, log, (name) => this.links.get(name)?.mac ?? undefined);
    this.links = new LinkWatcher({ logger: log });
    this.membership = o.membership ?? new SoloMembership(o.node);
    this.groups = new Ipv6GroupJoiner(log);
    this.announcer = new Announcer({
      clock,
      logger: log,
      groups: this.groups,
      timing: o.garp ?? DEFAULT_GARP_TIMING,
      sourceMac: (ip, iface) => this.virtualMacs.sourceMac(ip, iface),
      resolveInterface: (name) => {
        const i = this.links.get(name);
        // Ethernet only: ARP and NDP frames are built for 6-byte MACs (not IPoIB's 20).
        return i?.mac?.length === 6 ? { name: i.name, ifindex: i.index, mac: i.mac } : undefined;
      },
      openSocket: (i) =>
        AfPacketSocket.open(i.ifindex, {
          // NS to answer, and NA too: another host advertising one of our VIPs is a conflict.
          filter: arpAndNdpFilter({ icmpv6Types: [135, 136] }),
          onError: (err) => log.debug({ iface: i.name, err: err.message }, 'receive error'),
        }),
    });
    this.virtualMacs = new VirtualMacGate(this.announcer, new NftVirtualMacs({ runner: spawnRunner }), log);
    this.delivery = o.localDelivery ? new LocalDelivery({ runner: spawnRunner, logger: log }) : undefined;
    this.speaker = new Speaker({
      self: o.node,
      clock,
      logger: log,
      membership: this.membership,
      links: this.links,
      announcer: this.virtualMacs,
      delivery: this.delivery,
      handoffMs: o.handoffMs ?? (o.membership === undefined ? 0 : undefined),
      holdDownMs: o.holdDownMs,
      onOwnerChange: (changes) => this.history.changed(changes),
      onConflictAction: (d) => this.conflicts.observe(d),
    });
    this.announcer.onFirstGratuitous((ip) => this.history.firstGratuitous(ip));
  }

  /** Subscribes to conflict episodes (once per episode, at its first frame): Kubernetes raises an Event. */
  onConflict(listener: (episode: Readonly<ConflictEpisode>) => void): () => void {
    return this.conflicts.onEpisode(listener);
  }

  /** The document GET /status serves (docs/status.md). */
  status(): StatusDocument {
    return buildStatus(this.statusInput());
  }

  /** The text of status(), in slices the metrics server writes one per event-loop turn. */
  statusSlices(): Iterable<string> {
    return statusJsonSlices(this.statusInput());
  }

  private statusInput(): StatusInput {
    const now = this.clock.now();
    const wall = (this.o.wallClock ?? Date.now)();
    const owners = this.speaker.currentOwners();
    return {
      node: this.o.node,
      mode: this.o.mode ?? (this.o.membership === undefined ? 'announce' : 'standalone'),
      now,
      toWall: (t) => wall - (now - t),
      services: this.desired.services.map((s) => ({ name: s.name, addresses: s.addresses, owner: owners.get(s.name) })),
      ownership: (name) => this.history.get(name),
      owned: this.announcer.lookup(),
      view: this.membership.view(),
      conflicts: this.conflicts.list(),
      problems: this.problems(),
      notReady: this.notReady(),
    };
  }

  /**
   * Reads the host's interfaces, checks the ones `desired` names, then starts answering. Anything
   * that fails undoes what was done and throws (an L2vipError for what an operator can fix).
   */
  async start(desired: DesiredState): Promise<void> {
    await this.links.start();
    try {
      // From the start: the first announcements (thousands of VIPs) are what could stall the loop.
      this.stalls.start();
      this.trimmer.start();
      checkNamedInterfaces(this.links, desired);
      // After delivery's start: it removes what a crashed run left on lo, which is not the host's.
      await this.delivery?.start([]);
      await this.checkAddresses(desired);
      // Virtual MAC devices a killed run left: this host must not accept those MACs before it owns them.
      await this.virtualMacs.removeLeftovers();
      this.setDesired(desired);
      await this.speaker.start();
      if (this.o.metricsListen !== undefined) {
        const metrics = speakerMetrics({
          node: this.o.node,
          stats: this.announcer.stats,
          owned: () => this.announcer.lookup(),
          services: () => this.desired.services.map((s) => ({ name: s.name, addresses: s.addresses, owner: this.speaker.currentOwners().get(s.name) })),
          membership: this.membership.stats === undefined ? undefined : { stats: () => this.membership.stats!(), view: () => this.membership.view() },
          speaker: () => this.speaker.stats(),
          socketFailures: this.announcer.socketFailures,
          delivery: this.delivery === undefined ? undefined : () => this.delivery!.stats,
          droppedLogBytes: droppedLogBytesTotal,
          eventLoopMaxLagMs: () => this.stalls.maxLagMs,
          failovers: { takeovers: this.history.takeovers, onFailover: (l) => this.history.onFailover(l) },
          conflictEpisodes: () => this.conflicts.total,
          configReloads: this.o.configReloads,
        });
        this.o.extraMetrics?.(metrics.registry);
        this.metrics = await startMetricsServer(this.o.metricsListen, metrics, this.o.logger, { health: () => this.problems(), ready: () => this.notReady() }, { slices: () => this.statusSlices() });
      }
      // A bug that escapes every handler must not leave the host delivering VIPs it no longer answers for.
      if (this.delivery !== undefined) this.uninstallCrashHandler = installCrashHandler(this.o.logger, () => this.delivery!.stop());
      this.started = true;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Replaces the desired state (a reload, a watch event); a bad exclude pattern throws and keeps the old one. */
  setDesired(desired: DesiredState): void {
    this.virtualMacs.setServices(desired.services);
    this.speaker.setDesired(desired);
    this.desired = desired;
    this.history.retain(new Set(desired.services.map((s) => s.name)));
  }

  /** Refuses (VipHostAddressError) desired VIPs that are addresses of this host: delivery would take them over. */
  async checkAddresses(desired: DesiredState): Promise<void> {
    await refuseHostAddressVips(
      spawnRunner,
      desired.services.flatMap((s) => s.addresses),
      this.delivery?.addedVips(),
    );
  }

  /** Owner of each service as this node sees it. */
  owners(): ReadonlyMap<string, string | undefined> {
    return this.speaker.currentOwners();
  }

  /** Planned handoff, then reverts everything it did on the host. Safe after a failed start. */
  async stop(): Promise<void> {
    this.metrics?.close();
    this.metrics = undefined;
    this.started = false;
    this.stalls.stop();
    this.trimmer.stop();
    this.uninstallCrashHandler?.();
    this.uninstallCrashHandler = undefined;
    try {
      await this.speaker.stop().catch((err: unknown) => this.o.logger.error({ err }, 'stopping the speaker failed'));
      this.announcer.stop();
      await this.virtualMacs.close();
      this.groups.close();
      // After a failed start the speaker never left: close the membership's socket too.
      await this.membership.stop().catch(() => undefined);
      await this.delivery?.stop();
    } finally {
      this.links.stop();
    }
  }

  /** Why this node is not healthy: a stalled event loop, an owned VIP not answered, delivery failing. */
  problems(): string[] {
    const out = [...this.stalls.check()];
    for (const u of this.announcer.unanswered()) out.push(`${u.ip} is owned but not answered on ${u.iface}: ${u.reason}`);
    if (this.delivery?.stats.failing === true) out.push('local delivery is failing (retrying): see the log and l2vip_local_delivery_failures_total');
    return out;
  }

  /** Why this node does not serve yet: the failure detector has not started or no desired state is loaded. */
  notReady(): string[] {
    const own = this.started ? [] : ['starting: membership not joined or desired state not loaded yet'];
    return [...own, ...(this.o.notReady?.() ?? [])];
  }

}

/**
 * Every interface the desired state names must exist and be able to carry ARP or NDP for the
 * VIPs announced on it. Down is allowed (answering starts when it comes up), and so is an IPv6
 * link-local address still missing (it appears with the link); anything else cannot work.
 */
export function checkNamedInterfaces(links: LinkWatcherPort, desired: DesiredState): void {
  const named = new Map<string, Set<4 | 6>>();
  const add = (iface: string, addresses: readonly string[]): void => {
    const fams = named.get(iface) ?? new Set<4 | 6>();
    for (const a of addresses) {
      const ip = toOwnedIp(a);
      if (ip !== undefined) fams.add(ip.family);
    }
    named.set(iface, fams);
  };
  const all = desired.services.flatMap((s) => [...s.addresses]);
  for (const i of desired.interfaces ?? []) add(i, all);
  for (const s of desired.services) for (const i of s.interfaces ?? []) add(i, s.addresses);

  const missing = [...named.keys()].filter((n) => links.get(n) === undefined);
  if (missing.length > 0) {
    const names = links.interfaces().map((i) => i.name).join(', ');
    const quoted = missing.map((n) => `"${n}"`).join(', ');
    throw new InterfaceError(`unknown interface: no interface named ${quoted} (this host has: ${names})`);
  }
  for (const [name, fams] of named) {
    const iface = links.get(name)!;
    if (iface.mac === null || iface.mac.length !== 6) throw new InterfaceError(`interface ${name} has no Ethernet MAC address`);
    for (const fam of fams) {
      const proto = fam === 4 ? 'arp' : 'ndp';
      const why = structuralIneligibility(iface, proto, (i) => links.get(i));
      if (why !== undefined && why !== 'it is down' && !(proto === 'ndp' && /link-local/.test(why))) {
        throw new InterfaceError(ineligibilityMessage(iface, proto, why));
      }
    }
  }
}
