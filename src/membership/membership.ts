import { createHash } from 'node:crypto';
import type { Clock, Timer } from '../clock/clock.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { membershipKey, type MembershipKey } from './membership-key.js';
import { encodeSelfMetadata, engineWatchdogMs, resolveMembershipOptions, type MembershipOptions, type ResolvedMembershipOptions } from './membership-options.js';
import type { BeatEngine, BeatPath, PeerTransport } from './peer-transport.js';
import { ReplayWindow } from './replay-window.js';
import {
  decodeMessage,
  encodedSize,
  encodeMessage,
  type AgeReport,
  type BeatMessage,
  type HeartbeatMessage,
  type Message,
  type MetadataBlob,
  type ViewEntry,
  type WireDropReason,
  MAC_BYTES,
  WIRE_VERSION,
} from './wire.js';
import { sourceHost } from './source-host.js';

/**
 * alive: heard from directly within suspectMs. suspect: not heard directly, but still counted
 * live (as MetalLB counts memberlist's suspect members). dead: nobody heard from it within the
 * dead timeout. left: it said goodbye; only a higher incarnation brings it back.
 */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Small per-node record every peer receives (e.g. `{ linksDown: ['eth0'] }`, `{ draining: true }`). */
export type Metadata = { readonly [key: string]: JsonValue };

export interface PeerConfig {
  readonly name: string;
  /** Transport address, 'host:port' or '[v6]:port' for UDP. */
  readonly address: string;
}

export interface MemberView {
  readonly name: string;
  readonly address: string;
  readonly state: MemberState;
  readonly incarnation: number;
  /** ms since the last evidence that it was alive (direct or reported by a peer); undefined: never. */
  readonly lastHeardMsAgo: number | undefined;
  /** ms since it entered its current state here (undefined: not known, e.g. this node itself). */
  readonly stateSinceMsAgo?: number | undefined;
  readonly metadata: Metadata | undefined;
  readonly self: boolean;
}

export interface MembershipView {
  /** Self plus every member alive or suspect: the `live` input of the election. */
  readonly alive: ReadonlySet<string>;
  readonly members: ReadonlyMap<string, MemberView>;
}

/**
 * Highest incarnation accepted, in a header or an entry: 2^48 (wall-clock ms until the year
 * 10889). Default incarnations are wall-clock ms (about 2^41 today), so no fixed bound near
 * 2^32 is possible, and a relative one ("not far above what we know") would refuse a node whose
 * restart follows a large clock correction. The 2^5 gap below 2^53 keeps `incarnation + 1` (a
 * refutation) a safe integer, so no authenticated datagram can push us out of the u64 range
 * the wire format carries.
 */
export const MAX_INCARNATION = 2 ** 48;

/** Ring: most ages carried in one datagram (our neighbours, plus those a pinging member asked about). */
const MAX_RING_AGES = 64;
/** Ring: datagrams of a broadcast sent per event-loop turn (about 2-3 ms of work). */
const BROADCAST_CHUNK = 100;

/** Why a received datagram was ignored. Never acted upon, only counted. */
export type DropReason =
  | 'oversize'
  | 'unknown-source'
  | WireDropReason
  | 'unknown-sender'
  | 'reflected'
  | 'wrong-receiver'
  | 'bad-incarnation'
  | 'replay'
  | 'too-old'
  | 'clock-skew'
  | 'internal-error';

export const DROP_REASONS: readonly DropReason[] = [
  'oversize',
  'unknown-source',
  'malformed',
  'wrong-version',
  'unknown-key',
  'bad-mac',
  'unknown-sender',
  'reflected',
  'wrong-receiver',
  'bad-incarnation',
  'replay',
  'too-old',
  'clock-skew',
  'internal-error',
];

export interface MembershipStats {
  readonly incarnation: number;
  /** Datagrams sent, received and accepted, the beat engine's beats included (it counts only beats it accepted as received). */
  readonly sent: number;
  readonly received: number;
  readonly accepted: number;
  readonly drops: Readonly<Record<DropReason, number>>;
  /** Accepted datagrams by the key that verified them: `previous` falls to 0 once every peer sends under the current one. */
  readonly verified: { readonly current: number; readonly previous: number };
  /** State transitions observed locally. */
  readonly suspicions: number;
  readonly deaths: number;
  readonly revivals: number;
  readonly leaves: number;
  /** Times this node bumped its own incarnation to refute a suspicion. */
  readonly refutations: number;
  /** Heartbeat ticks that ran late (event loop stall): deaths were not declared on those ticks. */
  readonly stalls: number;
  /** Ticks run (timer or engine wakeup): about 1000 / heartbeatMs a second, 10-30 with the beat engine. */
  readonly ticks?: number;
  /** Metadata blobs that authenticated but did not parse. */
  readonly badMetadata: number;
  /** Datagrams that could not be encoded (a bug; logged at error): counted as sent but lost. */
  readonly sendErrors: number;
  /** Worker-thread membership only: times the main event loop hung past mainLoopTimeoutMs (heartbeats held back). */
  readonly mainLoopHangs?: number;
  /**
   * Beats (wire type 4) sent and accepted, included in `sent` and `accepted`; `native`: the
   * transport's fast path builds and checks them (else the JS codec does).
   */
  readonly beats?: { readonly sent: number; readonly accepted: number; readonly native: boolean; readonly engine: boolean };
}

export interface MembershipComponents {
  readonly self: string;
  /** Every node of the cluster; an entry named `self` is ignored. */
  readonly peers: readonly PeerConfig[];
  /** Shared secret, >= 32 bytes (UTF-8 text or raw bytes). Used to send and to receive. */
  readonly secret: string | Uint8Array;
  /** Secrets accepted on receive but never used to send: key rotation without a flag day (docs/membership.md). */
  readonly previousSecrets?: readonly (string | Uint8Array)[];
  readonly clock: Clock;
  readonly transport: PeerTransport;
  readonly logger: Logger;
  /** Jitter source (default Math.random); inject a seeded one for deterministic simulations. */
  readonly rng?: () => number;
  /** Wall clock in ms since the epoch (default Date.now): datagram timestamps and the default incarnation. */
  readonly wallClock?: () => number;
  /** Initial incarnation; default the wall-clock start time in ms, so a restart is always newer. */
  readonly incarnation?: number;
  readonly options?: MembershipOptions;
}

interface Member {
  readonly name: string;
  readonly id: number;
  address: string;
  state: MemberState;
  incarnation: number;
  /** Last authenticated datagram from it (clock ms); -Infinity: never. */
  lastDirectAt: number;
  /** When setPeers added it (clock ms); -Infinity: configured from the start. */
  readonly addedAt: number;
  /** Last evidence it was alive, direct or via a peer's age report; starts at our start time. */
  lastEvidenceAt: number;
  /** Any real evidence yet (lastEvidenceAt starts as a benefit of the doubt). */
  heard: boolean;
  suspectedAt: number;
  /** Last change of its state, incarnation or metadata here: such entries are pushed for gossipMs. */
  changedAt: number;
  /** When it entered its current state here (clock ms); -Infinity: never changed. */
  stateAt: number;
  metadata: Metadata | undefined;
  metaBytes: Uint8Array | undefined;
  metaVersion: number;
  metaIncarnation: number;
  /** Newest metadata version we have seen advertised for it. */
  advertisedMeta: number;
  /** Its anti-replay window over what it sent us. */
  readonly replay: ReplayWindow;
  /** Last sequence number we sent it in this incarnation (each receiver has its own window). */
  sentSeq: number;
  /** Beats are numbered on their own (per sender, receiver and incarnation, from 1): the last we sent it. */
  beatSentSeq: number;
  /** The newest beat accepted from it: its incarnation (-1: none yet) and sequence number. Beats need no window: an older one is dropped. */
  beatInc: number;
  beatSeq: number;
  /** Its latest age table (subject id -> ms, Infinity: never heard) and entries (subject id -> entry), and when they arrived. */
  readonly ages: Map<number, number>;
  agesAt: number;
  readonly entries: Map<number, ViewEntry>;
  /** Ring: when it last became one of our fast neighbours (its silence counts from then on). */
  watchSince: number;
  /** Ring: last time we answered it out of turn (a ping, or telling it that it is buried): rate limit. */
  repliedAt: number;
  /** Last full heartbeat we sent it (clock ms): between them it gets beats unless there is news. */
  fullSentAt: number;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** 32-bit member id carried in age tables and entries: the first 4 bytes of sha256(name). */
export function memberId(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0);
}

/**
 * Failure detector among a fixed list of peers, after SWIM (Das et al., 2002) and Lifeguard
 * (Dadgar et al., 2017); see docs/membership.md for the design and the numbers.
 *
 * Every node sends every peer an authenticated heartbeat each `heartbeatMs`. A heartbeat
 * carries an age table ("I last heard X directly N ms ago") for every member, so each
 * heartbeat is also indirect evidence for all the others; plus entries (state, incarnation,
 * metadata version) for members that are not alive or that changed recently, and metadata
 * blobs that the receiver lacks.
 *
 * Pure core: no timers but the injected Clock, no I/O but the injected PeerTransport.
 */
export class Membership {
  private readonly self: string;
  private selfAddress: string;
  private readonly selfId: number;
  private readonly members: Member[] = [];
  private readonly byName = new Map<string, Member>();
  private readonly byId = new Map<number, Member>();
  private key: MembershipKey;
  private keys = new Map<number, MembershipKey>();
  /** Host part (canonical) of every configured address: the cheap source check before the MAC. */
  private knownHosts = new Set<string>();
  /** Source addresses already checked against knownHosts (a peer's is parsed once, not per datagram); bounded. */
  private readonly sourceVerdicts = new Map<string, boolean>();
  /** Datagrams larger than this cannot come from a peer of ours (see maxReceiveBytes). */
  private receiveLimit = 0;
  private readonly clock: Clock;
  private readonly transport: PeerTransport;
  private readonly log: Logger;
  private readonly rng: () => number;
  private readonly wallClock: () => number;
  private readonly o: ResolvedMembershipOptions;
  private readonly handlers = new Set<(view: MembershipView) => void>();
  private readonly refuteHandlers = new Set<(state: MemberState) => void>();
  /** Highest sequence number sent to anyone in this incarnation: where a (re)added peer's numbering starts. */
  private seqHigh = 0;
  private beatSeqHigh = 0;
  /** Replay windows of peers setPeers removed, by name (bounded): a peer removed and added back keeps its window. */
  private readonly retiredWindows = new Map<string, { readonly replay: ReplayWindow; readonly beatInc: number; readonly beatSeq: number }>();
  /** Source addresses we warned about for another wire version, until they speak ours again. */
  private readonly versionWarned = new Set<string>();

  private selfIncarnation: number;
  private selfMeta: Metadata | undefined;
  private selfMetaBytes: Uint8Array | undefined;
  private selfMetaVersion = 0;
  private selfMetaChangedAt = -Infinity;

  private running = false;
  private leaving = false;
  private startedAt = 0;
  private tickTimer: Timer | undefined;
  private tickDueAt = 0;
  private skippedDeaths = false;
  private rotationCursor = 0;
  private rotation = new Set<Member>();
  private aliveSet: ReadonlySet<string>;
  private aliveDirty = false;
  private metaDirty = false;
  private flushNeeded = false;
  private emitting = false;

  // Ring topology (docs/membership.md#topology); unused by the mesh.
  /** Ids of the live members and self, ascending, and the member at each position (undefined: self). */
  private ringIds: number[] = [];
  private ringMembers: (Member | undefined)[] = [];
  /** Our fast neighbours: heartbeated every heartbeatMs, watched, buried by us. */
  private fast: Member[] = [];
  private fastSet = new Set<Member>();
  /** Ticks left in which every member gets our heartbeat (a death we saw, a refutation, start, metadata). */
  private broadcastLeft = 0;
  private nextProbeAt = 0;
  /** Members a pending broadcast has not reached yet, and the timer of its next chunk. */
  private broadcastQueue: Member[] = [];
  private broadcastTimer: Timer | undefined;
  private probeOrder: Member[] = [];
  private probeCursor = 0;
  /** Members whose entry changed within gossipMs, oldest first (pruned lazily). */
  private recent: Member[] = [];
  /** The transport's beat fast path, once it accepted our configuration (else beats are ordinary datagrams). */
  private beatPath: BeatPath | undefined;
  /** Beat fast path slots: the sender of a beat it reports (the members when it was last configured). */
  private beatSlots: Member[] = [];
  private beatSlotOf = new Map<Member, number>();
  /** The rotation was advanced for this tick (only ticks that send a full heartbeat advance it). */
  private rotationFresh = false;
  /**
   * The beat engine, while it runs (BeatEngine: beats, the socket and silences on a native
   * thread): our ticks are then fullHeartbeatMs apart unless something is going on.
   */
  private engine: BeatEngine | undefined;
  /** Something the engine was told has changed (targets, watched members, incarnations, keys). */
  private engineDirty = true;
  /** The engine this instance last ran (for its counts after a stop). */
  private engineSeen: BeatEngine | undefined;
  /** Members with a newer metadata version advertised than we hold. */
  private readonly wanting = new Set<Member>();

  private readonly counters = {
    sent: 0,
    received: 0,
    accepted: 0,
    suspicions: 0,
    deaths: 0,
    revivals: 0,
    leaves: 0,
    refutations: 0,
    stalls: 0,
    ticks: 0,
    badMetadata: 0,
    sendErrors: 0,
  };
  private readonly beatCounters = { sent: 0, accepted: 0 };
  private readonly drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  private readonly verified = { current: 0, previous: 0 };

  constructor(c: MembershipComponents) {
    this.self = c.self;
    this.selfAddress = c.peers.find((p) => p.name === c.self)?.address ?? '';
    this.selfId = memberId(c.self);
    this.clock = c.clock;
    this.transport = c.transport;
    this.rng = c.rng ?? Math.random;
    this.wallClock = c.wallClock ?? Date.now;
    this.log = c.logger.child({ component: 'membership', node: c.self });
    [this.key, this.keys] = resolveKeys(c.secret, c.previousSecrets);

    const peers = checkPeers(c.self, c.peers);
    this.o = resolveMembershipOptions(peers.length + 1, c.options);
    for (const p of peers) this.addMember(p, 'alive', -Infinity);
    this.selfIncarnation = Math.floor(c.incarnation ?? this.wallClock());
    if (!Number.isSafeInteger(this.selfIncarnation) || this.selfIncarnation < 0 || this.selfIncarnation > MAX_INCARNATION) {
      throw new RangeError(`incarnation must be an integer in 0..2^48, got ${c.incarnation}`);
    }
    this.aliveSet = this.computeAlive();
    this.peersChanged();
    this.recomputeRing(-Infinity);
  }

  /** Ring topology in effect: asked for, and more than 3 nodes (with 3 or fewer the ring is the full mesh). */
  private get ring(): boolean {
    return this.o.topology === 'ring' && this.members.length > 2;
  }

  /** The resolved options (defaults filled in). */
  get options(): ResolvedMembershipOptions {
    return this.o;
  }

  get incarnation(): number {
    return this.selfIncarnation;
  }

  /**
   * Starts the transport and the heartbeats. Peers start out alive, with our start time as
   * their last evidence: a node that boots must not grab the VIPs of peers it simply has not
   * heard from yet; a peer never heard from is declared dead after the dead timeout.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.transport.onMessage((data, from, at) => this.receive(data, from, at));
    this.transport.beats?.onBeat((slot, keyId, incarnation, seq, at) => this.receiveBeat(slot, keyId, incarnation, seq, at));
    await this.transport.start();
    this.running = true;
    this.configureBeats();
    this.startEngine();
    this.leaving = false;
    this.startedAt = this.clock.now();
    for (const m of this.members) m.lastEvidenceAt = Math.max(m.lastEvidenceAt, this.startedAt);
    this.log.info({ incarnation: this.selfIncarnation, peers: this.members.length, heartbeatMs: this.o.heartbeatMs, topology: this.ring ? 'ring' : 'mesh' }, 'membership started');
    this.recomputeRing(this.startedAt);
    this.nextProbeAt = this.startedAt + this.rng() * this.o.probeMs;
    // Ring: one heartbeat to every member announces our (new) incarnation; the mesh sends it anyway.
    this.broadcastLeft = 1;
    this.sendNow(this.clock.now());
    this.tickDueAt = 0;
    this.scheduleTick();
  }

  /** Stops heartbeats and closes the transport, without telling peers (they will see us dead). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopEngine();
    this.tickTimer?.cancel();
    this.tickTimer = undefined;
    this.broadcastTimer?.cancel();
    this.broadcastTimer = undefined;
    this.broadcastQueue = [];
    await this.transport.stop();
    this.log.info('membership stopped');
  }

  /**
   * Graceful shutdown: sends `leave` to every peer `leaveRepeats` times, `leaveIntervalMs`
   * apart (peers mark us `left` at the first one they receive), then stops. Hand VIPs over
   * before calling this (e.g. publish `{ draining: true }` metadata and wait a heartbeat).
   */
  async leave(): Promise<void> {
    if (!this.running) return;
    this.leaving = true;
    this.stopEngine();
    this.tickTimer?.cancel();
    this.tickTimer = undefined;
    for (let i = 0; i < this.o.leaveRepeats; i++) {
      if (i > 0) await sleep(this.clock, this.o.leaveIntervalMs);
      for (const m of this.members) if (m.state !== 'left') this.send(m, { type: 'leave', ...this.header(m) });
    }
    await this.stop();
  }

  /** Self plus every member currently alive or suspect. */
  alive(): ReadonlySet<string> {
    return this.aliveSet;
  }

  view(): MembershipView {
    const now = this.clock.now();
    const members = new Map<string, MemberView>();
    members.set(this.self, {
      name: this.self,
      address: this.selfAddress,
      state: this.leaving ? 'left' : 'alive',
      incarnation: this.selfIncarnation,
      lastHeardMsAgo: 0,
      metadata: this.selfMeta,
      self: true,
    });
    for (const m of this.members) {
      members.set(m.name, {
        name: m.name,
        address: m.address,
        state: m.state,
        incarnation: m.incarnation,
        lastHeardMsAgo: m.heard ? now - m.lastEvidenceAt : undefined,
        stateSinceMsAgo: m.stateAt === -Infinity ? undefined : now - m.stateAt,
        metadata: m.metadata,
        self: false,
      });
    }
    return { alive: this.aliveSet, members };
  }

  /**
   * Called when this node refutes a peer's report that it is suspect or dead (with that state):
   * peers may have moved its VIPs meanwhile.
   */
  onRefute(handler: (state: MemberState) => void): () => void {
    this.refuteHandlers.add(handler);
    return () => this.refuteHandlers.delete(handler);
  }

  /** Calls `handler` whenever the alive set or any member's metadata changes. Returns an unsubscribe. */
  onChange(handler: (view: MembershipView) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /**
   * Publishes this node's metadata (JSON, at most maxMetadataBytes UTF-8). Sent to every peer
   * at once and pushed in every heartbeat for gossipMs; peers that still miss it ask for it.
   */
  setMetadata(metadata: Metadata): void {
    const { copy, bytes } = encodeSelfMetadata(metadata, this.o.maxMetadataBytes);
    this.selfMeta = copy;
    this.selfMetaBytes = bytes;
    // Wall-clock based so that a restarted node's versions are newer than its previous life's.
    this.selfMetaVersion = Math.max(this.selfMetaVersion + 1, Math.floor(this.wallClock()));
    this.selfMetaChangedAt = this.clock.now();
    this.metaDirty = true;
    if (this.running && !this.leaving) {
      this.broadcastLeft = this.o.broadcastRepeats;
      this.sendNow(this.clock.now());
      this.hurry();
    }
    this.emit();
  }

  /**
   * Replaces the peer list at runtime (peers that come and go, e.g. pods): a new peer is probed
   * at once but counts as dead, never heard, until a datagram from it or a peer's report that it
   * was heard recently, so no VIP moves to a node that is not running yet; a removed peer's state
   * is dropped and handlers are told (the alive set loses it); a changed address is used from the
   * next datagram on. Self is never reset: an entry named `self` only updates our own address.
   * Timing options stay as resolved at construction. Throws ConfigError (and changes nothing) on a
   * duplicate name or a member id clash.
   */
  setPeers(peers: readonly PeerConfig[]): void {
    const next = checkPeers(this.self, peers);
    // The engine's latest beats first: a removed member's marks are retired with it.
    this.drainEngine();
    this.selfAddress = peers.find((p) => p.name === this.self)?.address ?? this.selfAddress;
    const now = this.clock.now();
    const wanted = new Map(next.map((p) => [p.name, p]));
    let changed = false;
    for (const m of [...this.members]) {
      const p = wanted.get(m.name);
      if (p === undefined) {
        this.removeMember(m);
        changed = true;
      } else if (p.address !== m.address) {
        this.log.info({ node: m.name, address: p.address, from: m.address }, 'member address changed');
        m.address = p.address;
      }
    }
    const added: Member[] = [];
    for (const p of next) if (!this.byName.has(p.name)) added.push(this.addMember(p, 'dead', now));
    this.peersChanged();
    this.recomputeRing(now);
    if (added.length > 0 || changed) {
      this.aliveDirty = true;
      this.log.info({ added: added.map((m) => m.name), peers: this.members.length }, 'membership peers changed');
    }
    if (this.running && !this.leaving && added.length > 0) {
      const ages = this.ring ? this.baseAges(now) : this.members.map((x) => this.ageOf(x, now));
      for (const m of added) this.send(m, this.heartbeatFor(m, now, this.ring ? this.agesFor(m, ages, now) : ages));
    }
    this.emit();
  }

  /**
   * Replaces the secrets (key rotation while running, e.g. on SIGHUP): `secret` signs from now
   * on, `previousSecrets` are still accepted. Throws ConfigError (and changes nothing) on a
   * short secret.
   */
  setSecrets(secret: string | Uint8Array, previousSecrets: readonly (string | Uint8Array)[] = []): void {
    const [key, keys] = resolveKeys(secret, previousSecrets);
    const changed = key.id !== this.key.id;
    this.key = key;
    this.keys = keys;
    this.configureBeats();
    this.log.info({ keys: keys.size, currentChanged: changed }, 'membership secrets replaced');
  }

  stats(): MembershipStats {
    // The engine's beats never reach us one by one: its counts are added (since the transport made it).
    const e = this.engineSeen?.counts() ?? { sent: 0, accepted: 0 };
    return {
      ...this.counters,
      sent: this.counters.sent + e.sent,
      received: this.counters.received + e.accepted,
      accepted: this.counters.accepted + e.accepted,
      incarnation: this.selfIncarnation,
      drops: { ...this.drops },
      verified: { ...this.verified },
      beats: this.beatStats(e),
    };
  }

  // ---- time ----

  private scheduleTick(woken = false): void {
    const now = this.clock.now();
    const j = 1 - this.o.jitter + 2 * this.o.jitter * this.rng();
    let period = this.o.heartbeatMs * j;
    if (this.engine !== undefined && !this.needsFastTicks(now)) {
      // The engine beats and watches; we send the full heartbeats (fullHeartbeatMs) and probes.
      period = this.o.fullHeartbeatMs * j;
      if (this.ring) period = Math.min(period, Math.max(this.o.heartbeatMs, this.nextProbeAt - now));
    }
    // Scheduled from the previous due time, so ordinary timer lateness (about 1 ms in Node) does
    // not stretch the period; after a real stall or a wakeup, from now (no burst of catch-up ticks).
    const base = !woken && this.tickDueAt > 0 && now - this.tickDueAt <= this.o.heartbeatMs ? this.tickDueAt : now;
    this.tickDueAt = base + period;
    // One timer chain only (a hurry() during this tick may have set one already).
    this.tickTimer?.cancel();
    this.tickTimer = this.clock.setTimeout(() => this.tick(), Math.max(0, this.tickDueAt - now));
  }

  private tick(woken = false): void {
    if (!this.running || this.leaving) return;
    // The engine's beats first: the datagrams read next may be pings, answered at once with our
    // ages, and an age from before the engine's latest beats would confirm a silence we do not see.
    this.drainEngine();
    // A polled transport (PolledUdpTransport) delivers what arrived since the last tick now,
    // each datagram dated by its arrival: the only wakeup a heartbeat period costs is this one.
    this.transport.poll?.();
    if (!this.running || this.leaving) return;
    this.counters.ticks++;
    const now = this.clock.now();
    // Lifeguard's local health, reduced to its core: a late timer means our event loop stalled,
    // and the datagrams peers sent meanwhile are still queued in the socket (Node runs due
    // timers before it polls for I/O). Declaring deaths now would blame peers for our stall, so
    // this tick only suspects and the next one, after the queue was read, decides. Never two
    // ticks in a row: a node that is always late must still detect deaths.
    const stalled = !woken && now - this.tickDueAt > this.o.heartbeatMs;
    if (stalled) this.counters.stalls++;
    const skipDeaths = stalled && !this.skippedDeaths;
    this.skippedDeaths = skipDeaths;
    this.rotationFresh = false;
    if (this.ring) {
      this.evaluateRing(now, !skipDeaths);
      if (this.aliveDirty) this.recomputeRing(now);
      this.sendRing(now);
    } else {
      this.evaluate(now, !skipDeaths);
      this.sendHeartbeats(now);
    }
    this.syncEngine();
    this.scheduleTick(woken);
    this.emit();
  }

  /** Sends out of turn (start, metadata, refutation): every member in the mesh, a broadcast in the ring. */
  private sendNow(now: number): void {
    this.drainEngine();
    if (this.ring) {
      this.broadcastLeft = Math.max(this.broadcastLeft, 1);
      this.sendRing(now);
    } else {
      this.sendHeartbeats(now, true);
    }
  }

  /**
   * Ring: only our fast neighbours are suspected and buried by us (the others are buried by
   * their own neighbours, who tell everyone). A burial is broadcast broadcastRepeats times.
   */
  private evaluateRing(now: number, mayDeclareDead: boolean): void {
    for (const m of this.fast) {
      if (m.state === 'dead' || m.state === 'left') continue;
      const directAge = now - Math.max(m.lastDirectAt, this.startedAt, m.addedAt, m.watchSince);
      if (m.state === 'alive' && directAge > this.o.suspectMs) {
        m.suspectedAt = now;
        this.setState(m, 'suspect', now, 'no direct heartbeat');
      }
      if (mayDeclareDead && now - m.lastEvidenceAt > this.deadTimeout(m)) {
        this.setState(m, 'dead', now, 'no evidence from it or its other neighbours');
        this.broadcastLeft = this.o.broadcastRepeats;
      }
    }
  }

  /**
   * Rebuilds the ring of live ids and our fast neighbours: the watchers/2 nearest live ids on
   * each side of ours. A new neighbour gets the benefit of the doubt from now on (we may not have
   * heard it lately); a former one we suspected is no longer ours to judge and counts as alive.
   */
  private recomputeRing(now: number): void {
    if (!this.ring) {
      this.fast = [];
      this.fastSet = new Set();
      return;
    }
    const live: Member[] = [];
    for (const m of this.members) if (m.state === 'alive' || m.state === 'suspect') live.push(m);
    // Sorted by id; self is the one position without a member (Array.prototype.sort would put an
    // undefined element last without asking the comparator, hence positions, not elements).
    const ids = [...live.map((m) => m.id), this.selfId].sort((a, b) => a - b);
    const byId = this.byId;
    this.ringIds = ids;
    this.ringMembers = ids.map((id) => (id === this.selfId ? undefined : byId.get(id)));
    const fast = this.neighbours(this.selfId).filter((m): m is Member => m !== undefined);
    const fastSet = new Set(fast);
    for (const m of fast) {
      if (this.fastSet.has(m)) continue;
      m.watchSince = now;
      if (now > m.lastEvidenceAt) m.lastEvidenceAt = now;
    }
    for (const m of this.fast) if (!fastSet.has(m) && m.state === 'suspect') this.setState(m, 'alive', now, 'no longer a neighbour');
    this.fast = fast;
    this.fastSet = fastSet;
    this.engineDirty = true;
  }

  /** The watchers/2 nearest ring positions on each side of `id` (which must be in the ring), without it; undefined: self. */
  private neighbours(id: number): (Member | undefined)[] {
    const ids = this.ringIds;
    const n = ids.length;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= n || ids[lo] !== id) return [];
    const out: (Member | undefined)[] = [];
    const seen = new Set<number>([lo]);
    for (let d = 1; d <= this.o.watchers / 2; d++) {
      for (const i of [(lo + d) % n, (lo - d + n * d) % n]) {
        if (seen.has(i)) continue;
        seen.add(i);
        out.push(this.ringMembers[i]);
      }
    }
    return out;
  }

  /** Ring: the other nodes that watch `m` (its neighbours but us), live. */
  private coWatchers(m: Member): Member[] {
    return this.neighbours(m.id).filter((x): x is Member => x !== undefined && x !== m && (x.state === 'alive' || x.state === 'suspect'));
  }

  private evaluate(now: number, mayDeclareDead: boolean): void {
    for (const m of this.members) {
      if (m.state === 'dead' || m.state === 'left') continue;
      const directAge = now - Math.max(m.lastDirectAt, this.startedAt, m.addedAt);
      if (m.state === 'alive' && directAge > this.o.suspectMs) {
        m.suspectedAt = now;
        this.setState(m, 'suspect', now, 'no direct heartbeat');
      }
      if (mayDeclareDead && now - m.lastEvidenceAt > this.deadTimeout(m)) {
        this.setState(m, 'dead', now, 'no evidence from any member');
      }
    }
  }

  /**
   * Lifeguard's dynamic suspicion timeout: deadMaxMs without confirmation, falling
   * logarithmically to deadMs as up to k = maxConfirmations other live members confirm they do
   * not hear from `m` either (age >= suspectMs or state suspect/dead, reported since we
   * started suspecting it). No other member (two-node cluster): deadMaxMs.
   */
  private deadTimeout(m: Member): number {
    let others = 0;
    let confirmations = 0;
    for (const y of this.ring ? this.coWatchers(m) : this.members) {
      if (y === m || y.state === 'dead' || y.state === 'left') continue;
      others++;
      if (y.agesAt < m.suspectedAt || m.state !== 'suspect') continue;
      const age = y.ages.get(m.id);
      const entry = y.entries.get(m.id);
      const entrySaysDown = entry !== undefined && entry.incarnation >= m.incarnation && (entry.state === 'suspect' || entry.state === 'dead');
      if ((age !== undefined && age >= this.o.suspectMs) || entrySaysDown) confirmations++;
    }
    const k = Math.min(this.o.maxConfirmations, others);
    if (k === 0) return this.o.deadMaxMs;
    const c = Math.min(confirmations, k);
    const { deadMs, deadMaxMs } = this.o;
    return Math.max(deadMs, deadMaxMs - ((deadMaxMs - deadMs) * Math.log(c + 1)) / Math.log(k + 1));
  }

  // ---- sending ----

  private header(to: Member, beat = false): { sender: string; receiver: number; incarnation: number; seq: number; timestamp: number } {
    const seq = beat ? ++to.beatSentSeq : ++to.sentSeq;
    if (beat) {
      if (seq > this.beatSeqHigh) this.beatSeqHigh = seq;
    } else if (seq > this.seqHigh) this.seqHigh = seq;
    return { sender: this.self, receiver: to.id, incarnation: this.selfIncarnation, seq, timestamp: Math.floor(this.wallClock()) };
  }

  private send(to: Member, message: Message): void {
    this.counters.sent++;
    if (message.type === 'heartbeat') to.fullSentAt = this.clock.now();
    let data: Uint8Array;
    try {
      data = encodeMessage(message, this.key);
    } catch (err) {
      // Unreachable while every number we send is bounded; if it ever happens it must cost one
      // datagram, not the timer callback or the receive handler that called us.
      if (this.counters.sendErrors++ % 1000 === 0) this.log.error({ err, node: to.name }, 'membership: cannot encode a datagram');
      return;
    }
    this.transport.send(to.address, data);
    if (this.engine !== undefined) {
      const slot = this.beatSlotOf.get(to);
      if (slot !== undefined) this.engine.sentTo(slot);
    }
  }

  /** A beat: through the transport's fast path (no JS object per datagram), else encoded here. */
  private sendBeat(to: Member): void {
    if (this.engine !== undefined) return; // it beats every target each period
    this.beatCounters.sent++;
    const h = this.header(to, true);
    const path = this.beatPath;
    if (path === undefined) {
      this.send(to, { type: 'beat', ...h });
      return;
    }
    this.counters.sent++;
    path.sendBeat(to.address, this.key.id, h.receiver, h.incarnation, h.seq, h.timestamp);
  }

  /**
   * Whether `r` gets a full heartbeat this tick rather than a beat: one is due (fullHeartbeatMs),
   * or there is news for it: a change within gossipMs (ours or a member's), metadata wanted by
   * either side, a member we suspect or `r` itself not alive here (co-watchers need our ages to
   * confirm or refute), or something `r` last told us that we hold otherwise (so a suspicion of
   * `r`'s is answered with our ages at our next tick, as a ping would be).
   */
  private needsFull(r: Member, now: number, news: boolean): boolean {
    // Due within half a heartbeat counts as due (ticks are jittered: fullHeartbeatMs = heartbeatMs means always).
    // With the engine our ticks are themselves about fullHeartbeatMs apart (jittered): due within that jitter counts.
    const early = this.o.heartbeatMs / 2 + (this.engine === undefined ? 0 : this.o.fullHeartbeatMs * this.o.jitter);
    if (news || r.state !== 'alive' || now - r.fullSentAt + early >= this.o.fullHeartbeatMs) return true;
    for (const [id, e] of r.entries) {
      if (e.want) return true;
      if (id === this.selfId) {
        if (e.state !== 'alive' || e.incarnation < this.selfIncarnation) return true;
        continue;
      }
      const x = this.byId.get(id);
      if (x !== undefined && x !== r && (e.state !== x.state || e.incarnation !== x.incarnation || e.metaVersion !== x.metaVersion)) return true;
    }
    return false;
  }

  /**
   * With the engine, ticks come from our timer and from its wakeups: one that follows another
   * within half a heartbeat sends nothing more to a member heard from us just now (the engine's
   * next beat to it is skipped for that full heartbeat, so it is covered).
   */
  private sentJustNow(m: Member, now: number): boolean {
    return this.engine !== undefined && now - m.fullSentAt < this.o.heartbeatMs / 2;
  }

  /** News for every receiver this tick: a recent change, metadata wanted or changed, a suspicion. */
  private hasNews(now: number): boolean {
    if (this.wanting.size > 0 || now - this.selfMetaChangedAt <= this.o.gossipMs) return true;
    this.pruneRecent(now);
    if (this.recent.length > 0) return true;
    for (const m of this.ring ? this.fast : this.members) if (m.state === 'suspect') return true;
    return false;
  }

  private ageOf(x: Member, now: number): AgeReport {
    return { id: x.id, ageMs: x.lastDirectAt === -Infinity ? undefined : now - x.lastDirectAt };
  }

  private sendHeartbeats(now: number, all = false): void {
    this.flushNeeded = false;
    const news = all || this.hasNews(now);
    // One age table for all receivers (each also learns how long ago we last heard it).
    let ages: AgeReport[] | undefined;
    for (const m of this.members) {
      if (m.state === 'left' || (!all && this.sentJustNow(m, now))) continue;
      if (this.needsFull(m, now, news)) this.send(m, this.heartbeatFor(m, now, (ages ??= this.members.map((x) => this.ageOf(x, now)))));
      else this.sendBeat(m);
    }
  }

  /** Ring: ages of our fast neighbours (what their other watchers need to confirm or refute a suspicion). */
  private baseAges(now: number): AgeReport[] {
    return this.fast.map((x) => this.ageOf(x, now));
  }

  /** Ring: the base ages plus those `r` itself reported last (so a ping about X is answered with our age of X). */
  private agesFor(r: Member, base: readonly AgeReport[], now: number): readonly AgeReport[] {
    if (r.ages.size === 0) return base;
    let out: AgeReport[] | undefined;
    for (const id of r.ages.keys()) {
      const x = this.byId.get(id);
      if (x === undefined || this.fastSet.has(x)) continue;
      out ??= [...base];
      if (out.length >= MAX_RING_AGES) break;
      out.push(this.ageOf(x, now));
    }
    return out ?? base;
  }

  /**
   * Ring: heartbeats to our fast neighbours; pings (answered at once) to suspected neighbours
   * and to their other watchers, whose ages confirm or refute the suspicion; one slow probe of
   * another member every probeMs; and to every member while a broadcast is pending.
   */
  private sendRing(now: number): void {
    this.flushNeeded = false;
    const base = this.baseAges(now);
    const ping = new Set<Member>();
    for (const m of this.fast) {
      if (m.state !== 'suspect') continue;
      ping.add(m);
      for (const y of this.coWatchers(m)) ping.add(y);
    }
    const sendTo = (m: Member): void => {
      this.send(m, this.heartbeatFor(m, now, this.agesFor(m, base, now), ping.has(m)));
    };
    const broadcast = this.broadcastLeft > 0;
    if (broadcast) this.broadcastLeft--;
    const news = broadcast || this.hasNews(now);
    const sent = new Set<Member>();
    for (const m of this.fast) {
      sent.add(m);
      if (!broadcast && !ping.has(m) && this.sentJustNow(m, now)) continue;
      if (ping.has(m) || this.needsFull(m, now, news)) sendTo(m);
      else this.sendBeat(m);
    }
    for (const m of ping) {
      if (sent.has(m)) continue;
      sent.add(m);
      sendTo(m);
    }
    if (broadcast) {
      // Everyone else, BROADCAST_CHUNK per event-loop turn: at N = 1 000 one turn would
      // otherwise spend tens of ms encoding and MACing while ARP requests wait.
      this.broadcastQueue = this.members.filter((m) => !sent.has(m));
      this.drainBroadcast();
      return;
    }
    if (now >= this.nextProbeAt) {
      this.nextProbeAt = now + this.o.probeMs * (1 - this.o.jitter + 2 * this.o.jitter * this.rng());
      const t = this.nextProbeTarget();
      if (t !== undefined && !sent.has(t)) sendTo(t);
    }
  }

  private drainBroadcast(): void {
    this.broadcastTimer = undefined;
    if (!this.running || this.leaving) {
      this.broadcastQueue = [];
      return;
    }
    const now = this.clock.now();
    const base = this.baseAges(now);
    const chunk = this.broadcastQueue.splice(0, BROADCAST_CHUNK);
    for (const m of chunk) {
      if (m.state === 'left' || this.byId.get(m.id) !== m) continue;
      this.send(m, this.heartbeatFor(m, now, this.agesFor(m, base, now)));
    }
    if (this.broadcastQueue.length > 0) this.broadcastTimer = this.clock.setTimeout(() => this.drainBroadcast(), 0);
  }

  /** SWIM's round-robin over a shuffled member list: every member is probed once per round. */
  private nextProbeTarget(): Member | undefined {
    for (let tries = 0; tries < 2 * this.members.length + 1; tries++) {
      if (this.probeCursor >= this.probeOrder.length) {
        this.probeOrder = [...this.members];
        for (let i = this.probeOrder.length - 1; i > 0; i--) {
          const j = Math.floor(this.rng() * (i + 1));
          [this.probeOrder[i], this.probeOrder[j]] = [this.probeOrder[j]!, this.probeOrder[i]!];
        }
        this.probeCursor = 0;
        if (this.probeOrder.length === 0) return undefined;
      }
      const m = this.probeOrder[this.probeCursor++]!;
      if (m.state !== 'left' && !this.fastSet.has(m) && this.byId.get(m.id) === m) return m;
    }
    return undefined;
  }

  /** Ring: answers `m` out of turn (a ping, or to tell it it is buried), at most once per half heartbeat. */
  private replyTo(m: Member, now: number): void {
    if (now - m.repliedAt < this.o.heartbeatMs / 2 || !this.running || this.leaving) return;
    m.repliedAt = now;
    this.send(m, this.heartbeatFor(m, now, this.agesFor(m, this.baseAges(now), now)));
  }

  /** Records a change of `x`'s entry: gossiped for gossipMs. */
  private touch(x: Member, now: number): void {
    x.changedAt = now;
    this.recent.push(x);
    // Bounded: pruned of what is older than gossipMs (or of its oldest half past 4096 changes).
    if (this.recent.length > 64 && now - this.recent[0]!.changedAt > this.o.gossipMs) this.pruneRecent(now);
    if (this.recent.length > 4096) this.recent.splice(0, 2048);
  }

  private pruneRecent(now: number): void {
    let drop = 0;
    while (drop < this.recent.length && now - this.recent[drop]!.changedAt > this.o.gossipMs) drop++;
    if (drop > 0) this.recent.splice(0, drop);
  }

  private noteAdvertised(x: Member, version: number): void {
    if (version > x.advertisedMeta) x.advertisedMeta = version;
    if (x.advertisedMeta > x.metaVersion) this.wanting.add(x);
    else this.wanting.delete(x);
  }

  private nextRotation(): Set<Member> {
    const n = this.members.length;
    const count = this.ring ? Math.min(n, 2) : Math.min(n, Math.max(1, Math.ceil(n / 10)));
    const picked = new Set<Member>();
    for (let i = 0; i < count; i++) picked.add(this.members[(this.rotationCursor + i) % n]!);
    this.rotationCursor = n === 0 ? 0 : (this.rotationCursor + count) % n;
    return picked;
  }

  private heartbeatFor(r: Member, now: number, ages: readonly AgeReport[], wantReply = false): HeartbeatMessage {
    if (!this.rotationFresh) {
      this.rotation = this.nextRotation();
      this.rotationFresh = true;
    }
    const entries: ViewEntry[] = this.ring ? this.ringEntries(r, now) : [];
    if (!this.ring) for (const x of this.members) {
      const want = x.advertisedMeta > x.metaVersion;
      const theirs = r.entries.get(x.id);
      const interesting =
        x.state !== 'alive' ||
        want ||
        now - x.changedAt <= this.o.gossipMs ||
        (theirs !== undefined && (theirs.state !== 'alive' || theirs.want)) ||
        this.rotation.has(x);
      if (interesting) entries.push({ id: x.id, state: x.state, incarnation: x.incarnation, metaVersion: x.metaVersion, want });
    }
    const message: HeartbeatMessage = {
      type: 'heartbeat',
      ...this.header(r),
      metaVersion: this.selfMetaVersion,
      ages,
      entries,
      blobs: [],
      ...(wantReply ? { wantReply } : {}),
    };
    const blobs: MetadataBlob[] = [];
    let size = encodedSize(message);
    const add = (id: number, version: number, data: Uint8Array | undefined): void => {
      if (data === undefined || size + 14 + data.length > this.o.maxDatagramBytes || blobs.length >= 255) return;
      blobs.push({ id, version, data });
      size += 14 + data.length;
    };
    const aboutSelf = r.entries.get(this.selfId);
    if (now - this.selfMetaChangedAt <= this.o.gossipMs || (aboutSelf !== undefined && aboutSelf.want && aboutSelf.metaVersion < this.selfMetaVersion)) {
      add(this.selfId, this.selfMetaVersion, this.selfMetaBytes);
    }
    for (const [id, e] of r.entries) {
      const x = this.byId.get(id);
      if (x !== undefined && x !== r && e.want && e.metaVersion < x.metaVersion) add(x.id, x.metaVersion, x.metaBytes);
    }
    return blobs.length === 0 ? message : { ...message, blobs };
  }

  /**
   * Ring: the entries gossiped to `r`, at most maxEntries, newest change first: `r` itself when
   * we buried it (so it refutes), members changed within gossipMs, members whose metadata we or
   * `r` want, and two members in rotation (anti-entropy). Never every dead member: N is large.
   */
  private ringEntries(r: Member, now: number): ViewEntry[] {
    this.pruneRecent(now);
    const picked = new Set<Member>();
    if (r.state === 'dead') picked.add(r);
    for (let i = this.recent.length - 1; i >= 0 && picked.size < this.o.maxEntries; i--) picked.add(this.recent[i]!);
    for (const x of this.wanting) if (picked.size < this.o.maxEntries) picked.add(x);
    for (const [id, e] of r.entries) {
      if (picked.size >= this.o.maxEntries) break;
      const x = this.byId.get(id);
      if (x !== undefined && x !== r && e.want && e.metaVersion < x.metaVersion) picked.add(x);
    }
    for (const x of this.rotation) if (picked.size < this.o.maxEntries) picked.add(x);
    const entries: ViewEntry[] = [];
    for (const x of picked) {
      entries.push({ id: x.id, state: x.state, incarnation: x.incarnation, metaVersion: x.metaVersion, want: x.advertisedMeta > x.metaVersion });
    }
    return entries;
  }

  // ---- receiving ----

  /** The transport's handler: whatever arrives, this never throws (a failure is a counted drop). */
  private receive(data: Uint8Array, from: string, at: number | undefined): void {
    if (!this.running) return;
    this.counters.received++;
    try {
      this.receiveChecked(data, from, at);
    } catch (err) {
      if (this.drops['internal-error'] % 1000 === 0) this.log.error({ err, from }, 'membership: error receiving a datagram');
      this.drop('internal-error', from);
    }
  }

  /** `at`: when the datagram arrived (a polled transport reads it later, at our tick); default now. */
  private receiveChecked(data: Uint8Array, from: string, at: number | undefined): void {
    // Cheap checks first: a flood from elsewhere costs a length compare and a set lookup, no HMAC.
    if (data.length > this.receiveLimit) return this.drop('oversize', from);
    if (this.o.checkSourceAddress && !this.knownSource(from)) return this.drop('unknown-source', from);
    const decoded = decodeMessage(data, this.keys);
    if (!decoded.ok) {
      if (decoded.reason === 'wrong-version') this.warnVersion(decoded.version, from);
      return this.drop(decoded.reason, from);
    }
    const msg = decoded.message;
    if (msg.sender === this.self) return this.drop('reflected', from);
    // The receiver id is under the MAC: a datagram a peer sent to another node, replayed to us
    // (no key needed), must not count as evidence that the peer is alive.
    if (msg.receiver !== this.selfId) return this.drop('wrong-receiver', from);
    const m = this.byName.get(msg.sender);
    if (m === undefined) return this.drop('unknown-sender', from);
    if (!incarnationsBounded(msg)) return this.drop('bad-incarnation', from);
    const skew = this.o.maxClockSkewMs;
    if (skew !== undefined && Math.abs(msg.timestamp - this.wallClock()) > skew) return this.drop('clock-skew', from);
    this.accept(m, msg, decoded.keyId, from, at);
  }

  /**
   * A beat the transport's fast path checked (structure, key, MAC, receiver, sender, source,
   * skew: what receiveChecked checks before the replay window); the rest is as for any datagram.
   */
  private receiveBeat(slot: number, keyId: number, incarnation: number, seq: number, at: number): void {
    if (!this.running) return;
    this.counters.received++;
    const m = this.beatSlots[slot];
    // A slot of a member removed since the fast path was configured (it is reconfigured at once).
    if (m === undefined || this.byId.get(m.id) !== m) return this.drop('unknown-sender', m?.address ?? '');
    const msg: BeatMessage = { type: 'beat', sender: m.name, receiver: this.selfId, incarnation, seq, timestamp: 0 };
    try {
      this.accept(m, msg, keyId, undefined, at);
    } catch (err) {
      if (this.drops['internal-error'] % 1000 === 0) this.log.error({ err, node: m.name }, 'membership: error receiving a beat');
      this.drop('internal-error', m.address);
    }
  }

  /** An authenticated datagram from `m`, for us: the replay window, then its content. `from`: undefined for a fast-path beat. */
  private accept(m: Member, msg: Message, keyId: number, from: string | undefined, at: number | undefined): void {
    if (msg.type === 'beat') {
      // Beats have their own numbers and only ever count forward: a replayed or reordered one is dropped.
      if (msg.incarnation < m.incarnation) return this.drop('too-old', from ?? m.address);
      if (msg.incarnation === m.beatInc && msg.seq <= m.beatSeq) return this.drop(msg.seq === m.beatSeq ? 'replay' : 'too-old', from ?? m.address);
      m.beatInc = msg.incarnation;
      m.beatSeq = msg.seq;
    } else {
      const verdict = m.replay.check(msg.incarnation, msg.seq);
      if (verdict !== 'ok') return this.drop(verdict, from ?? m.address);
      m.replay.accept(msg.incarnation, msg.seq);
      if (msg.incarnation < m.incarnation) return this.drop('too-old', from ?? m.address);
    }
    this.counters.accepted++;
    if (msg.type === 'beat') this.beatCounters.accepted++;
    if (keyId === this.key.id) this.verified.current++;
    else this.verified.previous++;
    if (from !== undefined && this.versionWarned.size > 0 && this.versionWarned.delete(from)) {
      this.log.info({ from, node: m.name }, 'membership peer speaks our wire version again');
    }
    const now = this.clock.now();
    try {
      // Evidence is dated when it arrived, not when it was read.
      this.handle(m, msg, at === undefined ? now : Math.min(at, now));
    } catch (err) {
      this.log.error({ err, node: m.name }, 'membership: error handling an authenticated datagram');
    }
    if (this.flushNeeded && this.running && !this.leaving) {
      if (this.ring) this.broadcastLeft = Math.max(this.broadcastLeft, this.o.broadcastRepeats);
      this.sendNow(now);
    } else if (this.ring && msg.type !== 'leave' && ((msg.type === 'heartbeat' && msg.wantReply === true) || m.state === 'dead')) {
      // A ping is answered at once (with a polled transport: at the tick that read it); a member we buried at this incarnation is told so, to refute.
      this.replyTo(m, now);
    }
    // With the engine our next tick may be a slow one away: news is pushed every heartbeat.
    if (this.engine !== undefined && this.needsFastTicks(now)) this.hurry();
    this.emit();
  }

  /** One warning per source address and episode (until it speaks our version), not per datagram. */
  private warnVersion(version: number | undefined, from: string): void {
    if (this.versionWarned.has(from)) return;
    if (this.versionWarned.size >= 1024) return; // bounded; known sources are far fewer
    this.versionWarned.add(from);
    this.log.warn(
      { from, version, ours: WIRE_VERSION },
      'membership datagram of another wire version dropped: upgrade every node (mixed versions do not hear each other)',
    );
  }

  private drop(reason: DropReason, from: string): void {
    this.drops[reason]++;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ reason, from }, 'membership datagram dropped');
  }

  private handle(m: Member, msg: Message, now: number): void {
    const newer = msg.incarnation > m.incarnation;
    // `now` is the datagram's arrival (a polled transport reads late): never move a time back.
    m.lastDirectAt = Math.max(m.lastDirectAt, now);
    if (newer) {
      this.setIncarnation(m, msg.incarnation);
      this.touch(m, now);
    }
    if (msg.type === 'leave') {
      if (m.state !== 'left') this.setState(m, 'left', now, 'leave received');
      return;
    }
    if (this.ring && m.state === 'dead' && !newer) {
      // Ring: others buried it at this incarnation on our word or its neighbours'; reviving it
      // here alone would split the view. It hears from us (receive) and refutes: a new incarnation.
    } else if (m.state !== 'left' || newer) {
      // A direct, authenticated, fresh datagram is proof of life: revive even a dead member
      // (a healed partition converges within one heartbeat); `left` needs a new incarnation.
      m.lastEvidenceAt = Math.max(m.lastEvidenceAt, now);
      m.heard = true;
      if (m.state !== 'alive') this.setState(m, 'alive', now, 'heartbeat received');
    }
    // A beat says nothing else: the ages, entries and metadata version it omits stand as last reported.
    if (msg.type === 'beat') return;
    if (msg.incarnation > m.metaIncarnation && msg.metaVersion < m.metaVersion) {
      // Versions only grow within a process's life: a lower one from a newer incarnation
      // means it restarted and its old metadata is gone.
      m.metadata = undefined;
      m.metaBytes = undefined;
      m.metaVersion = 0;
      m.advertisedMeta = 0;
      this.wanting.delete(m);
      this.metaDirty = true;
    }
    this.noteAdvertised(m, msg.metaVersion);

    m.ages.clear();
    m.agesAt = now;
    for (const a of msg.ages) {
      if (a.ageMs === undefined) {
        m.ages.set(a.id, Infinity);
        continue;
      }
      m.ages.set(a.id, a.ageMs);
      const x = this.byId.get(a.id);
      if (x === undefined || x === m || x.state === 'left') continue;
      const heardAt = now - a.ageMs;
      if (heardAt > x.lastEvidenceAt) x.lastEvidenceAt = heardAt;
      x.heard = true;
      if (x.state === 'dead' && a.ageMs < this.o.suspectMs && !this.ring) this.setState(x, 'alive', now, `reported alive by ${m.name}`);
    }
    m.entries.clear();
    for (const e of msg.entries) {
      m.entries.set(e.id, e);
      this.handleEntry(m, e, now);
    }
    for (const b of msg.blobs) this.handleBlob(b, now);
  }

  private handleEntry(from: Member, e: ViewEntry, now: number): void {
    if (e.id === this.selfId) {
      if (this.leaving) return;
      // SWIM refutation: someone suspects (or buried) this incarnation of us, or knows a newer
      // one (we restarted with a clock that went backwards): come back with a higher number.
      // Ring: a suspicion is local to a neighbour and never refuted (it would cost a broadcast);
      // only a burial is.
      const down = this.ring ? e.state === 'dead' || e.state === 'left' : e.state !== 'alive';
      if (e.incarnation > this.selfIncarnation || (e.incarnation === this.selfIncarnation && down)) {
        // Bounded (MAX_INCARNATION): at the bound we stay there rather than leave the safe range.
        this.selfIncarnation = Math.min(MAX_INCARNATION, e.incarnation + 1);
        for (const x of this.members) x.sentSeq = x.beatSentSeq = 0;
        this.seqHigh = this.beatSeqHigh = 0;
        this.engineDirty = true;
        this.counters.refutations++;
        this.flushNeeded = true;
        this.log.info({ node: from.name, reason: e.state, incarnation: this.selfIncarnation }, 'refuting suspicion');
        for (const h of this.refuteHandlers) h(e.state);
      }
      return;
    }
    const x = this.byId.get(e.id);
    if (x === undefined || x === from) return;
    this.noteAdvertised(x, e.metaVersion);
    if (this.ring) return this.handleEntryRing(from, x, e, now);
    if (e.incarnation < x.incarnation) return;
    if (e.state === 'left') {
      if (x.state !== 'left') {
        this.setIncarnation(x, e.incarnation);
        this.setState(x, 'left', now, `left, reported by ${from.name}`);
      }
      return;
    }
    if (x.state === 'left' && e.incarnation > x.incarnation && e.state === 'alive') {
      const age = from.ages.get(x.id);
      if (age !== undefined && age < this.o.suspectMs) {
        this.setIncarnation(x, e.incarnation);
        x.lastEvidenceAt = Math.max(x.lastEvidenceAt, now - age);
        x.heard = true;
        this.setState(x, 'alive', now, `rejoined, reported by ${from.name}`);
      }
    }
  }

  /**
   * Ring: SWIM's precedence. A newer incarnation wins; at the same one, dead and left beat alive.
   * A burial of a member we heard directly within suspectMs is ignored: it heard the same
   * burial (broadcast to every member) and will refute it.
   */
  private handleEntryRing(from: Member, x: Member, e: ViewEntry, now: number): void {
    if (e.incarnation < x.incarnation) return;
    const newer = e.incarnation > x.incarnation;
    if (e.state === 'left') {
      if (x.state !== 'left' || newer) {
        this.setIncarnation(x, e.incarnation);
        this.setState(x, 'left', now, `left, reported by ${from.name}`);
      }
      return;
    }
    if (e.state === 'dead') {
      if (x.state === 'left' && !newer) return;
      if (x.state === 'dead') {
        if (newer) this.setIncarnation(x, e.incarnation);
        return;
      }
      if (!newer && now - x.lastDirectAt < this.o.suspectMs) return;
      this.setIncarnation(x, e.incarnation);
      this.setState(x, 'dead', now, `buried by ${from.name}`);
      return;
    }
    if (!newer) return;
    this.setIncarnation(x, e.incarnation);
    this.touch(x, now);
    if (x.state === 'dead' || x.state === 'left') {
      x.lastEvidenceAt = Math.max(x.lastEvidenceAt, now);
      x.heard = true;
      this.setState(x, 'alive', now, `newer incarnation, reported by ${from.name}`);
    }
  }

  private handleBlob(b: MetadataBlob, now: number): void {
    const x = this.byId.get(b.id);
    if (x === undefined || b.version <= x.metaVersion) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(utf8Strict.decode(b.data));
    } catch {
      this.counters.badMetadata++;
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.counters.badMetadata++;
      return;
    }
    x.metadata = parsed as Metadata;
    x.metaBytes = b.data;
    x.metaVersion = b.version;
    x.metaIncarnation = x.incarnation;
    this.noteAdvertised(x, b.version);
    this.touch(x, now);
    this.metaDirty = true;
  }

  // ---- peers ----

  private addMember(p: PeerConfig, state: 'alive' | 'dead', addedAt: number): Member {
    const retired = this.retiredWindows.get(p.name);
    this.retiredWindows.delete(p.name);
    const m: Member = {
      name: p.name,
      id: memberId(p.name),
      address: p.address,
      state,
      incarnation: 0,
      lastDirectAt: -Infinity,
      addedAt,
      lastEvidenceAt: addedAt === -Infinity ? 0 : addedAt,
      heard: false,
      suspectedAt: 0,
      changedAt: -Infinity,
      stateAt: -Infinity,
      metadata: undefined,
      metaBytes: undefined,
      metaVersion: 0,
      metaIncarnation: 0,
      advertisedMeta: 0,
      replay: retired?.replay ?? new ReplayWindow(this.o.replayWindow),
      // Above anything we sent it before a removal (its window for us may still be open).
      sentSeq: this.seqHigh,
      beatSentSeq: this.beatSeqHigh,
      beatInc: retired?.beatInc ?? -1,
      beatSeq: retired?.beatSeq ?? 0,
      ages: new Map(),
      agesAt: -Infinity,
      entries: new Map(),
      watchSince: -Infinity,
      repliedAt: -Infinity,
      fullSentAt: -Infinity,
    };
    this.members.push(m);
    this.byName.set(m.name, m);
    this.byId.set(m.id, m);
    return m;
  }

  private removeMember(m: Member): void {
    this.members.splice(this.members.indexOf(m), 1);
    this.byName.delete(m.name);
    this.byId.delete(m.id);
    this.rotation.delete(m);
    this.wanting.delete(m);
    const r = this.recent.indexOf(m);
    if (r >= 0) this.recent.splice(r, 1);
    if (this.retiredWindows.size >= 1024) {
      const oldest = this.retiredWindows.keys().next();
      if (oldest.done !== true) this.retiredWindows.delete(oldest.value);
    }
    this.retiredWindows.set(m.name, { replay: m.replay, beatInc: m.beatInc, beatSeq: m.beatSeq });
    this.log.info({ node: m.name, state: m.state }, 'member removed');
  }

  private knownSource(from: string): boolean {
    let known = this.sourceVerdicts.get(from);
    if (known === undefined) {
      known = this.knownHosts.has(sourceHost(from));
      if (this.sourceVerdicts.size >= 1024) this.sourceVerdicts.clear();
      this.sourceVerdicts.set(from, known);
    }
    return known;
  }

  /** Recomputes what depends on the peer list: the known source hosts and the size limit. */
  private peersChanged(): void {
    const hosts = new Set<string>();
    if (this.selfAddress !== '') hosts.add(sourceHost(this.selfAddress));
    for (const m of this.members) hosts.add(sourceHost(m.address));
    this.knownHosts = hosts;
    this.sourceVerdicts.clear();
    // Ring datagrams carry a bounded number of ages and entries, whatever the cluster size.
    const size = this.ring ? Math.min(this.members.length + 1, MAX_RING_AGES + this.o.maxEntries) : this.members.length + 1;
    this.receiveLimit = maxReceiveBytes(size, this.o.maxDatagramBytes);
    this.configureBeats();
  }

  /**
   * Tells the transport's beat fast path (if any) what to accept: our name and id, the keys, and
   * each member's name and source host (when source addresses are checked). Called at start and
   * on every change of peers or keys; a transport that refuses leaves beats to the JS codec.
   */
  private configureBeats(): void {
    const path = this.transport.beats;
    if (path === undefined || !this.running) return;
    // The engine's beat counters, before its slots move: a peer removed and added back (or one
    // that stays) is numbered on from where it was, never from 1 (its receiver would drop them).
    this.saveEngineSeqs();
    const before = this.beatSlotOf;
    const slots = [...this.members];
    const ok = path.configure({
      self: this.self,
      selfId: this.selfId,
      keys: [...this.keys.values()],
      senders: slots.map((m) => ({ name: m.name, host: this.o.checkSourceAddress ? sourceHost(m.address) : undefined })),
      maxClockSkewMs: this.o.maxClockSkewMs,
    });
    this.beatPath = ok ? path : undefined;
    this.beatSlots = ok ? slots : [];
    this.beatSlotOf = new Map(this.beatSlots.map((m, i) => [m, i]));
    // A member new to the slots (added, or added back) numbers on from the highest we sent anyone.
    for (const m of slots) if (!before.has(m) && m.beatSentSeq < this.beatSeqHigh) m.beatSentSeq = this.beatSeqHigh;
    this.engineDirty = true;
    if (!ok) {
      this.stopEngine();
      // Our ticks were slow while the engine beat: beat every heartbeat from now on.
      this.hurry();
      return;
    }
    // At once, not at the next (slow) tick: new targets, slots, keys and counters.
    this.syncEngine();
  }

  /** Reads the engine's beat counters into the members (and their high mark), before its slots change or it stops. */
  private saveEngineSeqs(): void {
    const e = this.engine;
    if (e === undefined) return;
    this.beatSlots.forEach((m, i) => {
      const seq = e.sendSeq(i);
      if (seq > m.beatSentSeq) m.beatSentSeq = seq;
      if (seq > this.beatSeqHigh) this.beatSeqHigh = seq;
    });
  }

  /** Something to do sooner than the scheduled (slow) tick: the next tick within a heartbeat. */
  private hurry(): void {
    if (!this.running || this.leaving || this.tickTimer === undefined) return;
    const now = this.clock.now();
    if (this.tickDueAt - now <= this.o.heartbeatMs) return;
    this.tickTimer.cancel();
    this.tickDueAt = now + this.o.heartbeatMs;
    this.tickTimer = this.clock.setTimeout(() => this.tick(), this.o.heartbeatMs);
  }

  /** Beats sent and accepted: ours, plus the engine's counts `e` (its beats never reach us one by one; counted since the transport made it). */
  private beatStats(e: { readonly sent: number; readonly accepted: number }): NonNullable<MembershipStats['beats']> {
    return {
      sent: this.beatCounters.sent + e.sent,
      accepted: this.beatCounters.accepted + e.accepted,
      native: this.beatPath !== undefined,
      engine: this.engine !== undefined,
    };
  }

  private startEngine(): void {
    const e = this.beatPath?.engine;
    if (e === undefined || this.engine !== undefined) return;
    if (!e.start(this.o.heartbeatMs, this.o.jitter, () => this.wake())) return;
    this.engine = e;
    this.engineSeen = e;
    this.engineDirty = true;
    this.syncEngine();
    this.log.info({ periodMs: this.o.heartbeatMs }, 'membership beats run on the addon\'s engine thread');
  }

  /** The beats the engine accepted since we last asked, as evidence (and our marks). */
  private drainEngine(): void {
    this.engine?.arrivals((slot, at, incarnation, seq) => this.engineBeat(slot, at, incarnation, seq));
  }

  private stopEngine(): void {
    this.drainEngine();
    this.saveEngineSeqs();
    this.engine?.stop();
    this.engine = undefined;
  }

  /**
   * Keeps the engine beating (a kick per tick: a hung event loop stops the beats after
   * mainLoopTimeoutMs) and, after a change, tells it whom to beat (our fast neighbours; in the
   * mesh every member not gone), whose silence to wake us for (the members we would suspect),
   * and the incarnation each sender's beats must carry.
   */
  private syncEngine(): void {
    const e = this.engine;
    if (e === undefined) return;
    e.kick(true, engineWatchdogMs(this.o));
    if (!this.engineDirty) return;
    this.engineDirty = false;
    const slots = this.beatSlots;
    const slotOf = this.beatSlotOf;
    e.setSelf(this.selfIncarnation, this.key.id);
    // Counters only count forward: the engine's, or ours where higher (a new engine, a re-added peer).
    slots.forEach((m, i) => {
      const seq = e.sendSeq(i);
      if (m.beatSentSeq > seq) e.setSendSeq(i, m.beatSentSeq);
      else m.beatSentSeq = seq;
    });
    e.setSenders(
      slots.map((m) => m.incarnation),
      slots.map((m) => (m.beatInc === m.incarnation ? m.beatSeq : 0)),
    );
    const targets = this.ring ? this.fast : this.members.filter((m) => m.state !== 'left');
    e.setTargets(targets.flatMap((m) => (slotOf.has(m) ? [{ address: m.address, receiver: m.id, slot: slotOf.get(m)! }] : [])));
    const watched = (this.ring ? this.fast : this.members).filter((m) => m.state === 'alive' || m.state === 'suspect');
    e.watch(
      watched.flatMap((m) => (slotOf.has(m) ? [slotOf.get(m)!] : [])),
      this.o.suspectMs - this.o.heartbeatMs,
    );
  }

  /** The engine saw a non-beat datagram or a watched sender's silence: tick now. */
  private wake(): void {
    if (!this.running || this.leaving) return;
    this.tickTimer?.cancel();
    this.tick(true);
  }

  /** A beat the engine accepted (at the incarnation we registered, above the last): as one received here. */
  private engineBeat(slot: number, at: number, incarnation: number, seq: number): void {
    const m = this.beatSlots[slot];
    if (m === undefined || this.byId.get(m.id) !== m) return;
    // Registered before we learned a newer incarnation: stale, as the JS path would drop it.
    if (incarnation < m.incarnation) return;
    // Our own mark follows the engine's (kept across the member's removal, used if the engine stops).
    if (incarnation > m.beatInc || seq > m.beatSeq) {
      m.beatInc = incarnation;
      m.beatSeq = seq;
    }
    const now = this.clock.now();
    this.handle(m, { type: 'beat', sender: m.name, receiver: this.selfId, incarnation, seq, timestamp: 0 }, Math.min(at, now));
    if (this.ring && m.state === 'dead') this.replyTo(m, now);
  }

  /** With the engine, whether our own ticks must come every heartbeat: news to push, a suspicion to settle, a broadcast. */
  private needsFastTicks(now: number): boolean {
    // (broadcastLeft only counts down in the ring; the mesh sends to everyone anyway.)
    return (this.ring && this.broadcastLeft > 0) || this.flushNeeded || this.hasNews(now);
  }

  // ---- state ----

  /** A member's incarnation changed here: the engine must accept its beats at the new one. */
  private setIncarnation(m: Member, incarnation: number): void {
    m.incarnation = incarnation;
    this.engineDirty = true;
  }

  private setState(m: Member, state: MemberState, now: number, reason: string): void {
    const before = m.state;
    if (before === state) return;
    m.state = state;
    this.engineDirty = true;
    this.touch(m, now);
    m.stateAt = now;
    if (state === 'suspect') this.counters.suspicions++;
    else if (state === 'dead') this.counters.deaths++;
    else if (state === 'left') this.counters.leaves++;
    else if (before === 'dead' || before === 'left') this.counters.revivals++;
    const wasLive = before === 'alive' || before === 'suspect';
    const isLive = state === 'alive' || state === 'suspect';
    if (wasLive !== isLive) {
      this.aliveDirty = true;
      this.log.info({ node: m.name, state, from: before, incarnation: m.incarnation, reason }, 'member state changed');
    } else if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ node: m.name, state, from: before, incarnation: m.incarnation, reason }, 'member state changed');
    }
  }

  private computeAlive(): ReadonlySet<string> {
    const s = new Set<string>([this.self]);
    for (const m of this.members) if (m.state === 'alive' || m.state === 'suspect') s.add(m.name);
    return s;
  }

  private emit(): void {
    // Not reentrant: a handler that changes something (setMetadata, setPeers) is answered by
    // another round once it returns, not by a nested call (a handler that publishes on every
    // change would otherwise recurse without bound). Rounds are bounded too.
    if (this.emitting) return;
    this.emitting = true;
    try {
      for (let round = 0; round < 8 && (this.aliveDirty || this.metaDirty); round++) {
        if (this.aliveDirty) {
          this.aliveSet = this.computeAlive();
          this.recomputeRing(this.clock.now());
        }
        this.aliveDirty = false;
        this.metaDirty = false;
        if (this.handlers.size === 0) return;
        const view = this.view();
        for (const h of this.handlers) {
          try {
            h(view);
          } catch (err) {
            this.log.error({ err }, 'membership onChange handler threw');
          }
        }
      }
    } finally {
      this.emitting = false;
    }
  }

}

/** Peers other than `self`, checked for duplicate names and member id clashes (ConfigError). */
export function checkPeers(self: string, peers: readonly PeerConfig[]): PeerConfig[] {
  const ids = new Map<number, string>([[memberId(self), self]]);
  const out: PeerConfig[] = [];
  peers.forEach((p, i) => {
    if (p.name === self) return;
    const id = memberId(p.name);
    const clash = ids.get(id);
    if (clash !== undefined) {
      const path = `membership.peers[${i}].name`;
      const message =
        clash === p.name
          ? `${path}: node "${p.name}" is listed twice`
          : `${path}: node names "${p.name}" and "${clash}" have the same 32-bit member id; rename one`;
      throw new ConfigError(message, [{ path, message }]);
    }
    ids.set(id, p.name);
    out.push(p);
  });
  return out;
}

function resolveKeys(secret: string | Uint8Array, previous: readonly (string | Uint8Array)[] = []): [MembershipKey, Map<number, MembershipKey>] {
  const key = membershipKey(secret, 'membership.secret');
  const keys = new Map<number, MembershipKey>();
  previous.forEach((s, i) => {
    const k = membershipKey(s, `membership.previousSecrets[${i}]`);
    keys.set(k.id, k);
  });
  // The key id in the header selects the one key to verify with (one HMAC per datagram, not
  // one per secret); the current one wins an id shared with a previous one (the same secret).
  keys.set(key.id, key);
  return [key, keys];
}

/**
 * Largest datagram a peer of a `clusterSize` cluster can send us: a heartbeat with a 255-byte
 * name, an age and an entry for every member (twice the size, for a peer that knows more
 * members than we do while a peer list changes), plus the metadata blob allowance.
 */
export function maxReceiveBytes(clusterSize: number, maxDatagramBytes: number): number {
  const n = 2 * clusterSize;
  return 13 + 255 + 26 + 8 + 2 + 6 * n + 2 + 21 * n + 1 + MAC_BYTES + Math.max(maxDatagramBytes, 1400);
}

function incarnationsBounded(msg: Message): boolean {
  if (msg.incarnation > MAX_INCARNATION) return false;
  if (msg.type === 'heartbeat') for (const e of msg.entries) if (e.incarnation > MAX_INCARNATION) return false;
  return true;
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
