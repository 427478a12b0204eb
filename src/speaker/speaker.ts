import { createHash } from 'node:crypto';
import type { OwnedSet } from '../announcer/announcer.js';
import type { Clock } from '../clock/clock.js';
import { Elector } from '../election/elect.js';
import { nodeDigest } from '../election/hash-ranking.js';
import type { Metadata, MembershipView } from '../membership/membership.js';
import { compileExcludeList, ineligibilityReason, type ExcludeList } from '../netdev/eligibility.js';
import type { LinkWatcherPort, NetInterface } from '../netdev/link-watcher.js';
import type { Logger } from '../observability/logger.js';
import { canCarry, computeOwnership, electionItems, ownedInterfaces, type LinkSummary, type NodeStatus, type Ownership, type ServiceSpec } from './ownership.js';

/** The part of the announcer the speaker drives. */
export interface AnnouncerPort {
  setOwned(owned: OwnedSet): void;
  reannounce(iface: string): void;
  /** One gratuitous announcement of an owned IP, now. */
  defend(ip: string): void;
  /** Another MAC claims an IP this node announces. */
  onConflict(handler: (ip: string, iface: string, mac: Uint8Array) => void): () => void;
  prepare(ifaces: Iterable<string>): void;
  forgetInterface(iface: string): void;
  stop(): void;
}

/** The part of the failure detector the speaker reads and writes. */
export interface MembershipPort {
  view(): MembershipView;
  onChange(handler: (view: MembershipView) => void): () => void;
  setMetadata(metadata: Metadata): void;
  start(): Promise<void>;
  leave(): Promise<void>;
  /** This node refuted a peer's report that it was suspect or dead (optional: a solo node is never). */
  onRefute?(handler: (state: string) => void): () => void;
}

/** Local delivery (optional): which VIPs the host accepts, and on which interfaces it announces. */
export interface DeliveryPort {
  set(delivered: Iterable<string>): Promise<void>;
  announceOn(interfaces: Iterable<string>): Promise<void>;
}

export interface DesiredState {
  readonly services: readonly ServiceSpec[];
  /** Default announce interfaces of this node; undefined: every eligible interface. */
  readonly interfaces?: readonly string[] | undefined;
  /** Interface name patterns never used by default (MetalLB's exclude list if undefined). */
  readonly excludePatterns?: readonly string[] | undefined;
}

export interface SpeakerComponents {
  readonly self: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly membership: MembershipPort;
  readonly links: LinkWatcherPort;
  readonly announcer: AnnouncerPort;
  readonly delivery?: DeliveryPort | undefined;
  /** How long a graceful stop keeps answering after publishing `draining`, so the successor announces first. */
  readonly handoffMs?: number | undefined;
  /**
   * Flap damping: after it starts, or learns it was declared dead, a node must stay alive this
   * long before it takes back VIPs another node carries (default 3000 ms; 0 = off).
   */
  readonly holdDownMs?: number | undefined;
  /** See DEFAULT_START_GRACE_MS (0 = off). */
  readonly startGraceMs?: number | undefined;
  /**
   * Told of every change of a service's owner as this node sees it, before the announcer is
   * given the new owned set (so a takeover's first gratuitous announcement comes after it).
   */
  readonly onOwnerChange?: ((changes: readonly OwnerChange[]) => void) | undefined;
  /** Told what this node did about each frame of another MAC claiming one of its VIPs. */
  readonly onConflictAction?: ((c: ConflictDecision) => void) | undefined;
}

/** Why a node started announcing a service (bounded: the `cause` label of l2vip_takeovers_total). */
export type TakeoverCause = 'death' | 'handoff' | 'link' | 'conflict' | 'election';

/** A service changed owner (or this node started or stopped announcing it), as this node sees it. */
export interface OwnerChange {
  readonly service: string;
  readonly addresses: readonly string[];
  /** Owner before (undefined: none, or this node's first election). */
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly cause: TakeoverCause;
  /** Clock time of the reconcile that made the change. */
  readonly at: number;
  /** Clock time of what caused it: when the previous owner was declared dead, else `at`. */
  readonly since: number;
  /** This node starts announcing the service now (a takeover by this node). */
  readonly takeover: boolean;
}

/** What this node did about another MAC claiming a VIP: defend it (RFC 5227), yield it, or nothing (not its to keep). */
export interface ConflictDecision {
  readonly ip: string;
  readonly iface: string;
  readonly mac: Uint8Array;
  readonly service: string | undefined;
  readonly action: 'defend' | 'yield' | 'none';
  /**
   * The claim comes from one of our live speakers while the two disagree for a known, passing
   * reason: its published desired state differs from ours, or this node's desired state or live
   * set changed less than DIGEST_GRACE_MS ago (a bulk change reaches the nodes at slightly
   * different times). Still decided by the usual tie-break; reported quietly (debug, counted)
   * unless it outlasts the disagreement.
   */
  readonly transient?: boolean;
}

export const DEFAULT_HOLD_DOWN_MS = 3_000;
/** Comebacks this recent make the next hold-down longer (doubling each time). */
export const DAMPING_WINDOW_MS = 10 * 60_000;
/** The longest hold-down, however often a node flaps. */
export const MAX_HOLD_DOWN_MS = 5 * 60_000;
/**
 * After its start a node counts peers it has never heard from as alive for this long, so nodes
 * whose processes start a second or two apart (a busy host, a config of thousands of VIPs to
 * read) elect alike from the first moment instead of the first one up taking every VIP and
 * handing them over as the others arrive. A peer that is really down costs its VIPs this long
 * at a cold start of the cluster, never at a failover.
 */
export const DEFAULT_START_GRACE_MS = 3_000;
/** RFC 5227 §2.4 (b)/(c): DEFEND_INTERVAL, at most one defence per IP in this period. */
export const DEFEND_INTERVAL_MS = 10_000;
/** How long a node that lost a tie-break against a peer for a VIP stays away from it, unless that peer dies. */
export const YIELD_MS = 10_000;
/** Yields after the first one within this window are applied together (see yieldService). */
export const YIELD_BATCH_MS = 10;
/** A peer's different desired state is a mismatch worth reporting once it lasts this long. */
export const DIGEST_GRACE_MS = 2_000;
/** Owner changes logged one line each at info; more in one reconcile are summarised. */
export const OWNER_LINES = 8;
/** MACs published to peers, so a conflict can be traced to the speaker that sent it. */
const MAX_PUBLISHED_MACS = 8;
/** Held-down peers published at most (metadata is small); more revive at once only in a cluster restart. */
const MAX_PUBLISHED_HELD = 16;

/** What the speaker counts about conflicts and agreement with its peers. */
export interface SpeakerStats {
  /** Another MAC claimed an IP this node announces, and it defended (at most once per IP per 10 s). */
  defences: number;
  /** Another of our speakers announced a VIP this node announces (split brain). */
  splitBrains: number;
  /** This node stopped announcing a service to resolve a conflict. */
  yields: number;
  /** Episodes in which some peer's desired-state digest differed from this node's. */
  digestMismatches: number;
  /** Times this node refuted a report that it was suspect or dead. */
  refutations: number;
}

/** What peers learn about this node through membership metadata. */
type SpeakerMetadata = {
  readonly anyUp: boolean;
  readonly down: string[];
  readonly draining: boolean;
  /** Within its hold-down period (it was declared dead): takes no VIP another node can carry. */
  readonly settling: boolean;
  /** Peers it saw come back from dead within the hold-down period: they settle too. */
  readonly held: string[];
  /** Has peers but hears none of them: if it announces what another answers, it is the deaf one. */
  readonly alone: boolean;
  /** MACs of its announcing interfaces (12 hex digits), to trace a conflict to a speaker. */
  readonly macs: string[];
  /** Short digest of its desired state: peers that disagree on services elect differently. */
  readonly digest: string;
};

interface PeerMetadata {
  links?: LinkSummary;
  draining?: boolean;
  settling?: boolean;
  held?: string[];
  alone?: boolean;
  macs?: string[];
  digest?: string;
}

/** Reads a peer's metadata; anything malformed reads as "not said". */
function readMetadata(m: Metadata | undefined): PeerMetadata {
  if (m === undefined) return {};
  const out: PeerMetadata = {};
  if (typeof m.anyUp === 'boolean' && Array.isArray(m.down)) {
    out.links = { anyUp: m.anyUp, down: m.down.filter((x): x is string => typeof x === 'string') };
  }
  if (typeof m.draining === 'boolean') out.draining = m.draining;
  if (typeof m.settling === 'boolean') out.settling = m.settling;
  if (Array.isArray(m.held)) out.held = m.held.filter((x): x is string => typeof x === 'string');
  if (typeof m.alone === 'boolean') out.alone = m.alone;
  if (Array.isArray(m.macs)) out.macs = m.macs.filter((x): x is string => typeof x === 'string');
  if (typeof m.digest === 'string') out.digest = m.digest;
  return out;
}

/** The digest peers compare: same services, addresses, candidates and interfaces give the same text. */
export function desiredDigest(services: readonly ServiceSpec[]): string {
  const canon = services
    // The virtual MAC only when set: digests of configs without one stay as they were.
    .map((s) => [s.name, [...s.addresses], [...s.nodes].sort(), s.interfaces === undefined ? null : [...s.interfaces].sort(), ...(s.virtualMac === undefined ? [] : [s.virtualMac])])
    .sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex').slice(0, 12);
}

/**
 * The speaker core, shared by Kubernetes and standalone modes: combines desired state,
 * membership and link state into the owned set, and hands it to the announcer.
 */
export class Speaker {
  private desired: DesiredState = { services: [] };
  private exclude: ExcludeList = compileExcludeList();
  private readonly elector = new Elector();
  private draining = false;
  private started = false;
  private electing = false;
  private lastAlive = new Set<string>();
  /** When the desired state or the live set last changed (clock ms): see ConflictDecision.transient. */
  private lastChangeAt = Number.NEGATIVE_INFINITY;
  private lastMeta = '';
  private owners: ReadonlyMap<string, string | undefined> = new Map();
  /** What this node announces now: IP -> interfaces. */
  private owned: OwnedSet = new Map();
  /** The last computation, reused when nothing this node announces changed. */
  private lastOwnership: (Ownership & { readonly services: readonly ServiceSpec[] }) | undefined;
  /** End of the start grace (DEFAULT_START_GRACE_MS), and the re-election when it ends. */
  private graceUntil = 0;
  private graceTimer: { cancel(): void } | undefined;
  /** Interfaces the services of the desired state name (see announceInterfaces). */
  private namedInterfaces: { services: readonly ServiceSpec[]; names: ReadonlySet<string> } | undefined;
  /** IP -> services with it, for conflicts. */
  private byIp: { services: readonly ServiceSpec[]; index: Map<string, ServiceSpec[]> } | undefined;
  /** Bumped by every setDesired: what local delivery was last given is keyed by it. */
  private desiredGeneration = 0;
  private deliveryChain: Promise<void> = Promise.resolve();
  private lastDelivered: string | undefined;
  private deliveryError: unknown;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly log: Logger;
  private readonly holdDownMs: number;
  /** This node is settling (flap damping) until then. */
  private settlingUntil = 0;
  private settleTimer: { cancel(): void } | undefined;
  /** Peers this node saw come back from dead: until when they are held. */
  private readonly heldUntil = new Map<string, number>();
  /** When each node (this one included) came back from dead, within DAMPING_WINDOW_MS. */
  private readonly revivals = new Map<string, number[]>();
  /** The settling nodes of the last reconcile. */
  private lastSettling: ReadonlySet<string> = new Set();
  /** Peers this node has heard from while they were alive. */
  private readonly heardBefore = new Set<string>();
  private digest = desiredDigest([]);
  /** Services this node stays away from to end a conflict: until when, and for whom (undefined: it heard no peer). */
  private readonly yielded = new Map<string, { until: number; to: string | undefined }>();
  private readonly lastDefence = new Map<string, number>();
  private mismatchSince: number | undefined;
  /** Our digest and the differing peers' digests of the disagreement being timed. */
  private mismatchKey: string | undefined;
  private mismatchReported = false;
  private mismatchTimer: { cancel(): void } | undefined;
  private yieldBatch: { more: boolean; timer?: { cancel(): void } } | undefined;
  private readonly counters: SpeakerStats = { defences: 0, splitBrains: 0, yields: 0, digestMismatches: 0, refutations: 0 };

  constructor(private readonly c: SpeakerComponents) {
    this.log = c.logger.child({ component: 'speaker', node: c.self });
    this.holdDownMs = c.holdDownMs ?? DEFAULT_HOLD_DOWN_MS;
  }

  stats(): Readonly<SpeakerStats> {
    return { ...this.counters };
  }

  /** Replaces the desired state and re-elects. */
  setDesired(d: DesiredState): void {
    // Compile first: a bad pattern throws here and leaves the running state as it was.
    const exclude = compileExcludeList(d.excludePatterns);
    this.desired = d;
    this.desiredGeneration++;
    this.exclude = exclude;
    this.digest = desiredDigest(d.services);
    this.lastChangeAt = this.c.clock.now();
    if (this.started) {
      this.publish();
      this.c.announcer.prepare(this.defaultInterfaces());
      this.reconcile();
    }
  }

  async start(): Promise<void> {
    this.started = true;
    this.unsubscribe.push(this.c.membership.onChange(() => this.reconcile()));
    this.unsubscribe.push(
      this.c.links.onLink((ev) => {
        if (ev.type === 'changed' && ev.iface.flags.lowerUp && !ev.previous.flags.lowerUp) {
          // Clients and switches may have forgotten us while the link was down.
          this.c.announcer.reannounce(ev.iface.name);
        }
        if (ev.type === 'removed' || (ev.type === 'changed' && !sameMac(ev.iface, ev.previous))) {
          this.c.announcer.forgetInterface(ev.iface.name);
          // The announcer dropped the IPs on it: hand the owned set over again, even if unchanged.
          this.lastOwnership = undefined;
        }
        if (ev.type === 'changed' && ev.previous.name !== ev.iface.name) {
          this.c.announcer.forgetInterface(ev.previous.name);
          this.lastOwnership = undefined;
        }
        // A new (or re-created) interface: local delivery re-checks its settings on it.
        if (ev.type === 'added') this.lastDelivered = undefined;
        this.publish();
        this.reconcile();
      }),
    );
    this.unsubscribe.push(this.c.announcer.onConflict((ip, iface, mac) => this.onConflict(ip, iface, mac)));
    const offRefute = this.c.membership.onRefute?.((state) => this.onRefuted(state));
    if (offRefute !== undefined) this.unsubscribe.push(offRefute);
    this.c.announcer.prepare(this.defaultInterfaces());
    this.publish();
    // Every service's ranking (a digest per candidate: 30 000 for 10 000 services of 3 nodes, tens
    // of ms) is computed now, before the failure detector starts sharing the loop; the first
    // election then only walks the cached rankings.
    this.elector.elect(electionItems(this.desired.services, new Map()), new Set());
    await this.c.membership.start();
    // Only now: before its membership runs a node cannot hear its peers, and must not claim.
    this.electing = true;
    const grace = this.c.startGraceMs ?? DEFAULT_START_GRACE_MS;
    if (grace > 0) {
      this.graceUntil = this.c.clock.now() + grace;
      this.graceTimer = this.c.clock.setTimeout(() => {
        this.graceTimer = undefined;
        this.reconcile();
      }, grace + 1);
    }
    this.reconcile();
    // A host that cannot deliver the VIPs fails the start, not silently later.
    await this.deliveryChain;
    const err = this.deliveryError;
    if (err !== undefined) throw err instanceof Error ? err : new Error('local delivery failed', { cause: err });
  }

  /**
   * Graceful stop with a planned handoff: tell the peers we are draining, keep answering while
   * the successor takes over and announces, then stop answering and leave.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.draining = true;
    this.publish();
    const owned = [...this.owners.values()].some((o) => o === this.c.self);
    if (owned) await sleep(this.c.clock, this.c.handoffMs ?? 150);
    for (const u of this.unsubscribe.splice(0)) u();
    this.settleTimer?.cancel();
    this.mismatchTimer?.cancel();
    this.graceTimer?.cancel();
    this.graceTimer = undefined;
    this.yieldBatch?.timer?.cancel();
    this.yieldBatch = undefined;
    this.electing = false;
    this.c.announcer.setOwned(new Map());
    this.owned = new Map();
    this.lastOwnership = undefined;
    this.c.announcer.stop();
    await this.c.membership.leave();
    await this.deliveryChain;
    this.started = false;
  }

  /** Owner of each service as this node sees it. */
  currentOwners(): ReadonlyMap<string, string | undefined> {
    return this.owners;
  }

  /** Re-elects from the current inputs and applies the result. */
  reconcile(): void {
    if (!this.started || !this.electing) return;
    const view = this.c.membership.view();
    // Once per reconcile, not once per service: an owner of 10 000 VIPs asks for each.
    const defaults = this.defaultInterfaces();
    const usableDefaults = this.usable(defaults);
    // Never heard since our start, within the start grace: assumed alive (see DEFAULT_START_GRACE_MS),
    // and not "back from dead" when first heard.
    const unheard = new Set<string>();
    if (this.c.clock.now() < this.graceUntil) {
      for (const m of view.members.values()) if (!m.self && m.lastHeardMsAgo === undefined) unheard.add(m.name);
    }
    const settling = this.settlingNodes(view);
    this.lastSettling = settling;
    const nodes = new Map<string, NodeStatus>();
    for (const [name, m] of view.members) {
      // Our own draining only matters to the peers: we keep answering until the successor has announced.
      const meta = m.self ? { links: this.links(defaults), draining: false } : readMetadata(m.metadata);
      nodes.set(name, { alive: view.alive.has(name) || unheard.has(name), draining: meta.draining ?? false, settling: settling.has(name), links: meta.links });
    }
    const yieldedBefore = this.c.onOwnerChange === undefined ? undefined : new Set(this.yielded.keys());
    this.expireYields(view.alive);
    // A yielded service has no local interface for now: this node does not announce it.
    const localInterfaces = (svc: ServiceSpec): readonly string[] =>
      this.yielded.has(svc.name) ? [] : svc.interfaces === undefined ? usableDefaults : this.usable(svc.interfaces);
    const { owners, owned } = computeOwnership(this.c.self, this.desired.services, nodes, this.elector, localInterfaces, this.lastOwnership);
    this.lastOwnership = { services: this.desired.services, owners, owned };
    const before = this.owners;
    if (this.c.onOwnerChange !== undefined) this.reportOwnerChanges(before, owners, owned, view, yieldedBefore);
    this.owners = owners;
    // Incremental: the same owned set (same object) is not handed over again.
    if (owned !== this.owned) this.c.announcer.setOwned(owned);
    this.owned = owned;
    // A node came back (restart, healed partition): it may have announced our VIPs meanwhile,
    // so announce ours again instead of waiting for the next refresh.
    const grew = [...view.alive].some((n) => !this.lastAlive.has(n));
    if (grew && this.lastAlive.size > 0) {
      for (const iface of ownedInterfaces(owned)) this.c.announcer.reannounce(iface);
    }
    const alive = new Set([...view.alive, ...unheard]);
    if (alive.size !== this.lastAlive.size || [...alive].some((n) => !this.lastAlive.has(n))) this.lastChangeAt = this.c.clock.now();
    this.lastAlive = alive;
    this.logOwners(before, owners);
    this.updateDelivery(defaults);
    this.publish();
    this.checkDigests(view);
  }

  /**
   * A line per service whose owner changed, up to OWNER_LINES; beyond that (thousands of
   * services moving at once) one summary line at info and the detail at debug.
   */
  private logOwners(before: ReadonlyMap<string, string | undefined>, owners: ReadonlyMap<string, string | undefined>): void {
    if (before === owners) return;
    const changed: [string, string | undefined][] = [];
    for (const [svc, owner] of owners) if (before.get(svc) !== owner) changed.push([svc, owner]);
    const many = changed.length > OWNER_LINES;
    for (const [svc, owner] of changed) {
      const msg = owner === undefined ? 'no node can announce' : 'owner elected';
      if (many) this.log.debug({ service: svc, owner: owner ?? null }, msg);
      else this.log.info({ service: svc, owner: owner ?? null }, msg);
    }
    if (many) {
      let gained = 0;
      let orphaned = 0;
      for (const [, owner] of changed) {
        if (owner === this.c.self) gained++;
        else if (owner === undefined) orphaned++;
      }
      this.log.info({ changed: changed.length, gained, orphaned }, `owners elected: ${changed.length} services changed owner (${gained} to this node)`);
    }
  }

  private settling(): boolean {
    return this.c.clock.now() < this.settlingUntil;
  }

  /** Peers this node saw come back from dead within the hold-down period. */
  private held(): string[] {
    const now = this.c.clock.now();
    const out: string[] = [];
    for (const [name, until] of this.heldUntil) {
      if (now < until) out.push(name);
      else this.heldUntil.delete(name);
    }
    return out.slice(0, MAX_PUBLISHED_HELD);
  }

  /**
   * Flap damping, agreed by every node: a node settles while it says so (it learnt it was
   * declared dead) or while some live node, this one included, saw it come back from dead less
   * than the hold-down period ago. Each node publishes the peers it holds, so the node held
   * learns it too and all elect alike.
   */
  private settlingNodes(view: MembershipView): Set<string> {
    const now = this.c.clock.now();
    if (this.holdDownMs > 0 && this.lastAlive.size > 0) {
      // A node counts as back from dead only if it had been heard before: one that simply starts
      // later than this one (never heard, so declared dead) is joining, not flapping.
      for (const name of view.alive) if (name !== this.c.self && !this.lastAlive.has(name) && this.heardBefore.has(name)) this.heldUntil.set(name, now + this.holdFor(name));
    }
    for (const [name, m] of view.members) if (!m.self && m.lastHeardMsAgo !== undefined && view.alive.has(name)) this.heardBefore.add(name);
    const out = new Set<string>([...this.held()]);
    if (this.settling()) out.add(this.c.self);
    for (const m of view.members.values()) {
      if (m.self || !view.alive.has(m.name)) continue;
      const meta = readMetadata(m.metadata);
      if (meta.settling === true) out.add(m.name);
      for (const h of meta.held ?? []) out.add(h);
    }
    this.armSettleTimer();
    return out;
  }

  /** Re-elects when the earliest hold-down of this node's own ends. */
  private armSettleTimer(): void {
    const ends = [...this.heldUntil.values()];
    if (this.settling()) ends.push(this.settlingUntil);
    this.settleTimer?.cancel();
    this.settleTimer = undefined;
    if (ends.length === 0) return;
    const delay = Math.max(0, Math.min(...ends) - this.c.clock.now());
    this.settleTimer = this.c.clock.setTimeout(() => {
      this.settleTimer = undefined;
      this.publish();
      this.reconcile();
    }, delay + 1);
  }

  /**
   * The hold-down of a node coming back now: the base period, doubled for each earlier comeback
   * within DAMPING_WINDOW_MS (as BGP route-flap damping accumulates a penalty), at most
   * MAX_HOLD_DOWN_MS. A node that flaps more often than the base period would otherwise still
   * take its VIPs back after every comeback.
   */
  private holdFor(name: string): number {
    const now = this.c.clock.now();
    const recent = (this.revivals.get(name) ?? []).filter((t) => now - t < DAMPING_WINDOW_MS);
    recent.push(now);
    this.revivals.set(name, recent);
    return Math.min(MAX_HOLD_DOWN_MS, this.holdDownMs * 2 ** (recent.length - 1));
  }

  /** Starts (or extends) this node's own hold-down; peers learn it through metadata. */
  private settle(): void {
    if (this.holdDownMs <= 0) return;
    this.settlingUntil = this.c.clock.now() + this.holdFor(this.c.self);
  }

  /**
   * A peer reported this node suspect or dead. Suspect: it may have looked away; announce again
   * at once, so clients that followed a temporary owner come back. Dead: the VIPs have moved; hold
   * back for the hold-down period instead of taking them back at once (flap damping).
   */
  private onRefuted(state: string): void {
    this.counters.refutations++;
    if (state === 'dead' || state === 'left') {
      this.log.warn({ reason: state }, 'peers declared this node dead: holding back from its VIPs for the hold-down period');
      this.settle();
      this.publish();
      this.reconcile();
      return;
    }
    for (const iface of ownedInterfaces(this.owned)) this.c.announcer.reannounce(iface);
  }

  /**
   * Another MAC claims a VIP this node announces. One of our own speakers (its MAC is in its
   * metadata): the one MetalLB's hash ranks first for the VIP keeps it, unless the other hears
   * no peer (then that one is the deaf side); this node, hearing no peer itself while it has
   * peers, yields to whoever answers. Otherwise it defends: RFC 5227 §2.4 (b), one
   * announcement, at most once per DEFEND_INTERVAL.
   */
  private onConflict(ip: string, iface: string, mac: Uint8Array): void {
    // Draining: the claim is the successor's announcement (with a virtual MAC, from the same
    // MAC); defending it would pull the switches and clients back to a node about to stop.
    if (this.draining) return;
    // Indexed: during a split brain every one of thousands of VIPs conflicts, several times a second.
    const svc = this.servicesOf(ip).find((s) => this.owners.get(s.name) === this.c.self && !this.yielded.has(s.name));
    const view = this.c.membership.view();
    const hex = Buffer.from(mac).toString('hex');
    const peer = [...view.members.values()].find((m) => !m.self && view.alive.has(m.name) && (readMetadata(m.metadata).macs ?? []).includes(hex));
    const transient = peer !== undefined && (readMetadata(peer.metadata).digest !== this.digest || this.c.clock.now() - this.lastChangeAt < DIGEST_GRACE_MS);
    const decided = (action: ConflictDecision['action']): void => this.c.onConflictAction?.({ ip, iface, mac, service: svc?.name, action, ...(transient ? { transient } : {}) });
    if (svc === undefined) return decided('none');
    const key = svc.addresses[0] ?? ip;
    if (peer !== undefined) {
      this.counters.splitBrains++;
      const other = readMetadata(peer.metadata);
      // The deaf side of a partition, or a node still in its hold-down (it restarted and claims
      // before it learnt it is held), does not win the tie-break: this node keeps the VIP.
      if (other.alone !== true && !this.lastSettling.has(peer.name) && nodeDigest(peer.name, key) < nodeDigest(this.c.self, key)) {
        const fields = { service: svc.name, ip, iface, node: peer.name, reason: 'split-brain' };
        const msg = 'another speaker announces this VIP and ranks first for it: yielding';
        if (transient) this.log.debug(fields, msg);
        else this.log.warn(fields, msg);
        this.yieldService(svc.name, peer.name);
        return decided('yield');
      }
    } else if (view.members.size > 1 && view.alive.size <= 1) {
      this.log.warn({ service: svc.name, ip, iface, otherMac: formatMac(mac), reason: 'alone' }, 'this node hears no peer and another host answers for its VIP: yielding until it hears its peers');
      this.yieldService(svc.name, undefined);
      return decided('yield');
    }
    decided('defend');
    const now = this.c.clock.now();
    const last = this.lastDefence.get(ip);
    if (last !== undefined && now - last < DEFEND_INTERVAL_MS) return;
    this.lastDefence.set(ip, now);
    this.counters.defences++;
    this.c.announcer.defend(ip);
  }

  /** The services that have `ip`, from an index built once per desired state. */
  private servicesOf(ip: string): readonly ServiceSpec[] {
    if (this.byIp === undefined || this.byIp.services !== this.desired.services) {
      const index = new Map<string, ServiceSpec[]>();
      for (const s of this.desired.services) {
        for (const a of s.addresses) {
          const list = index.get(a);
          if (list === undefined) index.set(a, [s]);
          else list.push(s);
        }
      }
      this.byIp = { services: this.desired.services, index };
    }
    return this.byIp.index.get(ip) ?? [];
  }

  /**
   * Tells onOwnerChange what changed, with a cause: this node announces a service it did not
   * (a takeover) because the previous owner died, handed over (left or draining), lost its link,
   * because a yield of this node's ended (conflict; a yield that ends because the peer died is
   * a death), because this node's link came back, or otherwise (election: first election, a
   * node came back, a config change).
   */
  private reportOwnerChanges(
    before: ReadonlyMap<string, string | undefined>,
    owners: ReadonlyMap<string, string | undefined>,
    owned: ReadonlyMap<string, ReadonlySet<string>>,
    view: MembershipView,
    yieldedBefore: ReadonlySet<string> | undefined,
  ): void {
    const now = this.c.clock.now();
    const changes: OwnerChange[] = [];
    let ownLinks: LinkSummary | undefined;
    for (const s of this.desired.services) {
      const from = before.get(s.name);
      const to = owners.get(s.name);
      const first = s.addresses[0];
      const wasAnnounced = first !== undefined && this.owned.has(first);
      const announced = first !== undefined && owned.has(first);
      const takeover = announced && !wasAnnounced;
      if (from === to && !takeover) continue;
      let cause: TakeoverCause = 'election';
      let since = now;
      const prev = from === undefined || from === this.c.self ? undefined : view.members.get(from);
      if (prev !== undefined && (prev.state === 'dead' || (prev.state !== 'left' && !view.alive.has(prev.name)))) {
        cause = 'death';
        if (prev.stateSinceMsAgo !== undefined) since = now - prev.stateSinceMsAgo;
      } else if (prev !== undefined && (prev.state === 'left' || readMetadata(prev.metadata).draining === true)) cause = 'handoff';
      else if (prev !== undefined) {
        const links = readMetadata(prev.metadata).links;
        if (links !== undefined && !canCarryLinks(links, s.interfaces)) cause = 'link';
      } else if (yieldedBefore?.has(s.name) === true && !this.yielded.has(s.name)) cause = 'conflict';
      else if (from === this.c.self && takeover) cause = 'link';
      else if (from === this.c.self) {
        // This node lost it because its own link went down? (Its own draining never moves a service in its own view.)
        ownLinks ??= this.links();
        if (!canCarryLinks(ownLinks, s.interfaces)) cause = 'link';
      }
      changes.push({ service: s.name, addresses: s.addresses, from, to, cause, at: now, since, takeover });
    }
    if (changes.length > 0) this.c.onOwnerChange?.(changes);
  }

  /**
   * Marks `name` yielded and re-elects. The first yield re-elects at once; further yields within
   * YIELD_BATCH_MS are re-elected together at its end: in a split brain over thousands of VIPs
   * every gratuitous ARP of the other side is a conflict, and one full re-election per frame
   * (each over every service) starved the event loop and the failure detector with it.
   */
  private yieldService(name: string, to: string | undefined): void {
    this.counters.yields++;
    this.yielded.set(name, { until: to === undefined ? Infinity : this.c.clock.now() + YIELD_MS, to });
    if (this.yieldBatch !== undefined) {
      this.yieldBatch.more = true;
      return;
    }
    const batch: { more: boolean; timer?: { cancel(): void } } = { more: false };
    this.yieldBatch = batch;
    batch.timer = this.c.clock.setTimeout(() => {
      this.yieldBatch = undefined;
      if (batch.more) this.reconcile();
    }, YIELD_BATCH_MS);
    this.reconcile();
  }

  /** Yields end when the peer yielded to is gone, when a deaf node hears a peer again, or after YIELD_MS. */
  private expireYields(alive: ReadonlySet<string>): void {
    const now = this.c.clock.now();
    for (const [svc, y] of this.yielded) {
      const over = y.to === undefined ? alive.size > 1 : !alive.has(y.to) || now >= y.until;
      if (over) this.yielded.delete(svc);
    }
  }

  /**
   * Peers with another desired state elect differently. Nodes see a change at slightly different
   * times (a watch event, a reload, 5 000 Services created at once and streaming in for seconds),
   * so only the same disagreement — the same digests on both sides — lasting DIGEST_GRACE_MS is
   * an episode: logged once, counted once. A digest that moves on restarts the wait.
   */
  private checkDigests(view: MembershipView): void {
    const differ: string[] = [];
    for (const m of view.members.values()) {
      if (m.self || !view.alive.has(m.name)) continue;
      const d = readMetadata(m.metadata).digest;
      if (d !== undefined && d !== this.digest) differ.push(`${m.name}=${d}`);
    }
    const now = this.c.clock.now();
    if (differ.length === 0) {
      if (this.mismatchReported) this.log.info('peers agree on the services again');
      this.mismatchSince = undefined;
      this.mismatchKey = undefined;
      this.mismatchReported = false;
      this.mismatchTimer?.cancel();
      this.mismatchTimer = undefined;
      return;
    }
    const key = `${this.digest}|${differ.sort().join(',')}`;
    if (key !== this.mismatchKey) {
      // A new disagreement, or the same one still moving: wait for it to settle.
      this.mismatchKey = key;
      this.mismatchSince = now;
      this.mismatchTimer?.cancel();
      this.mismatchTimer = this.c.clock.setTimeout(() => {
        this.mismatchTimer = undefined;
        if (this.started) this.checkDigests(this.c.membership.view());
      }, DIGEST_GRACE_MS);
    } else if (!this.mismatchReported && this.mismatchSince !== undefined && now - this.mismatchSince >= DIGEST_GRACE_MS) {
      this.mismatchReported = true;
      this.counters.digestMismatches++;
      const nodes = differ.map((d) => d.slice(0, d.lastIndexOf('=')));
      this.log.warn({ nodes, digest: this.digest, reason: 'config-mismatch' }, 'peers run a different set of services: their elections can differ from ours until configs agree');
    }
  }

  /** Every candidate node delivers the VIPs, so services can bind to them before a failover. */
  private updateDelivery(defaults: readonly string[]): void {
    const d = this.c.delivery;
    if (d === undefined) return;
    const ifaces = this.announceInterfaces(defaults);
    // Keyed by the desired state's generation, not by its thousands of VIPs joined.
    const key = `${this.desiredGeneration}|${[...ifaces].join(',')}`;
    if (key === this.lastDelivered) return;
    this.lastDelivered = key;
    const delivered = this.desired.services.filter((s) => s.nodes.includes(this.c.self)).flatMap((s) => [...s.addresses]);
    this.deliveryChain = this.deliveryChain
      .then(() => d.announceOn(ifaces))
      .then(() => d.set(delivered))
      .then(
        () => (this.deliveryError = undefined),
        (err: unknown) => {
          // Forget what was asked, so the next reconcile tries again.
          this.lastDelivered = undefined;
          this.deliveryError = err;
          // Delivery retries by itself and logs once per failed state; this is the detail.
          this.log.debug({ err }, 'local delivery update failed');
        },
      );
  }

  /** The named interfaces this node can announce on now: up, with carrier and an Ethernet MAC. */
  private usable(names: readonly string[]): string[] {
    return names.filter((n) => this.hasCarrier(n) && this.c.links.get(n)?.mac?.length === 6);
  }

  private hasCarrier(name: string): boolean {
    const i = this.c.links.get(name);
    return i !== undefined && i.flags.up && i.flags.lowerUp;
  }

  /** Every interface this node may announce on: its defaults and those services name. */
  private announceInterfaces(defaults: readonly string[]): Set<string> {
    // The services' part once per desired state: a reconcile asks several times, over thousands of services.
    if (this.namedInterfaces?.services !== this.desired.services) {
      const names = new Set<string>();
      for (const s of this.desired.services) for (const i of s.interfaces ?? []) names.add(i);
      this.namedInterfaces = { services: this.desired.services, names };
    }
    return new Set([...defaults, ...this.namedInterfaces.names]);
  }

  private defaultInterfaces(): string[] {
    if (this.desired.interfaces !== undefined) return [...this.desired.interfaces];
    const lookup = (i: number): NetInterface | undefined => this.c.links.get(i);
    return this.c.links
      .interfaces()
      .filter((i) => ineligibilityReason(i, 'arp', { exclude: this.exclude, lookup }) === undefined)
      .map((i) => i.name);
  }

  /** MACs of the interfaces this node may announce on. */
  private macs(): string[] {
    const out = new Set<string>();
    for (const n of this.announceInterfaces(this.defaultInterfaces())) {
      const mac = this.c.links.get(n)?.mac;
      if (mac?.length === 6) out.add(Buffer.from(mac).toString('hex'));
      if (out.size >= MAX_PUBLISHED_MACS) break;
    }
    return [...out];
  }

  private links(defaults: readonly string[] = this.defaultInterfaces()): LinkSummary {
    const down = [...this.announceInterfaces(defaults)].filter((n) => !this.hasCarrier(n));
    return { anyUp: defaults.some((n) => this.hasCarrier(n)), down };
  }

  private publish(): void {
    const l = this.links();
    const view = this.c.membership.view();
    const meta: SpeakerMetadata = {
      anyUp: l.anyUp,
      down: [...l.down],
      draining: this.draining,
      settling: this.settling(),
      held: this.held(),
      alone: view.members.size > 1 && view.alive.size <= 1,
      macs: this.macs(),
      digest: this.digest,
    };
    const text = JSON.stringify(meta);
    if (text === this.lastMeta) return;
    const was = this.lastMeta;
    // Before the call: setMetadata may report a membership change synchronously, whose
    // reconcile publishes again; it must find this version published, not recurse without end.
    this.lastMeta = text;
    try {
      this.c.membership.setMetadata(meta);
    } catch (err) {
      if (this.lastMeta === text) this.lastMeta = was;
      // Too large (hundreds of interfaces without carrier): peers keep the last version.
      this.log.error({ err }, 'cannot publish this node\'s link state to its peers');
    }
  }
}

/** Whether a node with these links can carry a service on `interfaces` (ownership's canCarry). */
function canCarryLinks(links: LinkSummary, interfaces: readonly string[] | undefined): boolean {
  return canCarry({ alive: true, draining: false, links }, interfaces);
}

function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function sameMac(a: NetInterface, b: NetInterface): boolean {
  if (a.mac === null || b.mac === null) return a.mac === b.mac;
  return Buffer.compare(a.mac, b.mac) === 0;
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
