import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../observability/logger.js';
import { membershipKey } from './membership-key.js';
import { encodeSelfMetadata, resolveMembershipOptions, type MembershipOptions, type ResolvedMembershipOptions } from './membership-options.js';
import { checkPeers, DROP_REASONS, type DropReason, type MembershipStats, type MembershipView, type MemberState, type MemberView, type Metadata, type PeerConfig } from './membership.js';
import { LogReplayer } from './port-logger.js';
import { runMembershipThread } from './membership-thread.js';
import { loadNative } from '../netdev/native.js';
import { deserializeError, sharedNow, type FromWorker, type MainLoopStats, type ToWorker, type WireView, type WorkerInit } from './worker-protocol.js';

/** The main thread's end of the channel to the worker (a worker_threads Worker, or an in-process fake). */
export interface WorkerPort {
  postMessage(message: ToWorker): void;
  onMessage(handler: (message: FromWorker) => void): void;
  /** The worker ended (crashed, or terminated): `error` if it threw. */
  onExit(handler: (code: number, error: Error | undefined) => void): void;
  terminate(): Promise<void>;
}

export interface WorkerMembershipComponents {
  readonly self: string;
  /** Every node of the cluster; an entry named `self` is ignored (as Membership). */
  readonly peers: readonly PeerConfig[];
  readonly secret: string | Uint8Array;
  readonly previousSecrets?: readonly (string | Uint8Array)[];
  /** UDP 'address:port' the worker binds. */
  readonly bind: string;
  readonly logger: Logger;
  readonly options?: MembershipOptions;
  /** Initial incarnation; default the wall-clock time in ms (as Membership). */
  readonly incarnation?: number;
  /**
   * Where the membership runs (docs/membership.md#which-thread). Default: L2VIP_MEMBERSHIP_THREAD
   * if set, else this thread when the addon's beat engine sends the heartbeats, else a worker.
   */
  readonly thread?: MembershipThread;
  /** Starts the membership's body; default by `thread`: spawnMembershipWorker or spawnInProcess (tests: a fake port). */
  readonly spawn?: (init: WorkerInit) => WorkerPort;
  /** How often the main thread proves its event loop runs (default MAIN_TICK_MS). */
  readonly mainTickMs?: number;
  /** Period of the worker's snapshot of timings and stats (default SNAPSHOT_MS). */
  readonly snapshotMs?: number;
  /** The worker ended while running (a bug). Default: thrown as an uncaught exception (the crash handler exits). */
  readonly onCrash?: (err: Error) => void;
}

/**
 * The main thread increments the shared liveness counter this often (at most a quarter of
 * mainLoopTimeoutMs): 4 wakeups a second of an idle main thread, well inside the 2 s bound.
 */
export const MAIN_TICK_MS = 250;
/** The worker refreshes the main thread's copy of the view's timings and the stats this often. */
export const SNAPSHOT_MS = 1000;
/** How long a stop waits for the worker to close its socket before it is terminated. */
const STOP_TIMEOUT_MS = 2000;

/**
 * The failure detector behind a message port (docs/membership.md#which-thread), with the
 * interface of Membership the speaker runtime uses. Its body (runMembershipThread: the
 * Membership, the UDP socket, the timers, the HMAC) runs either on this thread or on a worker
 * thread, and this class talks to it by message in both cases:
 * - With the addon's beat engine (the default), on this thread: the engine's own thread sends and
 *   checks the heartbeats, so a main event loop stalled by bulk work (thousands of VIPs or
 *   Services) delays no heartbeat, and a worker would cost an isolate (about 8 MB) for nothing.
 * - Without it (L2VIP_MEMBERSHIP_SOCKET=polled|dgram, or an addon without the engine), on a worker
 *   thread, which sends the heartbeats itself.
 * Either way a truly hung main loop must let peers take over: the engine's watchdog stops its
 * beats when the membership's ticks stop, and the worker holds its heartbeats back when a
 * shared counter the main thread increments stops moving past options.mainLoopTimeoutMs.
 *
 * What differs from the in-process Membership: view() is the latest view posted (it arrives by
 * message, within a millisecond of a change; timings and stats are refreshed every SNAPSHOT_MS);
 * handlers are called when a message arrives, never from inside setMetadata or setPeers (and not
 * for this node's own metadata, which view() shows at once); the logger's level is read once, at
 * start. Inputs are validated here first, so a bad peer list, secret or metadata throws as before.
 */
export class WorkerMembership {
  private readonly o: ResolvedMembershipOptions;
  private readonly log: Logger;
  private readonly replayer: LogReplayer;
  private readonly self: string;
  private selfAddress: string;
  private peers: readonly PeerConfig[];
  private secret: string | Uint8Array;
  private previousSecrets: readonly (string | Uint8Array)[];
  private readonly incarnation0: number;
  private readonly beatBuffer = new SharedArrayBuffer(4);
  private readonly beat = new Int32Array(this.beatBuffer);
  private beatTimer: ReturnType<typeof setInterval> | undefined;
  private port: WorkerPort | undefined;
  private running = false;
  private leaving = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private readonly handlers = new Set<(view: MembershipView) => void>();
  private readonly refuteHandlers = new Set<(state: MemberState) => void>();
  private selfMeta: Metadata | undefined;
  private wire: WireView;
  private aliveSet: ReadonlySet<string>;
  private lastStats: MembershipStats;
  private lastMainLoop: MainLoopStats = { hangs: 0, heldDatagrams: 0, holding: false };
  private cached: { at: number; view: MembershipView } | undefined;
  private emitting = false;
  private threadNow: MembershipThread | undefined;

  constructor(private readonly c: WorkerMembershipComponents) {
    this.self = c.self;
    const peers = checkPeers(c.self, c.peers);
    this.o = resolveMembershipOptions(peers.length + 1, c.options);
    membershipKey(c.secret, 'membership.secret');
    (c.previousSecrets ?? []).forEach((s, i) => membershipKey(s, `membership.previousSecrets[${i}]`));
    this.peers = c.peers;
    this.secret = c.secret;
    this.previousSecrets = c.previousSecrets ?? [];
    this.selfAddress = c.peers.find((p) => p.name === c.self)?.address ?? '';
    this.incarnation0 = Math.floor(c.incarnation ?? Date.now());
    this.log = c.logger.child({ component: 'membership', node: c.self });
    this.replayer = new LogReplayer(c.logger);
    // As Membership before its start: every configured peer alive, never heard.
    this.wire = {
      alive: [c.self, ...peers.map((p) => p.name)],
      members: [
        { name: c.self, address: this.selfAddress, state: 'alive', incarnation: this.incarnation0, heardAt: undefined, stateAt: undefined, metadata: undefined, self: true },
        ...peers.map((p) => ({ name: p.name, address: p.address, state: 'alive' as const, incarnation: 0, heardAt: undefined, stateAt: undefined, metadata: undefined, self: false })),
      ],
    };
    this.aliveSet = new Set(this.wire.alive);
    this.lastStats = emptyStats(this.incarnation0);
  }

  /** Where the membership runs since start() (undefined before). */
  get thread(): MembershipThread | undefined {
    return this.threadNow;
  }

  /** The resolved options (defaults filled in). */
  get options(): ResolvedMembershipOptions {
    return this.o;
  }

  private mainTickMs(): number {
    return this.c.mainTickMs ?? Math.min(MAIN_TICK_MS, this.o.mainLoopTimeoutMs / 4);
  }

  /** Starts the worker, which binds the socket and starts heartbeating; rejects as Membership.start would (e.g. EADDRINUSE). */
  async start(): Promise<void> {
    if (this.running || this.port !== undefined) return;
    this.leaving = false;
    const socket = socketChoice(process.env['L2VIP_MEMBERSHIP_SOCKET']);
    const thread = this.c.thread ?? membershipThread(process.env['L2VIP_MEMBERSHIP_THREAD'], socket, addonHasEngine);
    const init: WorkerInit = {
      self: this.self,
      peers: this.peers,
      secret: this.secret,
      previousSecrets: this.previousSecrets,
      bind: this.c.bind,
      // As resolved at construction (Membership's rule), whatever setPeers did since.
      options: this.o,
      incarnation: this.incarnation0,
      logLevel: this.c.logger.level,
      metadata: this.selfMeta,
      mainBeat: this.beatBuffer,
      mainLoopTimeoutMs: this.o.mainLoopTimeoutMs,
      mainTickMs: this.mainTickMs(),
      snapshotMs: this.c.snapshotMs ?? SNAPSHOT_MS,
      socket,
      sameThread: thread === 'main',
    };
    const port = (this.c.spawn ?? (thread === 'main' ? spawnInProcess : spawnMembershipWorker))(init);
    this.threadNow = thread;
    if (thread === 'main') this.log.info({ socket }, socket === 'engine' ? 'membership on the main thread: the beat engine heartbeats through its stalls' : 'membership on the main thread without the beat engine (L2VIP_MEMBERSHIP_THREAD=main): a stalled main loop delays heartbeats');
    this.port = port;
    port.onMessage((m) => this.receive(m));
    port.onExit((code, err) => this.exited(port, code, err));
    // An unref'd interval: proof of life of this event loop, read by the worker (MainLoopGate).
    // On the main thread the body's own ticks are that proof.
    if (thread === 'worker') {
      this.beatTimer = setInterval(() => Atomics.add(this.beat, 0, 1), this.mainTickMs());
      this.beatTimer.unref();
    }
    try {
      await this.request('start');
    } catch (err) {
      await this.close();
      throw err;
    }
    this.running = true;
  }

  /** Stops heartbeats and the worker, without telling peers (they will see us dead). */
  async stop(): Promise<void> {
    if (this.port === undefined) return;
    this.running = false;
    await this.withTimeout(this.request('stop'));
    await this.close();
  }

  /** Graceful shutdown: the worker sends `leave` to every peer, then stops (see Membership.leave). */
  async leave(): Promise<void> {
    if (!this.running || this.port === undefined) return;
    this.leaving = true;
    this.running = false;
    this.cached = undefined;
    await this.withTimeout(this.request('leave'));
    await this.close();
  }

  /** Self plus every member alive or suspect, as the worker last reported. */
  alive(): ReadonlySet<string> {
    return this.aliveSet;
  }

  view(): MembershipView {
    const now = sharedNow();
    // Within a millisecond the same view (the speaker asks several times per reconcile).
    if (this.cached !== undefined && now - this.cached.at < 1) return this.cached.view;
    const members = new Map<string, MemberView>();
    for (const m of this.wire.members) {
      if (m.self) {
        members.set(m.name, {
          name: m.name,
          address: m.address,
          state: this.leaving ? 'left' : 'alive',
          incarnation: m.incarnation,
          lastHeardMsAgo: 0,
          metadata: this.selfMeta,
          self: true,
        });
        continue;
      }
      members.set(m.name, {
        name: m.name,
        address: m.address,
        state: m.state,
        incarnation: m.incarnation,
        lastHeardMsAgo: m.heardAt === undefined ? undefined : Math.max(0, now - m.heardAt),
        stateSinceMsAgo: m.stateAt === undefined ? undefined : Math.max(0, now - m.stateAt),
        metadata: m.metadata,
        self: false,
      });
    }
    const view = { alive: this.aliveSet, members };
    this.cached = { at: now, view };
    return view;
  }

  /** Called when the worker reports a change of the alive set, a peer's state or metadata, or the peer list. */
  onChange(handler: (view: MembershipView) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onRefute(handler: (state: MemberState) => void): () => void {
    this.refuteHandlers.add(handler);
    return () => this.refuteHandlers.delete(handler);
  }

  /** Publishes this node's metadata (checked here: too large throws RangeError, as Membership). */
  setMetadata(metadata: Metadata): void {
    this.selfMeta = encodeSelfMetadata(metadata, this.o.maxMetadataBytes).copy;
    this.cached = undefined;
    this.port?.postMessage({ t: 'metadata', metadata: this.selfMeta });
  }

  /** Replaces the peer list (see Membership.setPeers); checked here, applied by the worker. */
  setPeers(peers: readonly PeerConfig[]): void {
    checkPeers(this.self, peers);
    this.peers = peers;
    this.port?.postMessage({ t: 'peers', peers });
  }

  /** Replaces the secrets (key rotation); checked here, applied by the worker. */
  setSecrets(secret: string | Uint8Array, previousSecrets: readonly (string | Uint8Array)[] = []): void {
    membershipKey(secret, 'membership.secret');
    previousSecrets.forEach((s, i) => membershipKey(s, `membership.previousSecrets[${i}]`));
    this.secret = secret;
    this.previousSecrets = previousSecrets;
    this.port?.postMessage({ t: 'secrets', secret, previousSecrets });
  }

  /** The worker's counters, as of its latest snapshot (at most SNAPSHOT_MS old), with the main loop's hangs. */
  stats(): MembershipStats {
    return this.lastStats;
  }

  /** How often the main loop hung past the bound (the worker held heartbeats back), as of the latest snapshot. */
  mainLoopStats(): MainLoopStats {
    return this.lastMainLoop;
  }

  private receive(m: FromWorker): void {
    switch (m.t) {
      case 'log':
        this.replayer.write(m);
        return;
      case 'done': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error === undefined) p?.resolve();
        else p?.reject(deserializeError(m.error));
        return;
      }
      case 'refute':
        for (const h of this.refuteHandlers) h(m.state);
        return;
      case 'view':
        this.wire = m.view;
        this.lastStats = { ...m.stats, mainLoopHangs: m.mainLoop.hangs };
        this.lastMainLoop = m.mainLoop;
        this.cached = undefined;
        if (!sameMembers(this.aliveSet, m.view.alive)) this.aliveSet = new Set(m.view.alive);
        if (m.changed) this.emit();
        return;
    }
  }

  private emit(): void {
    if (this.emitting || this.handlers.size === 0) return;
    this.emitting = true;
    try {
      const view = this.view();
      for (const h of this.handlers) {
        try {
          h(view);
        } catch (err) {
          this.log.error({ err }, 'membership onChange handler threw');
        }
      }
    } finally {
      this.emitting = false;
    }
  }

  private request(t: 'start' | 'leave' | 'stop'): Promise<void> {
    const port = this.port;
    if (port === undefined) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      port.postMessage({ t, id });
    });
  }

  private async withTimeout(p: Promise<void>): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.log.warn({ timeoutMs: STOP_TIMEOUT_MS }, 'membership worker did not stop in time: terminating it');
        resolve();
      }, STOP_TIMEOUT_MS);
    });
    try {
      await Promise.race([p.catch((err: unknown) => this.log.warn({ err }, 'membership worker stop failed')), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async close(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    this.running = false;
    if (this.beatTimer !== undefined) clearInterval(this.beatTimer);
    this.beatTimer = undefined;
    if (port !== undefined) await port.terminate();
    for (const p of this.pending.values()) p.reject(new Error('membership worker stopped'));
    this.pending.clear();
  }

  /**
   * The worker ended without being asked: its socket is closed and peers will declare this node
   * dead, while this thread would go on answering for VIPs. A bug; it must not go unnoticed:
   * thrown as an uncaught exception, so the crash handler reverts local delivery and exits.
   */
  private exited(port: WorkerPort, code: number, err: Error | undefined): void {
    if (this.port !== port) return;
    // While starting, start() rejects with the reason (e.g. the entry failed to load).
    const wasRunning = this.running;
    this.port = undefined;
    this.running = false;
    for (const p of this.pending.values()) p.reject(err ?? new Error(`membership worker exited with code ${code}`));
    this.pending.clear();
    if (this.beatTimer !== undefined) clearInterval(this.beatTimer);
    this.beatTimer = undefined;
    if (!wasRunning) return;
    const fatal = new Error(`membership worker thread ended unexpectedly (exit code ${code})${err === undefined ? '' : `: ${err.message}`}`, { cause: err });
    this.log.fatal({ err: fatal }, 'membership worker thread ended: peers will declare this node dead');
    if (this.c.onCrash !== undefined) return this.c.onCrash(fatal);
    setImmediate(() => {
      throw fatal;
    });
  }
}

function sameMembers(a: ReadonlySet<string>, b: readonly string[]): boolean {
  if (a.size !== b.length) return false;
  for (const n of b) if (!a.has(n)) return false;
  return true;
}

function emptyStats(incarnation: number): MembershipStats {
  return {
    incarnation,
    sent: 0,
    received: 0,
    accepted: 0,
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>,
    verified: { current: 0, previous: 0 },
    suspicions: 0,
    deaths: 0,
    revivals: 0,
    leaves: 0,
    refutations: 0,
    stalls: 0,
    badMetadata: 0,
    sendErrors: 0,
  };
}

/**
 * How to start the worker: membership-worker.js beside this file when built (dist/), or, when
 * this file runs from the TypeScript sources (tsx, vitest), membership-worker.ts through tsx.
 * Node 20 does not apply the loader hooks of `--import tsx` to a worker's entry module (it fails
 * with ERR_UNKNOWN_FILE_EXTENSION whatever execArgv says), so the .ts entry is loaded by a small
 * bootstrap: register tsx's ESM hooks in the worker (tsx/esm/api), then import the entry.
 */
export function membershipWorkerEntry(base: string = import.meta.url): { readonly entry: URL | string; readonly eval: boolean } {
  const js = new URL('./membership-worker.js', base);
  if (existsSync(fileURLToPath(js))) return { entry: js, eval: false };
  const ts = new URL('./membership-worker.ts', base);
  const require = createRequire(base);
  const pkgFile = require.resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: Record<string, { import?: { default?: string } } | string> };
  const api = pkg.exports?.['./esm/api'];
  const apiPath = typeof api === 'object' ? api.import?.default : undefined;
  if (apiPath === undefined) throw new Error(`cannot start the membership worker from the sources: ${pkgFile} exports no ./esm/api`);
  const apiUrl = new URL(apiPath, pathToFileURL(pkgFile)).href;
  // An eval worker runs CommonJS; import() loads ESM from it.
  const code = `import(${JSON.stringify(apiUrl)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(ts.href)}); });`;
  return { entry: code, eval: true };
}

/**
 * The membership's body on this thread, behind a port that delivers each message on a later
 * turn of the event loop, as a MessagePort does (so handlers never run inside the call that
 * caused them). Messages to the body are copied, as structured clone would; those from it are
 * built fresh for each post. Only terminate() ends it.
 */
export function spawnInProcess(init: WorkerInit): WorkerPort {
  let alive = true;
  let toMain: ((m: FromWorker) => void) | undefined;
  let toBody: ((m: ToWorker) => void) | undefined;
  const body = runMembershipThread(
    {
      postMessage: (m) => {
        setImmediate(() => {
          if (alive) toMain?.(m);
        });
      },
      onMessage: (h) => (toBody = h),
    },
    init,
  );
  return {
    postMessage: (m) => {
      const copy = structuredClone(m);
      setImmediate(() => {
        if (alive) toBody?.(copy);
      });
    },
    onMessage: (h) => (toMain = h),
    onExit: () => undefined,
    terminate: async () => {
      alive = false;
      await body.kill();
    },
  };
}

/** Starts the membership worker thread. */
export function spawnMembershipWorker(init: WorkerInit): WorkerPort {
  const how = membershipWorkerEntry();
  const worker = new Worker(how.entry, { workerData: init, name: 'l2vip-membership', eval: how.eval });
  let error: Error | undefined;
  worker.on('error', (err) => (error = err));
  let terminated = false;
  return {
    postMessage: (m) => worker.postMessage(m),
    onMessage: (h) => worker.on('message', (m: FromWorker) => h(m)),
    onExit: (h) => worker.on('exit', (code) => {
      if (!terminated) h(code, error);
    }),
    terminate: async () => {
      terminated = true;
      await worker.terminate();
    },
  };
}

/** Where the membership's body runs: this (the main) thread, or a worker thread of its own. */
export type MembershipThread = 'main' | 'worker';

/**
 * L2VIP_MEMBERSHIP_THREAD=main|worker chooses; anything else: the main thread when the beat
 * engine will send the heartbeats (socket 'engine' and an addon that has it), else a worker,
 * whose heartbeats must not wait for a main loop busy with bulk work.
 */
export function membershipThread(env: string | undefined, socket: 'engine' | 'polled' | 'dgram', hasEngine: () => boolean): MembershipThread {
  if (env === 'main' || env === 'worker') return env;
  return socket === 'engine' && hasEngine() ? 'main' : 'worker';
}

/** Whether the addon loads and its DatagramSocket has the beat engine (an older build has not). */
function addonHasEngine(): boolean {
  try {
    const socket = loadNative().DatagramSocket as { prototype?: { startEngine?: unknown } } | undefined;
    return typeof socket?.prototype?.startEngine === 'function';
  } catch {
    return false;
  }
}

/** L2VIP_MEMBERSHIP_SOCKET: 'polled' or 'dgram' (ways back); anything else: the default, the engine. */
function socketChoice(env: string | undefined): 'engine' | 'polled' | 'dgram' {
  return env === 'dgram' || env === 'polled' ? env : 'engine';
}
