import { toOwnedIp } from '../announcer/owned-ips.js';
import type { Clock } from '../clock/clock.js';
import type { OwnerChange, TakeoverCause } from './speaker.js';

export const TAKEOVER_CAUSES: readonly TakeoverCause[] = ['death', 'handoff', 'link', 'conflict', 'election'];

/** The last failover of a service as this node saw it. */
export interface FailoverRecord {
  /** Clock time of the change. */
  readonly at: number;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly cause: TakeoverCause;
  /**
   * Only on the node that took over: from the previous owner declared dead (or the handoff,
   * the link event, the end of a yield) to the first gratuitous announcement it sent.
   * Undefined until then, and on every other node.
   */
  durationMs: number | undefined;
}

/** Owner of a service as this node sees it, since when, and its last failover. */
export interface ServiceOwnership {
  readonly owner: string | undefined;
  /** Clock time this node saw the current owner take the service; undefined: never elected. */
  readonly since: number | undefined;
  readonly lastFailover: FailoverRecord | undefined;
}

interface Entry {
  owner: string | undefined;
  since: number | undefined;
  last: FailoverRecord | undefined;
}

/** Takeovers still waiting for their first gratuitous announcement. */
interface Pending {
  readonly service: string;
  readonly record: FailoverRecord;
  readonly since: number;
}

/**
 * Ownership history for `l2vip status` and the failover metrics: fed the speaker's owner
 * changes and the announcer's first gratuitous announcement of each IP gained. Takeovers by this
 * node other than its first election are measured (cause: death, handoff, link, conflict);
 * their durations go to the listeners (the l2vip_failover_duration_seconds histogram).
 */
export class OwnershipHistory {
  private readonly services = new Map<string, Entry>();
  /** Canonical IP -> the takeover its first gratuitous announcement ends; and each service's pending IPs. */
  private readonly pending = new Map<string, Pending>();
  private readonly pendingIps = new Map<string, string[]>();
  private readonly listeners = new Set<(seconds: number, cause: TakeoverCause) => void>();
  /** Takeovers by this node, by cause. */
  readonly takeovers = new Map<TakeoverCause, number>(TAKEOVER_CAUSES.map((c) => [c, 0]));

  constructor(private readonly clock: Clock) {}

  /** Subscribes to measured failover durations (seconds). */
  onFailover(listener: (seconds: number, cause: TakeoverCause) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The speaker's owner changes (SpeakerComponents.onOwnerChange). */
  changed(changes: readonly OwnerChange[]): void {
    for (const c of changes) {
      const e = this.services.get(c.service) ?? { owner: undefined, since: undefined, last: undefined };
      this.services.set(c.service, e);
      this.forget(c.service);
      const moved = c.from !== c.to;
      if (moved) {
        e.owner = c.to;
        e.since = c.at;
      }
      const measured = c.takeover && c.cause !== 'election';
      if (c.takeover) this.takeovers.set(c.cause, (this.takeovers.get(c.cause) ?? 0) + 1);
      if (!measured && !(moved && c.from !== undefined && c.to !== undefined)) continue;
      const record: FailoverRecord = { at: c.at, from: c.from, to: c.to, cause: c.cause, durationMs: undefined };
      e.last = record;
      if (!measured) continue;
      const ips: string[] = [];
      for (const text of c.addresses) {
        const ip = toOwnedIp(text)?.ip;
        if (ip === undefined) continue;
        // An IP moved from another service: that one's measurement is off.
        const other = this.pending.get(ip);
        if (other !== undefined) this.forget(other.service);
        this.pending.set(ip, { service: c.service, record, since: c.since });
        ips.push(ip);
      }
      this.pendingIps.set(c.service, ips);
    }
  }

  /** The announcer's first gratuitous announcement of `ip` since it gained it (canonical text). */
  firstGratuitous(ip: string): void {
    const p = this.pending.get(ip);
    if (p === undefined) return;
    this.forget(p.service);
    const ms = Math.max(0, this.clock.now() - p.since);
    p.record.durationMs = ms;
    for (const l of this.listeners) l(ms / 1000, p.record.cause);
  }

  get(service: string): ServiceOwnership | undefined {
    const e = this.services.get(service);
    return e === undefined ? undefined : { owner: e.owner, since: e.since, lastFailover: e.last };
  }

  /** Drops services no longer configured. */
  retain(services: ReadonlySet<string>): void {
    for (const name of this.services.keys()) {
      if (!services.has(name)) {
        this.services.delete(name);
        this.forget(name);
      }
    }
  }

  private forget(service: string): void {
    const ips = this.pendingIps.get(service);
    if (ips === undefined) return;
    this.pendingIps.delete(service);
    for (const ip of ips) if (this.pending.get(ip)?.service === service) this.pending.delete(ip);
  }
}
