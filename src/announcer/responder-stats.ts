/**
 * Why a frame that reached a responder got no answer. Enumerated, so metrics have a bounded
 * label set. Codec reasons (malformed frames) come from src/packet/drop-reason.ts and are
 * counted under `malformed:<reason>`.
 */
export type ResponderDropReason =
  /** An ARP reply or other operation: we answer requests only. */
  | 'not-request'
  /** Ethernet destination neither broadcast nor this interface's MAC (ARP). */
  | 'wrong-destination'
  /** The target IP is not announced by this node at all. */
  | 'not-ours'
  /** The target IP is announced by this node, but on another interface. */
  | 'wrong-interface'
  /** An ICMPv6 message other than a Neighbor Solicitation. */
  | 'not-solicitation'
  /** A frame we sent ourselves, looped back. */
  | 'own-frame'
  /** Sending the answer failed (see the log). */
  | 'send-failed';

export interface IpCounters {
  requestsReceived: number;
  responsesSent: number;
  gratuitousSent: number;
  /** ARP/NA frames from another MAC claiming this IP while we announce it. */
  conflicts: number;
}

/** Counters of all responders of one announcer: per IP, and drops per reason. */
export class ResponderStats {
  readonly perIp = new Map<string, IpCounters>();
  readonly drops = new Map<string, number>();
  /** Frames the kernel refused to send, by errno (ENOBUFS: a transmit queue or socket buffer was full). */
  readonly sendFailures = new Map<string, number>();

  sendFailed(reason: string): void {
    this.sendFailures.set(reason, (this.sendFailures.get(reason) ?? 0) + 1);
  }

  ip(ip: string): IpCounters {
    let c = this.perIp.get(ip);
    if (c === undefined) {
      c = { requestsReceived: 0, responsesSent: 0, gratuitousSent: 0, conflicts: 0 };
      this.perIp.set(ip, c);
    }
    return c;
  }

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  totalDrops(): number {
    let n = 0;
    for (const v of this.drops.values()) n += v;
    return n;
  }

  toJSON(): { perIp: Record<string, IpCounters>; drops: Record<string, number> } {
    return { perIp: Object.fromEntries(this.perIp), drops: Object.fromEntries(this.drops) };
  }
}
