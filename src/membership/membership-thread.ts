import type { Clock } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import type { Logger } from '../observability/logger.js';
import { GatedTransport, MainLoopGate } from './main-loop-gate.js';
import { Membership, type MembershipView, type MemberView } from './membership.js';
import { engineWatchdogMs } from './membership-options.js';
import type { PeerTransport } from './peer-transport.js';
import { PortLogger } from './port-logger.js';
import { UdpTransport } from './udp-transport.js';
import { PolledUdpTransport } from './polled-udp-transport.js';
import { loadNative, type NativeAddon } from '../netdev/native.js';
import { serializeError, sharedNow, type FromWorker, type ToWorker, type WireView, type WorkerInit } from './worker-protocol.js';

/** The worker's end of the channel to the main thread (parentPort, or an in-process fake). */
export interface ParentPort {
  postMessage(message: FromWorker): void;
  onMessage(handler: (message: ToWorker) => void): void;
}

export interface MembershipThreadDeps {
  /** Default: UDP on init.bind. */
  readonly transport?: PeerTransport;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * The membership worker's body: the real Membership over the UDP socket, its timers and its HMAC
 * on this thread; the main thread gets view changes, refutations, stats and log records by
 * message and drives start, leave, stop, metadata, peers and secrets by message. Sends are gated
 * on the main loop's liveness (MainLoopGate). Runs in a worker_threads Worker
 * (membership-worker.ts) or, in tests, in-process over a fake port.
 */
export function runMembershipThread(port: ParentPort, init: WorkerInit, deps: MembershipThreadDeps = {}): { kill(): Promise<void> } {
  const clock = deps.clock ?? systemClock;
  const root = new PortLogger((r) => port.postMessage(r), init.logLevel);
  // PortLogger implements what the membership and the UDP transport call (child, levels, isLevelEnabled).
  const logger = root as unknown as Logger;
  const log = root.child({ component: 'membership', node: init.self });
  const beat = new Int32Array(init.mainBeat);
  const gate = init.sameThread
    ? new MainLoopGate({
        clock,
        // On the main thread the engine's watchdog stops the beats of a hung loop; its bound is the one that counts.
        timeoutMs: engineWatchdogMs(init.options),
        onHang: (silentMs) => log.warn({ silentMs: Math.round(silentMs), boundMs: init.mainLoopTimeoutMs }, 'main event loop was hung: the beat engine stopped beating meanwhile, peers took over'),
      })
    : new MainLoopGate({
        clock,
        beat: () => Atomics.load(beat, 0),
        // The counter moves once a beat: the silence seen is the stall plus up to one beat.
        timeoutMs: init.mainLoopTimeoutMs + init.mainTickMs,
        onChange: (holding, silentMs) => {
          if (holding) log.warn({ silentMs: Math.round(silentMs), boundMs: init.mainLoopTimeoutMs }, 'main event loop hung: heartbeats held back, peers will take over');
          else log.info({ silentMs: Math.round(silentMs) }, 'main event loop back: heartbeats resume');
        },
      });
  const transport = new GatedTransport(deps.transport ?? udpTransport(init.bind, clock, logger, log, init.socket), gate);
  const membership = new Membership({
    self: init.self,
    peers: init.peers,
    secret: init.secret,
    previousSecrets: init.previousSecrets,
    clock,
    transport,
    logger,
    options: init.options,
    incarnation: init.incarnation,
  });
  if (init.metadata !== undefined) membership.setMetadata(init.metadata);

  let last: WireView | undefined;
  const post = (changed: boolean): void => {
    const view = toWire(membership.view());
    last = view;
    port.postMessage({ t: 'view', changed, view, stats: membership.stats(), mainLoop: { hangs: gate.hangs, heldDatagrams: gate.held, holding: gate.holding } });
  };
  membership.onChange((v) => {
    // Own metadata the main thread set itself: no message (the main thread already has it).
    const wire = toWire(v);
    if (last === undefined || peersChanged(last, wire)) post(true);
  });
  membership.onRefute((state) => port.postMessage({ t: 'refute', state }));

  let snapshot: ReturnType<Clock['setTimeout']> | undefined;
  const scheduleSnapshot = (): void => {
    snapshot = clock.setTimeout(() => {
      post(false);
      scheduleSnapshot();
    }, init.snapshotMs);
  };
  const done = (id: number, p: Promise<void>): void => {
    p.then(
      () => port.postMessage({ t: 'done', id }),
      (err: unknown) => port.postMessage({ t: 'done', id, error: serializeError(err) }),
    );
  };
  const halt = async (how: 'leave' | 'stop'): Promise<void> => {
    snapshot?.cancel();
    snapshot = undefined;
    await (how === 'leave' ? membership.leave() : membership.stop());
    post(false);
  };

  port.onMessage((m) => {
    try {
      switch (m.t) {
        case 'start':
          done(
            m.id,
            membership.start().then(() => {
              post(true);
              scheduleSnapshot();
            }),
          );
          break;
        case 'leave':
          done(m.id, halt('leave'));
          break;
        case 'stop':
          done(m.id, halt('stop'));
          break;
        case 'metadata':
          membership.setMetadata(m.metadata);
          break;
        case 'peers':
          membership.setPeers(m.peers);
          break;
        case 'secrets':
          membership.setSecrets(m.secret, m.previousSecrets);
          break;
      }
    } catch (err) {
      // The main thread validated the same input first; an error here is a bug, not a crash.
      log.error({ err, message: m.t }, 'membership worker: message failed');
      if ('id' in m) port.postMessage({ t: 'done', id: m.id, error: serializeError(err) });
    }
  });
  // What terminating the thread does to it (for an in-process run): timers and socket gone, no goodbye.
  return {
    kill: async () => {
      snapshot?.cancel();
      await membership.stop();
    },
  };
}

/**
 * The polled UDP socket of the native addon: datagrams are read once per tick, so a heartbeat
 * period costs one wakeup whatever the number of peers. Without the addon (not built), node:dgram,
 * one wakeup per datagram, and a warning.
 */
function udpTransport(bind: string, clock: Clock, logger: Logger, log: PortLogger, socket: WorkerInit['socket']): PeerTransport {
  if (socket === 'dgram') {
    log.info({}, 'membership: node:dgram socket (L2VIP_MEMBERSHIP_SOCKET=dgram): one wakeup per datagram');
    return new UdpTransport({ bind, logger });
  }
  let native: NativeAddon;
  try {
    native = loadNative();
  } catch (err) {
    log.warn({ err }, 'membership: native addon unavailable, using node:dgram (one wakeup per datagram: more idle CPU)');
    return new UdpTransport({ bind, logger });
  }
  // An addon built before DatagramSocket existed (a stale build/ directory) loads but lacks it.
  if (typeof (native as Partial<NativeAddon>).DatagramSocket !== 'function') {
    log.warn({}, 'membership: the native addon has no DatagramSocket (an old build: npm rebuild), using node:dgram');
    return new UdpTransport({ bind, logger });
  }
  if (socket === 'polled') log.info({}, 'membership: polled socket without the beat engine (L2VIP_MEMBERSHIP_SOCKET=polled): a tick every heartbeat');
  return new PolledUdpTransport({ bind, clock, logger, native, engine: socket !== 'polled' });
}

function toWire(v: MembershipView): WireView {
  const now = sharedNow();
  const members = [...v.members.values()].map((m: MemberView) => ({
    name: m.name,
    address: m.address,
    state: m.state,
    incarnation: m.incarnation,
    heardAt: m.lastHeardMsAgo === undefined ? undefined : now - m.lastHeardMsAgo,
    stateAt: m.stateSinceMsAgo === undefined ? undefined : now - m.stateSinceMsAgo,
    metadata: m.metadata,
    self: m.self,
  }));
  return { alive: [...v.alive], members };
}

/** Whether anything the main thread's handlers act on changed, but our own metadata. */
function peersChanged(a: WireView, b: WireView): boolean {
  if (a.alive.length !== b.alive.length || a.members.length !== b.members.length) return true;
  const alive = new Set(a.alive);
  for (const n of b.alive) if (!alive.has(n)) return true;
  const before = new Map(a.members.map((m) => [m.name, m]));
  for (const m of b.members) {
    const p = before.get(m.name);
    if (p === undefined) return true;
    if (m.self) {
      if (p.state !== m.state || p.incarnation !== m.incarnation) return true;
      continue;
    }
    // Metadata objects are replaced, never mutated, by the membership: identity is enough.
    if (p.state !== m.state || p.incarnation !== m.incarnation || p.metadata !== m.metadata || p.address !== m.address || (p.heardAt === undefined) !== (m.heardAt === undefined)) return true;
  }
  return false;
}
