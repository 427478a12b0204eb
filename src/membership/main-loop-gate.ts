import type { Clock } from '../clock/clock.js';
import type { BeatEngine, BeatPath, PeerTransport } from './peer-transport.js';

export interface MainLoopGateOptions {
  readonly clock: Clock;
  /**
   * Reads the counter the main thread increments (Atomics.load on a SharedArrayBuffer). Absent:
   * the gate runs on the main thread itself (the membership with the beat engine), where each
   * check proves the loop runs; it never closes, and a gap between two checks longer than
   * timeoutMs counts as a hang, told through onHang once the loop is back (meanwhile the engine's
   * watchdog, of the same bound, stopped the beats).
   */
  readonly beat?: () => number;
  /** Silence of the counter after which the gate closes (or, without `beat`, a gap between checks that counts as a hang). */
  readonly timeoutMs: number;
  /** Told when the gate closes (hung) or opens again, with how long the main loop was silent. */
  readonly onChange?: (holding: boolean, silentMs: number) => void;
  /** Without `beat`: told after a hang, with how long the loop was silent. */
  readonly onHang?: (silentMs: number) => void;
}

/**
 * The failure detector runs on its own thread so that a main event loop busy with bulk work
 * (thousands of VIPs announced at once) never makes peers declare this node dead. But a main
 * loop that is hung for good (a bug, a deadlock in a native call) answers no ARP any more: then
 * peers must take over. The main thread increments a shared counter every beat (250 ms); while it
 * has not moved for `timeoutMs` (the bound plus one beat) the gate holds every datagram back, so peers see this node go silent
 * and declare it dead within their usual dead timeout. When the main loop ticks again the gate
 * opens: peers hear the node (refuting its burial with a new incarnation) and the speaker's flap
 * damping holds its comeback. Checked on each send (the heartbeat timer calls it every
 * heartbeatMs) and, with the beat engine, at each kick (every tick of the membership, up to
 * fullHeartbeatMs apart), so it needs no timer of its own.
 */
export class MainLoopGate {
  private last: number;
  private lastMovedAt: number;
  private holdingNow = false;
  hangs = 0;
  held = 0;

  constructor(private readonly o: MainLoopGateOptions) {
    this.last = o.beat?.() ?? 0;
    this.lastMovedAt = o.clock.now();
  }

  /** Whether datagrams may go out now (the main loop ticked within timeoutMs). */
  open(): boolean {
    const now = this.o.clock.now();
    if (this.o.beat === undefined) {
      const gap = now - this.lastMovedAt;
      this.lastMovedAt = now;
      if (gap > this.o.timeoutMs) {
        this.hangs++;
        this.o.onHang?.(gap);
      }
      return true;
    }
    const beat = this.o.beat();
    if (beat !== this.last) {
      this.last = beat;
      if (this.holdingNow) {
        this.holdingNow = false;
        this.o.onChange?.(false, now - this.lastMovedAt);
      }
      this.lastMovedAt = now;
      return true;
    }
    if (!this.holdingNow && now - this.lastMovedAt > this.o.timeoutMs) {
      this.holdingNow = true;
      this.hangs++;
      this.o.onChange?.(true, now - this.lastMovedAt);
    }
    return !this.holdingNow;
  }

  get holding(): boolean {
    return this.holdingNow;
  }
}

/** A PeerTransport whose sends are dropped (counted) while the gate is closed; receiving goes on. */
export class GatedTransport implements PeerTransport {
  /** The inner transport's beat fast path, its sends gated the same way. */
  readonly beats: BeatPath | undefined;

  constructor(
    private readonly inner: PeerTransport,
    private readonly gate: MainLoopGate,
  ) {
    const b = inner.beats;
    this.beats =
      b === undefined
        ? undefined
        : {
            configure: (c) => b.configure(c),
            onBeat: (handler) => b.onBeat(handler),
            sendBeat: (address, keyId, receiver, incarnation, seq, timestamp) => {
              if (this.gate.open()) b.sendBeat(address, keyId, receiver, incarnation, seq, timestamp);
              else this.gate.held++;
            },
            // The engine beats on its own thread: the gate closes it at each kick (every tick).
            ...(b.engine === undefined ? {} : { engine: gatedEngine(b.engine, gate) }),
          };
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  send(address: string, data: Uint8Array): void {
    if (this.gate.open()) this.inner.send(address, data);
    else this.gate.held++;
  }

  onMessage(handler: (data: Uint8Array, from: string, at?: number) => void): void {
    this.inner.onMessage(handler);
  }

  poll(): void {
    this.inner.poll?.();
  }
}

/** The engine with its kicks gated: while the main loop hangs it stops beating at the next tick. */
function gatedEngine(e: BeatEngine, gate: MainLoopGate): BeatEngine {
  return {
    start: (periodMs, jitter, onWake) => e.start(periodMs, jitter, onWake),
    stop: () => e.stop(),
    setSelf: (incarnation, keyId) => e.setSelf(incarnation, keyId),
    setTargets: (targets) => e.setTargets(targets),
    setSenders: (incarnations, floors) => e.setSenders(incarnations, floors),
    watch: (slots, wakeAfterMs) => e.watch(slots, wakeAfterMs),
    kick: (open, watchdogMs) => e.kick(open && gate.open(), watchdogMs),
    arrivals: (handler) => e.arrivals(handler),
    sendSeq: (slot) => e.sendSeq(slot),
    setSendSeq: (slot, seq) => e.setSendSeq(slot, seq),
    sentTo: (slot) => e.sentTo(slot),
    counts: () => e.counts(),
  };
}
