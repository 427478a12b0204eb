import type { Clock } from '../clock/clock.js';
import type { Logger } from '../observability/logger.js';
import type { ConflictDecision } from './speaker.js';

/** An episode ends after this long without a conflicting frame; the next one starts a new episode (and a new log line). */
export const CONFLICT_QUIET_MS = 30_000;
/** Episodes of one claiming host (interface and MAC) logged and raised before the rest go to debug. */
export const LOUD_EPISODES_PER_HOST = 8;
/** Episodes kept for `l2vip status`: the most recent ones. */
export const MAX_CONFLICT_EPISODES = 32;

/** Another MAC claiming a VIP of this node on one interface, from its first frame until it stays quiet CONFLICT_QUIET_MS. */
export interface ConflictEpisode {
  readonly ip: string;
  readonly iface: string;
  /** The other host's MAC, aa:bb:cc:dd:ee:ff. */
  readonly otherMac: string;
  /** This node's MAC on `iface` (undefined: the interface is gone). */
  readonly ourMac: string | undefined;
  readonly service: string | undefined;
  /** Clock times of the first and the last conflicting frame. */
  readonly firstSeen: number;
  lastSeen: number;
  /** Conflicting frames in this episode. */
  count: number;
  /** What this node did last: defend (RFC 5227), yield, or none (not its VIP to keep). */
  action: ConflictDecision['action'];
  /**
   * Every frame so far came from one of our speakers during a passing disagreement
   * (ConflictDecision.transient): logged at debug, not raised. The first frame that is not
   * makes the episode loud.
   */
  transient: boolean;
}

/**
 * Turns conflicting frames into episodes: one warning per episode with both MACs and the
 * interface, a bounded list for `l2vip status`, and the episode listeners (Kubernetes Events).
 */
export class ConflictEpisodes {
  private readonly episodes: ConflictEpisode[] = [];
  private readonly listeners = new Set<(e: Readonly<ConflictEpisode>) => void>();
  private readonly log: Logger;
  /** Episodes started since the process started. */
  total = 0;
  /** (interface, other MAC) -> its last episode start and how many were logged: a bounded number of warnings per claiming host, not one per VIP. */
  private readonly loud = new Map<string, { at: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    logger: Logger,
    private readonly macOf: (iface: string) => Uint8Array | undefined = () => undefined,
  ) {
    this.log = logger.child({ component: 'conflicts' });
  }

  /** Subscribes to new episodes (called once per episode, at its first frame). */
  onEpisode(listener: (e: Readonly<ConflictEpisode>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One conflicting frame and what the speaker did about it. */
  observe(d: ConflictDecision): void {
    const now = this.clock.now();
    const otherMac = formatMac(d.mac);
    const open = this.episodes.find((e) => e.ip === d.ip && e.iface === d.iface && e.otherMac === otherMac && now - e.lastSeen < CONFLICT_QUIET_MS);
    if (open !== undefined) {
      open.lastSeen = now;
      open.count++;
      open.action = d.action;
      if (open.transient && d.transient !== true) {
        open.transient = false;
        this.report(open, now);
      }
      return;
    }
    const mine = this.macOf(d.iface);
    const e: ConflictEpisode = {
      ip: d.ip,
      iface: d.iface,
      otherMac,
      ourMac: mine === undefined ? undefined : formatMac(mine),
      service: d.service,
      firstSeen: now,
      lastSeen: now,
      count: 1,
      action: d.action,
      transient: d.transient === true,
    };
    this.episodes.push(e);
    if (this.episodes.length > MAX_CONFLICT_EPISODES) this.episodes.splice(0, this.episodes.length - MAX_CONFLICT_EPISODES);
    this.total++;
    if (e.transient) {
      this.log.debug(this.fields(e), 'another of our speakers claims an IP this node announces while their desired states or views differ');
      return;
    }
    this.report(e, now);
  }

  private fields(e: ConflictEpisode): Record<string, unknown> {
    return { ip: e.ip, iface: e.iface, ourMac: e.ourMac ?? null, otherMac: e.otherMac, service: e.service ?? null, action: e.action, reason: 'conflict' };
  }

  /** Logs (bounded per claiming host) and raises an episode. */
  private report(e: ConflictEpisode, now: number): void {
    const otherMac = e.otherMac;
    // One host claiming thousands of VIPs (a split brain of 10 000 VIPs) starts thousands of
    // episodes: the first LOUD_EPISODES_PER_HOST of each (interface, other MAC) are logged and
    // raised, the rest of that host's within CONFLICT_QUIET_MS only at debug.
    const key = `${e.iface}|${otherMac}`;
    const loud = this.loud.get(key);
    const fields = this.fields(e);
    if (loud !== undefined && now - loud.at < CONFLICT_QUIET_MS && loud.count >= LOUD_EPISODES_PER_HOST) {
      loud.at = now;
      this.log.debug(fields, 'another host claims an IP this node announces');
      return;
    }
    if (loud === undefined || now - loud.at >= CONFLICT_QUIET_MS) this.loud.set(key, { at: now, count: 1 });
    else {
      loud.at = now;
      loud.count++;
    }
    if (this.loud.size > 4 * MAX_CONFLICT_EPISODES) for (const [k, v] of this.loud) if (now - v.at >= CONFLICT_QUIET_MS) this.loud.delete(k);
    this.log.warn(fields, 'another host claims an IP this node announces');
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err }, 'a conflict listener failed');
      }
    }
  }

  /** The kept episodes, most recent first, each with whether it is still going on. */
  list(): (Readonly<ConflictEpisode> & { readonly ongoing: boolean })[] {
    const now = this.clock.now();
    return [...this.episodes].reverse().map((e) => ({ ...e, ongoing: now - e.lastSeen < CONFLICT_QUIET_MS }));
  }
}

function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
