/**
 * Messages between the main thread (WorkerMembership) and the membership worker thread
 * (membership-thread.ts). Everything here crosses a MessagePort by structured clone, so only
 * plain data: no class instances, no functions. Type-only on purpose: the worker loads as
 * little as possible.
 */
import type { MemberState, MembershipStats, Metadata, PeerConfig } from './membership.js';
import type { ResolvedMembershipOptions } from './membership-options.js';

/** What the worker is started with (its workerData). */
export interface WorkerInit {
  readonly self: string;
  readonly peers: readonly PeerConfig[];
  readonly secret: string | Uint8Array;
  readonly previousSecrets: readonly (string | Uint8Array)[];
  /** UDP 'address:port' the worker binds. */
  readonly bind: string;
  /** Resolved by WorkerMembership at construction (Membership's defaults for the cluster's size). */
  readonly options: ResolvedMembershipOptions;
  readonly incarnation: number;
  /** pino level name of the main thread's logger: the worker posts only records at or above it. */
  readonly logLevel: string;
  /** Own metadata published before start. */
  readonly metadata: Metadata | undefined;
  /** Int32 counter the main thread increments every mainTickMs (Atomics): main-loop liveness. */
  readonly mainBeat: SharedArrayBuffer;
  /** Silence of that counter after which the worker stops heartbeating (docs/membership.md#which-thread). */
  readonly mainLoopTimeoutMs: number;
  /**
   * How often the main thread moves the counter. The worker sees a silence up to one beat longer
   * than the main loop's stall, so it holds back only past mainLoopTimeoutMs + mainTickMs: a stall
   * shorter than the bound never costs a death.
   */
  readonly mainTickMs: number;
  /**
   * The body runs on the main thread (WorkerMembership's thread 'main'): no shared counter to
   * watch; a gap between its own checks longer than the engine's watchdog counts as a main-loop
   * hang (MainLoopGate without `beat`).
   */
  readonly sameThread?: boolean;
  /** Period of the view and stats snapshot the worker posts even without a change. */
  readonly snapshotMs: number;
  /**
   * 'engine' (default): the addon's socket with its beat engine thread (docs/membership.md#the-beat-engine-no-javascript-at-100-hz);
   * 'polled': the addon's socket read once per tick, without the engine; 'dgram': node:dgram, one
   * wakeup per datagram. The environment variable L2VIP_MEMBERSHIP_SOCKET=polled|dgram chooses the
   * others: ways back, and the comparison rows of bench:scale.
   */
  readonly socket?: 'engine' | 'polled' | 'dgram';
}

export type ToWorker =
  | { readonly t: 'start'; readonly id: number }
  | { readonly t: 'leave'; readonly id: number }
  | { readonly t: 'stop'; readonly id: number }
  | { readonly t: 'metadata'; readonly metadata: Metadata }
  | { readonly t: 'peers'; readonly peers: readonly PeerConfig[] }
  | { readonly t: 'secrets'; readonly secret: string | Uint8Array; readonly previousSecrets: readonly (string | Uint8Array)[] };

/** A member as the worker saw it; times are absolute (performance.timeOrigin + now), comparable across threads. */
export interface WireMember {
  readonly name: string;
  readonly address: string;
  readonly state: MemberState;
  readonly incarnation: number;
  readonly heardAt: number | undefined;
  readonly stateAt: number | undefined;
  readonly metadata: Metadata | undefined;
  readonly self: boolean;
}

export interface WireView {
  readonly alive: readonly string[];
  readonly members: readonly WireMember[];
}

/** Main-loop watch counters of the worker. */
export interface MainLoopStats {
  /** Times the main loop was silent past the bound and heartbeats were held back. */
  readonly hangs: number;
  /** Datagrams not sent while held back. */
  readonly heldDatagrams: number;
  /** Whether heartbeats are held back right now. */
  readonly holding: boolean;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly stack: string | undefined;
}

export type WorkerLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export type FromWorker =
  | { readonly t: 'done'; readonly id: number; readonly error?: SerializedError }
  /** `changed`: the alive set, a peer's state or metadata, or the peer list changed (handlers run). */
  | { readonly t: 'view'; readonly changed: boolean; readonly view: WireView; readonly stats: MembershipStats; readonly mainLoop: MainLoopStats }
  | { readonly t: 'refute'; readonly state: MemberState }
  | {
      readonly t: 'log';
      readonly level: WorkerLogLevel;
      readonly bindings: Readonly<Record<string, unknown>>;
      readonly obj: Readonly<Record<string, unknown>> | undefined;
      readonly msg: string | undefined;
    };

/** Milliseconds on a scale shared by every thread of the process (performance.now() alone is per thread). */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, code: typeof code === 'string' ? code : undefined, stack: err.stack };
  }
  return { name: 'Error', message: String(err), code: undefined, stack: undefined };
}

/** The error again on the main thread, with its message and code (e.g. EADDRINUSE from bind). */
export function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message) as Error & { code?: string };
  err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}

/** The OS name of the membership thread (top -H, /proc/PID/task/TID/comm), so its CPU can be told from the main thread's. */
export const MEMBERSHIP_THREAD_NAME = 'l2vip-member';
