import type { Clock } from '../clock/clock.js';
import type { Logger } from '../observability/logger.js';
import type { FrameSocket } from './frame-socket.js';
import { DEFAULT_GARP_TIMING, GarpScheduler, type GarpTiming } from './garp-schedule.js';
import { InterfaceResponder, type InterfaceInfo, type Ipv6Groups } from './interface-responder.js';
import { ipKey, toOwnedIp, type OwnedIp } from './owned-ips.js';
import { ResponderStats } from './responder-stats.js';

/** IP (any text form) -> names of the interfaces it is announced on. */
export type OwnedSet = ReadonlyMap<string, ReadonlySet<string>>;

export interface AnnouncerComponents {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Current facts about an interface by name; undefined if it does not exist. */
  readonly resolveInterface: (name: string) => InterfaceInfo | undefined;
  /** Opens the frame socket of an interface (AF_PACKET in production). May throw. */
  readonly openSocket: (iface: InterfaceInfo) => FrameSocket;
  readonly timing?: GarpTiming;
  readonly stats?: ResponderStats;
  /** IP-level IPv6 multicast joins (MLD reports); optional. */
  readonly groups?: Ipv6Groups;
  /** The virtual MAC an IP is answered and announced with on an interface; undefined: the interface's MAC. */
  readonly sourceMac?: (ip: string, iface: string) => Uint8Array | undefined;
}

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
  /** ipKey -> number of interfaces it is owned on, for the wrong-interface drop reason. */
  private readonly anywhere = new Map<number | string, number>();
  private readonly owned = new Map<string, { ip: OwnedIp; ifaces: Set<string> }>();
  private readonly garp: GarpScheduler<string>;
  private readonly log: Logger;
  /** The last owned set asked for: what a retried interface must answer once it opens. */
  private wanted: OwnedSet = new Map();
  private readonly failed = new Map<string, FailedInterface>();
  private readonly conflictHandlers = new Set<(ip: string, iface: string, mac: Uint8Array) => void>();
  /** Socket open failures by reason (errno code), for metrics. */
  readonly socketFailures = new Map<string, number>();

  constructor(private readonly c: AnnouncerComponents) {
    this.stats = c.stats ?? new ResponderStats();
    this.log = c.logger.child({ component: 'announcer' });
    this.garp = new GarpScheduler(c.clock, c.timing ?? DEFAULT_GARP_TIMING, (k) => this.sendGratuitous(k));
  }

  /** Opens responders ahead of need, so a failover does not wait for a socket. */
  prepare(ifaces: Iterable<string>): void {
    for (const name of ifaces) this.responder(name);
  }

  /** The IPs owned now, each with its interfaces. */
  current(): OwnedSet {
    return new Map([...this.owned].map(([ip, o]) => [ip, o.ifaces]));
  }

  /**
   * Makes the owned set `next`. Lost IPs stop being answered before this returns; gained ones
   * are answered and announced at once, then on the GARP schedule.
   */
  setOwned(next: OwnedSet): void {
    this.wanted = next;
    const want = new Map<string, { ip: OwnedIp; ifaces: Set<string> }>();
    for (const [text, ifaces] of next) {
      const ip = toOwnedIp(text);
      if (ip === undefined) {
        this.log.error({ ip: text }, 'ignoring an owned entry that is not an IP');
        continue;
      }
      const entry = want.get(ip.ip) ?? { ip, ifaces: new Set<string>() };
      for (const i of ifaces) entry.ifaces.add(i);
      want.set(ip.ip, entry);
    }
    // Withdraw first: stopping an answer is never delayed by the work of starting another.
    for (const [text, o] of this.owned) {
      const keep = want.get(text)?.ifaces;
      for (const iface of [...o.ifaces]) if (!keep?.has(iface)) this.withdraw(o.ip, iface);
    }
    for (const [text, o] of want) {
      for (const iface of o.ifaces) if (!this.owned.get(text)?.ifaces.has(iface)) this.answer(o.ip, iface);
    }
  }

  /**
   * IPs asked for that are not answered on every interface asked for (a socket that failed to
   * open, an interface that is gone): what makes this node unhealthy.
   */
  unanswered(): { ip: string; iface: string; reason: string }[] {
    const out: { ip: string; iface: string; reason: string }[] = [];
    for (const [text, ifaces] of this.wanted) {
      const ip = toOwnedIp(text);
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
    for (const o of this.owned.values()) if (o.ifaces.has(iface)) this.garp.start(garpKey(iface, o.ip.ip));
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
    this.garp.stop();
    for (const f of this.failed.values()) f.timer.cancel();
    this.failed.clear();
    this.wanted = new Map();
    for (const r of this.responders.values()) r.close();
    this.responders.clear();
    this.owned.clear();
    this.anywhere.clear();
  }

  private answer(ip: OwnedIp, iface: string): void {
    const r = this.responder(iface);
    if (r === undefined) return;
    r.add(ip);
    const key = ipKey(ip.bytes);
    this.anywhere.set(key, (this.anywhere.get(key) ?? 0) + 1);
    const entry = this.owned.get(ip.ip) ?? { ip, ifaces: new Set<string>() };
    entry.ifaces.add(iface);
    this.owned.set(ip.ip, entry);
    this.garp.start(garpKey(iface, ip.ip));
    this.log.info({ ip: ip.ip, iface }, 'announcing');
  }

  private withdraw(ip: OwnedIp, iface: string): void {
    this.responders.get(iface)?.remove(ip);
    this.garp.cancel(garpKey(iface, ip.ip));
    this.decAnywhere(ipKey(ip.bytes));
    const entry = this.owned.get(ip.ip);
    entry?.ifaces.delete(iface);
    if (entry?.ifaces.size === 0) this.owned.delete(ip.ip);
    this.log.info({ ip: ip.ip, iface }, 'withdrawn');
  }

  private decAnywhere(key: number | string): void {
    const n = (this.anywhere.get(key) ?? 0) - 1;
    if (n <= 0) this.anywhere.delete(key);
    else this.anywhere.set(key, n);
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
        ownedAnywhere: (key) => this.anywhere.has(key),
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
    if (o?.ifaces.has(iface)) this.responders.get(iface)?.sendGratuitous(o.ip);
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
