import type { Clock } from '../clock/clock.js';

/** A check returns what is wrong, in words an operator can act on; empty when all is well. */
export type HealthCheck = () => readonly string[];

/** The checks behind /healthz (keep running?) and /readyz (may serve?). */
export interface HealthChecks {
  readonly health?: HealthCheck;
  readonly ready?: HealthCheck;
}

/** A stall longer than this makes the process unhealthy until a quiet STALL_MEMORY_MS has passed. */
export const STALL_THRESHOLD_MS = 1_000;
/** Sampling period: a stall shows as the lateness of this timer, so one shorter than SAMPLE_MS may go unseen. */
const SAMPLE_MS = 250;
const STALL_MEMORY_MS = 30_000;

/**
 * Notices event-loop stalls: a timer that should fire every 250 ms (4 wakeups a second of an
 * idle process) and fires late. The failure detector runs on its own thread; a main loop stalled
 * past the membership's mainLoopTimeoutMs makes it hold heartbeats back, so peers take over.
 */
export class StallWatch {
  private timer: { cancel(): void } | undefined;
  private last = 0;
  private lastStall: { at: number; ms: number } | undefined;
  /** Longest lateness seen, for metrics and benchmarks. */
  maxLagMs = 0;

  constructor(private readonly clock: Clock) {}

  start(): void {
    this.last = this.clock.now();
    const tick = (): void => {
      const now = this.clock.now();
      const lag = now - this.last - SAMPLE_MS;
      this.last = now;
      if (lag > this.maxLagMs) this.maxLagMs = lag;
      if (lag > STALL_THRESHOLD_MS) this.lastStall = { at: now, ms: lag };
      this.timer = this.clock.setTimeout(tick, SAMPLE_MS);
    };
    this.timer = this.clock.setTimeout(tick, SAMPLE_MS);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  readonly check: HealthCheck = () => {
    const s = this.lastStall;
    if (s === undefined || this.clock.now() - s.at > STALL_MEMORY_MS) return [];
    return [`the event loop stalled for ${Math.round(s.ms)} ms ${Math.round((this.clock.now() - s.at) / 1000)} s ago`];
  };
}

/** Runs checks and never throws: a check that throws is itself a problem. */
export function runChecks(check: HealthCheck | undefined): string[] {
  if (check === undefined) return [];
  try {
    return [...check()];
  } catch (err) {
    return [`a health check failed: ${err instanceof Error ? err.message : String(err)}`];
  }
}
