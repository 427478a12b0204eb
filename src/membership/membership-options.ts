import { ConfigError } from '../errors.js';

/** Tunables of the failure detector; every field is optional (see `resolveMembershipOptions`). */
export interface MembershipOptions {
  /**
   * Who heartbeats whom (docs/membership.md#topology). 'ring' (default): each node heartbeats
   * only its `watchers` nearest neighbours on a ring of the live members' ids every
   * `heartbeatMs`, probes one random other member every `probeMs`, and tells every member at
   * once when it buries a neighbour: per-node cost independent of the cluster size. 'mesh':
   * every node heartbeats every other node (the design before wire version 3; cost grows with
   * N), kept for comparison. With 3 nodes or fewer both are the same full mesh.
   */
  readonly topology?: 'ring' | 'mesh';
  /** Ring neighbours each node heartbeats fast (and is watched by): an even number >= 2 (default 2). */
  readonly watchers?: number;
  /** Ring: period of the slow probe of one other member (anti-entropy gossip). Default 200 ms. */
  readonly probeMs?: number;
  /** Ring: times a change (a death we saw, our refutation) is sent to every member, a heartbeat apart (default 3). */
  readonly broadcastRepeats?: number;
  /** Ring: most member entries gossiped in one datagram (default 40). */
  readonly maxEntries?: number;
  /**
   * Longest time between two full heartbeats (ages, entries, metadata version) to a neighbour.
   * On the other ticks it gets a beat (wire type 4: proof of life and nothing else, built and
   * checked by the addon without JavaScript objects) unless there is news: a change within
   * gossipMs, a suspicion, metadata wanted, a disagreement with what it last told us.
   * Default max(200, 20 x heartbeat); equal to heartbeatMs: every heartbeat is full (as before
   * wire version 4).
   */
  readonly fullHeartbeatMs?: number;
  /** Heartbeat period. Default 10 ms (mesh with more than 16 nodes: 20 ms). */
  readonly heartbeatMs?: number;
  /** No datagram from a peer directly for this long: suspect (still counted live). Default max(50, 3 x heartbeat). */
  readonly suspectMs?: number;
  /** No evidence from anyone for this long, with full confirmation: dead. Default max(80, suspect + 2 x heartbeat). */
  readonly deadMs?: number;
  /** The same without any confirmation from another peer (Lifeguard's maximum). Default 1.5 x deadMs. */
  readonly deadMaxMs?: number;
  /** Confirmations that bring the dead timeout down to `deadMs` (Lifeguard's k). Default 3. */
  readonly maxConfirmations?: number;
  /** Heartbeat period jitter, as a fraction of the period (default 0.1: 0.9x .. 1.1x). */
  readonly jitter?: number;
  /** How long a changed member entry or own metadata is pushed in every heartbeat. Default max(100, 10 x heartbeat). */
  readonly gossipMs?: number;
  /** Leave datagrams sent on graceful shutdown (default 3), `leaveIntervalMs` apart (default 5). */
  readonly leaveRepeats?: number;
  readonly leaveIntervalMs?: number;
  /** Metadata blobs are only added to a heartbeat while it stays under this size (default 1400). */
  readonly maxDatagramBytes?: number;
  /** Largest metadata (JSON, UTF-8) a node may set (default 512 bytes). */
  readonly maxMetadataBytes?: number;
  /** Anti-replay window width in sequence numbers, a multiple of 32 (default 1024). */
  readonly replayWindow?: number;
  /**
   * Off by default. When set, datagrams whose sender timestamp differs from the local wall clock
   * by more than this are dropped: bounds how old a recorded datagram can be when replayed to a
   * receiver that restarted (and so lost its replay window). Needs synchronised clocks (NTP).
   */
  readonly maxClockSkewMs?: number;
  /**
   * On by default: a datagram whose source IP is not the host of a configured peer address is
   * dropped before its MAC is computed ('unknown-source'). Turn off only when peers reach us
   * through NAT or send from another address than the one configured.
   */
  readonly checkSourceAddress?: boolean;
  /**
   * The speakers' membership (WorkerMembership, docs/membership.md#which-thread): when the
   * main event loop has not run for this long, heartbeats stop so peers take over from a hung
   * process; a shorter stall (bulk work) never costs a false death. With the beat engine the
   * engine's watchdog stops them (engineWatchdogMs: at least 3 x fullHeartbeatMs); on a worker
   * thread the worker holds them back (seen to within one beat of the main thread's liveness
   * counter, at most 250 ms).
   * Default 2000 ms; at least 500 (the main thread ticks every min(250 ms, a quarter of it)).
   */
  readonly mainLoopTimeoutMs?: number;
}

export type ResolvedMembershipOptions = Required<Omit<MembershipOptions, 'maxClockSkewMs'>> & {
  readonly maxClockSkewMs: number | undefined;
};

/**
 * Default heartbeat period. 10 ms keeps the failover figures of the former 5 ms default (the
 * suspect and dead timeouts have 50 and 80 ms floors) at half the datagrams; a mesh of more than
 * 16 nodes stays at 20 ms, as before (its cost grows with N).
 */
export function defaultHeartbeatMs(clusterSize: number, topology: 'ring' | 'mesh' = 'ring'): number {
  if (topology === 'mesh' && clusterSize > 16) return 20;
  return 10;
}

/**
 * Default bound on a silent main event loop before the membership worker holds heartbeats back:
 * well above the stalls bulk work causes (hundreds of ms announcing 10 000 VIPs, issue 12), well
 * below what an operator tolerates from a hung process still counted live.
 */
export const DEFAULT_MAIN_LOOP_TIMEOUT_MS = 2000;

/**
 * This node's metadata as published: a copy through JSON and its UTF-8 bytes. Larger than
 * `maxMetadataBytes` throws RangeError (the in-process and the worker membership alike).
 */
export function encodeSelfMetadata<T>(metadata: T, maxMetadataBytes: number): { readonly copy: T; readonly bytes: Uint8Array } {
  const text = JSON.stringify(metadata);
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > maxMetadataBytes) {
    throw new RangeError(`membership metadata is ${bytes.length} bytes; the limit is ${maxMetadataBytes} (options.maxMetadataBytes)`);
  }
  return { copy: JSON.parse(text) as T, bytes };
}

/** Fills in defaults for a cluster of `clusterSize` nodes (self included) and validates. */
/**
 * How long the beat engine goes on beating after the membership's last kick (DatagramSocket
 * engineKick): the membership kicks at each tick, and its slow ticks are about fullHeartbeatMs
 * apart, so the bound must outlast a few of them; a hung event loop stops the beats after it.
 */
export function engineWatchdogMs(o: Pick<ResolvedMembershipOptions, 'mainLoopTimeoutMs' | 'fullHeartbeatMs'>): number {
  return Math.max(o.mainLoopTimeoutMs, 3 * o.fullHeartbeatMs);
}

export function resolveMembershipOptions(clusterSize: number, o: MembershipOptions = {}): ResolvedMembershipOptions {
  const topology = o.topology ?? 'ring';
  const heartbeatMs = o.heartbeatMs ?? defaultHeartbeatMs(clusterSize, topology);
  const suspectMs = o.suspectMs ?? Math.max(50, 3 * heartbeatMs);
  const deadMs = o.deadMs ?? Math.max(80, suspectMs + 2 * heartbeatMs);
  const r: ResolvedMembershipOptions = {
    topology,
    watchers: o.watchers ?? 2,
    probeMs: o.probeMs ?? 200,
    broadcastRepeats: o.broadcastRepeats ?? 3,
    maxEntries: o.maxEntries ?? 40,
    heartbeatMs,
    suspectMs,
    deadMs,
    deadMaxMs: o.deadMaxMs ?? Math.round(deadMs * 1.5),
    maxConfirmations: o.maxConfirmations ?? 3,
    jitter: o.jitter ?? 0.1,
    gossipMs: o.gossipMs ?? Math.max(100, 10 * heartbeatMs),
    fullHeartbeatMs: o.fullHeartbeatMs ?? Math.max(200, 20 * heartbeatMs),
    leaveRepeats: o.leaveRepeats ?? 3,
    leaveIntervalMs: o.leaveIntervalMs ?? 5,
    maxDatagramBytes: o.maxDatagramBytes ?? 1400,
    maxMetadataBytes: o.maxMetadataBytes ?? 512,
    replayWindow: o.replayWindow ?? 1024,
    maxClockSkewMs: o.maxClockSkewMs,
    checkSourceAddress: o.checkSourceAddress ?? true,
    mainLoopTimeoutMs: o.mainLoopTimeoutMs ?? DEFAULT_MAIN_LOOP_TIMEOUT_MS,
  };
  const issues: { path: string; message: string }[] = [];
  const check = (ok: boolean, field: string, message: string): void => {
    if (!ok) issues.push({ path: `membership.options.${field}`, message: `membership.options.${field}: ${message}` });
  };
  check(r.heartbeatMs >= 1, 'heartbeatMs', `must be at least 1 ms, got ${r.heartbeatMs}`);
  check(r.suspectMs >= 2 * r.heartbeatMs, 'suspectMs', `must be at least two heartbeats (${2 * r.heartbeatMs} ms), got ${r.suspectMs}`);
  check(r.deadMs > r.suspectMs, 'deadMs', `must exceed suspectMs (${r.suspectMs} ms), got ${r.deadMs}`);
  check(r.deadMaxMs >= r.deadMs, 'deadMaxMs', `must be at least deadMs (${r.deadMs} ms), got ${r.deadMaxMs}`);
  check(r.deadMaxMs <= 60_000, 'deadMaxMs', `must be at most 60000 ms (ages are carried as 16-bit ms), got ${r.deadMaxMs}`);
  check(Number.isInteger(r.maxConfirmations) && r.maxConfirmations >= 1, 'maxConfirmations', 'must be a positive integer');
  check(r.jitter >= 0 && r.jitter < 0.5, 'jitter', 'must be in [0, 0.5)');
  check(r.topology === 'ring' || r.topology === 'mesh', 'topology', `must be 'ring' or 'mesh', got ${String(r.topology)}`);
  check(Number.isInteger(r.watchers) && r.watchers >= 2 && r.watchers % 2 === 0 && r.watchers <= 16, 'watchers', 'must be an even integer in 2..16');
  check(r.fullHeartbeatMs >= r.heartbeatMs && r.fullHeartbeatMs <= 10_000, 'fullHeartbeatMs', `must be in heartbeatMs (${r.heartbeatMs} ms)..10000 ms, got ${r.fullHeartbeatMs}`);
  check(r.probeMs >= r.heartbeatMs, 'probeMs', `must be at least heartbeatMs (${r.heartbeatMs} ms), got ${r.probeMs}`);
  check(Number.isInteger(r.broadcastRepeats) && r.broadcastRepeats >= 1, 'broadcastRepeats', 'must be a positive integer');
  check(Number.isInteger(r.maxEntries) && r.maxEntries >= 4 && r.maxEntries <= 255, 'maxEntries', 'must be an integer in 4..255');
  check(Number.isInteger(r.leaveRepeats) && r.leaveRepeats >= 1, 'leaveRepeats', 'must be a positive integer');
  check(r.replayWindow >= 32 && r.replayWindow % 32 === 0, 'replayWindow', 'must be a positive multiple of 32');
  check(Number.isFinite(r.mainLoopTimeoutMs) && r.mainLoopTimeoutMs >= 500 && r.mainLoopTimeoutMs <= 60_000, 'mainLoopTimeoutMs', `must be in 500..60000 ms, got ${r.mainLoopTimeoutMs}`);
  check(r.maxMetadataBytes >= 2 && r.maxMetadataBytes <= 65535, 'maxMetadataBytes', 'must be in 2..65535');
  if (issues.length > 0) throw new ConfigError(issues.map((i) => i.message).join('; '), issues);
  return r;
}
