import type { Clock } from '../clock/clock.js';
import type { Logger } from '../observability/logger.js';
import type { FrameSocket } from './frame-socket.js';
import { DEFAULT_GARP_PACING, DEFAULT_GARP_TIMING, GarpScheduler, type GarpPacing, type GarpStats, type GarpTiming } from './garp-schedule.js';
import { InterfaceResponder, type InterfaceInfo, type Ipv6Groups } from './interface-responder.js';
import { toOwnedIp, type OwnedIp } from './owned-ips.js';
import { ResponderStats } from './responder-stats.js';

/** IP (any text form) -> names of the interfaces it is announced on. */
export type OwnedSet = ReadonlyMap<string, ReadonlySet<string>>;

/** Read access to an owned set by IP (a Map is one). */
export interface OwnedLookup {
  has(ip: string): boolean;
  get(ip: string): ReadonlySet<string> | undefined;
}

export interface AnnouncerComponents {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Current facts about an interface by name; undefined if it does not exist. */
  readonly resolveInterface: (name: string) => InterfaceInfo | undefined;
  /** Opens the frame socket of an interface (AF_PACKET in production). May throw. */
  readonly openSocket: (iface: InterfaceInfo) => FrameSocket;
  readonly timing?: GarpTiming;
  /** Rate of gratuitous announcements (default DEFAULT_GARP_PACING). */
  readonly pacing?: GarpPacing;
  readonly stats?: ResponderStats;
  /** IP-level IPv6 multicast joins (MLD reports); optional. */
  readonly groups?: Ipv6Groups;
  /** The virtual MAC an IP is answered and announced with on an interface; undefined: the interface's MAC. */
  readonly sourceMac?: (ip: string, iface: string) => Uint8Array | undefined;
}

/**
 * Gains are applied in slices, one per event-loop turn, so the failure detector sharing the loop
 * is never held up by a big gain (10 000 VIPs at start-up): at most GAIN_SLICE IPs, and no more
 * than SLICE_BUDGET_MS of work (checked every 50 IPs). Parsing, the responder's table and the
 * announcement schedule cost 2 to 10 us per IP (idle to busy machine). Withdrawals are never
 * sliced.
 */
export const GAIN_SLICE = 500;
export const SLICE_BUDGET_MS = 2;

/** First retry of an interface whose socket failed to open; doubles up to the maximum. */
const SOCKET_RETRY_MS = 1_000;
const SOCKET_RETRY_MAX_MS = 30_000;

/** An interface whose socket could not be opened: retried on a timer with back-off. */
interface FailedInterface {
  readonly reason: string;
  readonly delayMs: number;
  readonly timer: { cancel(): void };
}

/**
 * Carries out the owned set: one responder per interface, answering for exactly the IPs this
 * node owns there, and gratuitous announcements when an IP is gained. It never decides
 * ownership; the speaker (or `l2vip announce`) tells it.
 */
export class Announcer {
  readonly stats: ResponderStats;
  private readonly responders = new Map<string, InterfaceResponder>();
  /**
   * Canonical IP text -> the IP and its interfaces. Interface sets are interned and never changed
   * in place (a change replaces the entry's set): 10 000 VIPs on eth0 share one set.
   */
  private readonly owned = new Map<string, { readonly ip: OwnedIp; ifaces: ReadonlySet<string> }>();
  /** The interned interface sets, by their sorted names. */
  private readonly ifaceSets = new Map<string, ReadonlySet<string>>();
  /**
   * Parsed forms of the texts asked for that are not canonical, or not IPs (null). A canonical
   * text (what configs hold) is not kept: it is parsed again, or found in `owned`.
   */
  private parsed = new Map<string, OwnedIp | null>();
  /** Gains still to apply: what is left of the last owned set asked for, and its summary. */
  private gaining: { rest: Iterator<[string, ReadonlySet<string>]>; timer: { cancel(): void } | undefined; since: number } | undefined;
  /** Canonical IP -> interfaces, of the entries of `wanted` not in canonical form (built when needed). */
  private aliases: Map<string, Set<string>> | undefined;
  /** Counts of the reconcile being applied, logged once it is done. */
  private summary = { gained: 0, withdrawn: 0 };
  private readonly garp: GarpScheduler<string>;
  private readonly log: Logger;
  /** The last owned set asked for: what a retried interface must answer once it opens. */
  private wanted: OwnedSet = new Map();
  private readonly failed = new Map<string, FailedInterface>();
  private readonly conflictHandlers = new Set<(ip: string, iface: string, mac: Uint8Array) => void>();
  private readonly firstGratuitousHandlers = new Set<(ip: string, iface: string) => void>();
  /** IPs gained and not yet announced by any gratuitous frame (canonical text). */
  private readonly unannounced = new Set<string>();
  /** Socket open failures by reason (errno code), for metrics. */
  readonly socketFailures = new Map<string, number>();

  constructor(private readonly c: AnnouncerComponents) {
    this.stats = c.stats ?? new ResponderStats();
    this.log = c.logger.child({ component: 'announcer' });
    this.garp = new GarpScheduler(c.clock, c.timing ?? DEFAULT_GARP_TIMING, (k) => this.sendGratuitous(k), c.pacing ?? DEFAULT_GARP_PACING);
  }

  /** Opens responders ahead of need, so a failover does not wait for a socket. */
  prepare(ifaces: Iterable<string>): void {
    for (const name of ifaces) this.responder(name);
  }

  /**
   * The IPs owned now (canonical text), each with its interfaces, as a live lookup: no copy of
   * thousands of entries for a scrape or a status document.
   */
  lookup(): OwnedLookup {
    return this.ownedLookup;
  }

  private readonly ownedLookup: OwnedLookup = {
    has: (ip) => this.owned.has(ip),
    get: (ip) => this.owned.get(ip)?.ifaces,
  };

  /** A copy of the IPs owned now, each with its interfaces. */
  current(): OwnedSet {
    return new Map([...this.owned].map(([ip, o]) => [ip, o.ifaces]));
  }

  /**
   * Makes the owned set `next` (the announcer keeps it: do not change it afterwards). Lost IPs
   * stop being answered before this returns, including gains of an earlier call still being
   * applied; gained ones are applied in slices of GAIN_SLICE per event-loop turn, each answered at
   * once and announced on the paced GARP schedule, first announcements before refreshes. One
   * info line per reconcile, when it is applied: `announcing N VIPs (+a −b)`; per IP at debug.
   */
  setOwned(next: OwnedSet): void {
    this.wanted = next;
    this.aliases = undefined;
    // Withdraw first: stopping an answer is never delayed by the work of starting another.
    if (next.size === 0 && this.owned.size > 0) {
      // Everything lost (a yield, a stop): cleared in bulk, not IP by IP (10 000 in one turn).
      this.summary.withdrawn += this.owned.size;
      for (const r of this.responders.values()) r.removeAll();
      this.garp.stop();
      this.owned.clear();
      this.log.debug('withdrawn: every IP');
    }
    // No copies: deleting from a Map while iterating it is safe, and interface sets are replaced, never changed.
    for (const o of this.owned.values()) {
      for (const iface of o.ifaces) {
        if (!this.wants(o.ip, iface)) {
          this.withdraw(o.ip, iface);
          if (!this.owned.has(o.ip.ip)) this.summary.withdrawn++;
        }
      }
    }
    if (this.parsed.size > 2 * next.size + 1024) this.parsed = new Map();
    this.gaining?.timer?.cancel();
    this.gaining = { rest: next[Symbol.iterator](), timer: undefined, since: this.gaining?.since ?? this.c.clock.now() };
    // A new gain: its first announcements go before those of an earlier gain still waiting.
    this.garp.newBatch();
    this.applyGains();
  }

  /** True while gains of the last setOwned are still being applied. */
  get pendingGains(): boolean {
    return this.gaining !== undefined;
  }

  /** Whether the last owned set asked for has `ip` on `iface`. Any text form of the IP matches. */
  private wants(ip: OwnedIp, iface: string): boolean {
    if (this.wanted.get(ip.ip)?.has(iface) === true) return true;
    // Asked for in another text form (IPv6 not in canonical form, say)? Indexed once per call.
    if (this.aliases === undefined) {
      this.aliases = new Map();
      for (const [text, ifaces] of this.wanted) {
        const canonical = this.parse(text)?.ip;
        if (canonical === undefined || canonical === text) continue;
        const set = this.aliases.get(canonical) ?? new Set<string>();
        for (const i of ifaces) set.add(i);
        this.aliases.set(canonical, set);
      }
    }
    return this.aliases.get(ip.ip)?.has(iface) === true;
  }

  private parse(text: string): OwnedIp | undefined {
    const owned = this.owned.get(text)?.ip;
    if (owned !== undefined) return owned;
    let ip = this.parsed.get(text);
    if (ip === undefined) {
      ip = toOwnedIp(text) ?? null;
      if (ip?.ip !== text) this.parsed.set(text, ip);
      if (ip === null) this.log.error({ ip: text }, 'ignoring an owned entry that is not an IP');
    }
    return ip ?? undefined;
  }

  /** The interned set of `ifaces` (see `owned`). */
  private ifaceSet(ifaces: Iterable<string>): ReadonlySet<string> {
    const names = [...new Set(ifaces)].sort();
    const key = names.join('\n');
    let set = this.ifaceSets.get(key);
    if (set === undefined) {
      set = new Set(names);
      this.ifaceSets.set(key, set);
    }
    return set;
  }

  /** One slice of the gains; schedules the next on the clock, or logs the summary when done. */
  private applyGains(): void {
    const g = this.gaining;
    if (g === undefined) return;
    g.timer = undefined;
    const deadline = this.c.clock.now() + SLICE_BUDGET_MS;
    for (let n = 0; n < GAIN_SLICE; n++) {
      if (n % 50 === 49 && this.c.clock.now() > deadline) break;
      const r = g.rest.next();
      if (r.done === true) {
        this.gaining = undefined;
        const { gained, withdrawn } = this.summary;
        this.summary = { gained: 0, withdrawn: 0 };
        if (gained + withdrawn > 0) {
          this.log.info({ vips: this.owned.size, gained, withdrawn, ms: this.c.clock.now() - g.since }, `announcing ${this.owned.size} VIPs (+${gained} −${withdrawn})`);
        }
        return;
      }
      const [text, ifaces] = r.value;
      const ip = this.parse(text);
      if (ip === undefined) continue;
      const had = this.owned.has(ip.ip);
      for (const iface of ifaces) if (!this.owned.get(ip.ip)?.ifaces.has(iface)) this.answer(ip, iface);
      if (!had && this.owned.has(ip.ip)) this.summary.gained++;
    }
    g.timer = this.c.clock.setTimeout(() => this.applyGains(), 0);
  }

  /**
   * IPs asked for that are not answered on every interface asked for (a socket that failed to
   * open, an interface that is gone): what makes this node unhealthy.
   */
  unanswered(): { ip: string; iface: string; reason: string }[] {
    const out: { ip: string; iface: string; reason: string }[] = [];
    // While gains are being applied (well under a second) the rest is not yet answered, not failed.
    if (this.gaining !== undefined) return out;
    for (const [text, ifaces] of this.wanted) {
      const ip = this.parse(text);
      const have = ip === undefined ? undefined : this.owned.get(ip.ip)?.ifaces;
      for (const iface of ifaces) {
        if (have?.has(iface) === true) continue;
        out.push({ ip: text, iface, reason: this.failed.get(iface)?.reason ?? 'no usable interface' });
      }
    }
    return out;
  }

  /** Subscribes to conflicts: another MAC claiming an IP this node announces. */
  onConflict(handler: (ip: string, iface: string, mac: Uint8Array) => void): () => void {
    this.conflictHandlers.add(handler);
    return () => this.conflictHandlers.delete(handler);
  }

  /**
   * Subscribes to the first gratuitous announcement actually sent for an IP after this node
   * gained it (it owned it on no interface before): where a takeover ends, for the failover
   * duration. Called once per gain, with the canonical IP text.
   */
  onFirstGratuitous(handler: (ip: string, iface: string) => void): () => void {
    this.firstGratuitousHandlers.add(handler);
    return () => this.firstGratuitousHandlers.delete(handler);
  }

  /**
   * Defends an owned IP: one gratuitous announcement on each interface it is announced on,
   * now (RFC 5227 §2.4 (b): a single announcement; the caller limits how often).
   */
  defend(ipText: string): void {
    const ip = toOwnedIp(ipText);
    const o = ip === undefined ? undefined : this.owned.get(ip.ip);
    if (o === undefined) return;
    for (const iface of o.ifaces) this.responders.get(iface)?.sendGratuitous(o.ip);
  }

  /** Restarts the announcements of every IP on `iface` (its carrier came back, say). */
  reannounce(iface: string): void {
    this.garp.newBatch();
    for (const o of this.owned.values()) if (o.ifaces.has(iface)) this.garp.start(garpKey(iface, o.ip.ip));
  }

  /** What the GARP schedule sent and how long first announcements waited for their turn. */
  garpStats(): Readonly<GarpStats> {
    return this.garp.stats;
  }

  /** The interface went away or changed MAC: drop its responder; IPs on it are re-added by the next setOwned. */
  forgetInterface(iface: string): void {
    const r = this.responders.get(iface);
    if (r === undefined) return;
    for (const o of [...this.owned.values()]) if (o.ifaces.has(iface)) this.withdraw(o.ip, iface);
    r.close();
    this.responders.delete(iface);
  }

  stop(): void {
    this.gaining?.timer?.cancel();
    this.gaining = undefined;
    this.summary = { gained: 0, withdrawn: 0 };
    this.garp.stop();
    for (const f of this.failed.values()) f.timer.cancel();
    this.failed.clear();
    this.wanted = new Map();
    for (const r of this.responders.values()) r.close();
    this.responders.clear();
    this.owned.clear();
    this.ifaceSets.clear();
    this.unannounced.clear();
  }

  private answer(ip: OwnedIp, iface: string): void {
    const r = this.responder(iface);
    if (r === undefined) return;
    r.add(ip);
    const entry = this.owned.get(ip.ip);
    if (entry === undefined) {
      this.unannounced.add(ip.ip);
      this.owned.set(ip.ip, { ip, ifaces: this.ifaceSet([iface]) });
    } else entry.ifaces = this.ifaceSet([...entry.ifaces, iface]);
    this.garp.start(garpKey(iface, ip.ip));
    this.log.debug({ ip: ip.ip, iface }, 'announcing');
  }

  private withdraw(ip: OwnedIp, iface: string): void {
    this.responders.get(iface)?.remove(ip);
    this.garp.cancel(garpKey(iface, ip.ip));
    const entry = this.owned.get(ip.ip);
    if (entry?.ifaces.has(iface) === true) {
      if (entry.ifaces.size > 1) entry.ifaces = this.ifaceSet([...entry.ifaces].filter((i) => i !== iface));
      else {
        this.owned.delete(ip.ip);
        this.unannounced.delete(ip.ip);
      }
    }
    this.log.debug({ ip: ip.ip, iface }, 'withdrawn');
  }

  private responder(name: string): InterfaceResponder | undefined {
    const existing = this.responders.get(name);
    if (existing !== undefined) return existing;
    const info = this.c.resolveInterface(name);
    if (info === undefined) {
      this.log.error({ iface: name }, 'cannot announce on an interface that does not exist');
      return undefined;
    }
    try {
      const r = new InterfaceResponder(info, this.c.openSocket(info), {
        clock: this.c.clock,
        stats: this.stats,
        logger: this.c.logger,
        ownedAnywhere: (key) => {
          // A few interfaces at most: no index of its own per IP.
          for (const other of this.responders.values()) if (other.ownsKey(key) !== undefined) return true;
          return false;
        },
        groups: this.c.groups,
        sourceMac: this.c.sourceMac === undefined ? undefined : (ip) => this.c.sourceMac?.(ip.ip, name),
        onConflict: (ip, iface, mac) => {
          for (const h of this.conflictHandlers) h(ip, iface, mac);
        },
      });
      this.responders.set(name, r);
      const was = this.failed.get(name);
      if (was !== undefined) {
        was.timer.cancel();
        this.failed.delete(name);
        this.log.info({ iface: name }, 'the interface opened: answering on it again');
      }
      return r;
    } catch (err) {
      this.socketFailed(name, err);
      return undefined;
    }
  }

  /**
   * Counts the failure, logs it once per failed state (not per retry), and retries on a timer
   * with back-off: 1 s, 2 s, 4 s ... 30 s.
   */
  private socketFailed(name: string, err: unknown): void {
    const reason = errorReason(err);
    this.socketFailures.set(reason, (this.socketFailures.get(reason) ?? 0) + 1);
    const was = this.failed.get(name);
    if (was === undefined || was.reason !== reason) this.log.warn({ iface: name, reason, err }, 'cannot open the interface for announcing: retrying');
    was?.timer.cancel();
    const delayMs = was === undefined ? SOCKET_RETRY_MS : Math.min(SOCKET_RETRY_MAX_MS, was.delayMs * 2);
    const timer = this.c.clock.setTimeout(() => {
      // Still failed (not opened meanwhile by another path): try again with what is wanted now.
      if (this.failed.get(name)?.timer !== timer) return;
      this.setOwned(this.wanted);
      // Nothing wanted there any more: keep the state so the next need retries at once.
      if (!this.responders.has(name) && this.failed.get(name)?.timer === timer) this.responder(name);
    }, delayMs);
    this.failed.set(name, { reason, delayMs, timer });
  }

  private sendGratuitous(key: string): void {
    const sep = key.indexOf('|');
    const iface = key.slice(0, sep);
    const o = this.owned.get(key.slice(sep + 1));
    if (o?.ifaces.has(iface) !== true) return;
    const sent = this.responders.get(iface)?.sendGratuitous(o.ip) === true;
    if (sent && this.unannounced.delete(o.ip.ip)) {
      for (const h of this.firstGratuitousHandlers) h(o.ip.ip, iface);
    }
  }
}

function garpKey(iface: string, ip: string): string {
  return `${iface}|${ip}`;
}

/** A bounded label for a failure: the errno code of a system call error, else 'error'. */
function errorReason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : 'error';
}
