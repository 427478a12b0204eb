import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../observability/logger.js';

/**
 * Joins IPv6 multicast groups at the IP level (IPV6_JOIN_GROUP on a UDP socket), so that the
 * kernel sends MLD reports for them. A switch with MLD snooping forwards a solicited-node NS
 * only to ports that reported the group; a link-layer membership on the raw socket alone
 * (PACKET_ADD_MEMBERSHIP) sends no report, and such a switch would never deliver the NS.
 * Joins are refcounted per (interface, group). A failed join (no IPv6 on the interface yet, an
 * interface being re-created) is retried with back-off while the group is wanted, counted by
 * reason and logged at warn once per failed state: the raw socket's own membership still
 * receives what reaches the port meanwhile.
 */
export class Ipv6GroupJoiner {
  private socket: Socket | undefined;
  private ready: Promise<Socket> | undefined;
  private readonly counts = new Map<string, number>();
  private readonly retries = new Map<string, { delayMs: number; timer: NodeJS.Timeout }>();
  /** Failed joins by reason (errno code), for metrics. */
  readonly failures = new Map<string, number>();

  private readonly retry: { firstMs: number; maxMs: number };
  private readonly makeSocket: () => Socket;

  constructor(
    private readonly log: Logger,
    opts: { retry?: { firstMs: number; maxMs: number }; createSocket?: () => Socket } = {},
  ) {
    this.retry = opts.retry ?? { firstMs: 1_000, maxMs: 30_000 };
    this.makeSocket = opts.createSocket ?? (() => createSocket({ type: 'udp6', reuseAddr: true }));
  }

  /** Groups wanted but not joined now (retrying). */
  get failing(): number {
    return this.retries.size;
  }

  join(iface: string, group: string): void {
    const key = `${group}%${iface}`;
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    if (n === 0) this.apply(iface, group, true);
  }

  leave(iface: string, group: string): void {
    const key = `${group}%${iface}`;
    const n = this.counts.get(key) ?? 0;
    if (n <= 1) {
      this.counts.delete(key);
      const r = this.retries.get(key);
      if (r !== undefined) {
        // Never joined: nothing to leave.
        clearTimeout(r.timer);
        this.retries.delete(key);
      } else if (n === 1) this.apply(iface, group, false);
    } else this.counts.set(key, n - 1);
  }

  close(): void {
    for (const r of this.retries.values()) clearTimeout(r.timer);
    this.retries.clear();
    this.counts.clear();
    this.socket?.close();
    this.socket = undefined;
    this.ready = undefined;
  }

  private open(): Promise<Socket> {
    if (this.ready === undefined) {
      const s = this.makeSocket();
      s.on('error', (err) => this.log.debug({ err: err.message }, 'multicast join socket error'));
      this.socket = s;
      this.ready = new Promise((resolve) => s.bind(0, '::', () => resolve(s)));
    }
    return this.ready;
  }

  private apply(iface: string, group: string, join: boolean): void {
    void this.open().then((s) => {
      if (this.socket !== s) return;
      const key = `${group}%${iface}`;
      try {
        if (join) s.addMembership(group, `::%${iface}`);
        else s.dropMembership(group, `::%${iface}`);
        const r = this.retries.get(key);
        if (join && r !== undefined) {
          this.retries.delete(key);
          this.log.info({ iface, group }, 'IPv6 multicast group joined after retrying');
        }
      } catch (err) {
        if (!join) {
          this.log.debug({ iface, group, err: (err as Error).message }, 'IPv6 multicast leave failed');
          return;
        }
        this.joinFailed(iface, group, err);
      }
    });
  }

  private joinFailed(iface: string, group: string, err: unknown): void {
    const key = `${group}%${iface}`;
    const code = (err as { code?: unknown }).code;
    const reason = typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : 'error';
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
    const was = this.retries.get(key);
    if (was === undefined) this.log.warn({ iface, group, reason }, 'IPv6 multicast join failed (MLD snooping switches may not forward NS): retrying');
    const delayMs = was === undefined ? this.retry.firstMs : Math.min(this.retry.maxMs, was.delayMs * 2);
    const timer = setTimeout(() => {
      if (this.retries.get(key)?.timer !== timer || !this.counts.has(key)) return;
      this.apply(iface, group, true);
    }, delayMs);
    timer.unref();
    this.retries.set(key, { delayMs, timer });
  }
}
