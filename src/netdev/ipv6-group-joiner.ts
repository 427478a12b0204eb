import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../observability/logger.js';

/**
 * Joins IPv6 multicast groups at the IP level (IPV6_JOIN_GROUP on a UDP socket), so that the
 * kernel sends MLD reports for them. A switch with MLD snooping forwards a solicited-node NS
 * only to ports that reported the group; a link-layer membership on the raw socket alone
 * (PACKET_ADD_MEMBERSHIP) sends no report, and such a switch would never deliver the NS.
 * Joins are refcounted per (interface, group). Failures (no IPv6 on the interface) are logged,
 * not thrown: the raw socket's own membership still receives what reaches the port.
 */
export class Ipv6GroupJoiner {
  private socket: Socket | undefined;
  private ready: Promise<Socket> | undefined;
  private readonly counts = new Map<string, number>();

  constructor(private readonly log: Logger) {}

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
      if (n === 1) this.apply(iface, group, false);
    } else this.counts.set(key, n - 1);
  }

  close(): void {
    this.counts.clear();
    this.socket?.close();
    this.socket = undefined;
    this.ready = undefined;
  }

  private open(): Promise<Socket> {
    if (this.ready === undefined) {
      const s = createSocket({ type: 'udp6', reuseAddr: true });
      s.on('error', (err) => this.log.debug({ err: err.message }, 'multicast join socket error'));
      this.socket = s;
      this.ready = new Promise((resolve) => s.bind(0, '::', () => resolve(s)));
    }
    return this.ready;
  }

  private apply(iface: string, group: string, join: boolean): void {
    void this.open().then((s) => {
      if (this.socket !== s) return;
      try {
        if (join) s.addMembership(group, `::%${iface}`);
        else s.dropMembership(group, `::%${iface}`);
      } catch (err) {
        this.log.debug({ iface, group, err: (err as Error).message }, join ? 'IPv6 multicast join failed' : 'IPv6 multicast leave failed');
      }
    });
  }
}
