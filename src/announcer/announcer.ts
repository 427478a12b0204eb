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
      });
      this.responders.set(name, r);
      return r;
    } catch (err) {
      this.log.error({ iface: name, err }, 'cannot open the interface for announcing');
      return undefined;
    }
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
