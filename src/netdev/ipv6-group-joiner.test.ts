import type { Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../observability/logger.js';
import { Ipv6GroupJoiner } from './ipv6-group-joiner.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A UDP socket whose joins fail `failures` times (an interface without IPv6 yet), then work. */
class FlakySocket extends EventEmitter {
  joins = 0;
  joined = new Set<string>();
  constructor(private failures: number) {
    super();
  }
  bind(_port: number, _addr: string, cb: () => void): void {
    cb();
  }
  addMembership(group: string, iface: string): void {
    this.joins++;
    if (this.failures-- > 0) throw Object.assign(new Error('addMembership EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' });
    this.joined.add(`${group}${iface}`);
  }
  dropMembership(group: string, iface: string): void {
    this.joined.delete(`${group}${iface}`);
  }
  close(): void {}
}

describe('IPv6 group joiner', () => {
  it('retries a failed join with back-off until it works, and counts the failures by reason', async () => {
    const sock = new FlakySocket(3);
    const j = new Ipv6GroupJoiner(silentLogger(), { retry: { firstMs: 10, maxMs: 40 }, createSocket: () => sock as unknown as Socket });
    try {
      j.join('eth0', 'ff02::1:ff00:1');
      await sleep(10);
      expect(j.failing).toBe(1);
      for (let i = 0; i < 200 && j.failing > 0; i++) await sleep(10);
      expect({ joins: sock.joins, joined: [...sock.joined] }).toEqual({ joins: 4, joined: ['ff02::1:ff00:1::%eth0'] });
      expect(sock.joins).toBe(4);
      expect(j.failures.get('EADDRNOTAVAIL')).toBe(3);
      expect(j.failing).toBe(0);
    } finally {
      j.close();
    }
  });

  it('stops retrying when the group is no longer wanted', async () => {
    const sock = new FlakySocket(1000);
    const j = new Ipv6GroupJoiner(silentLogger(), { retry: { firstMs: 10, maxMs: 40 }, createSocket: () => sock as unknown as Socket });
    try {
      j.join('eth0', 'ff02::1:ff00:2');
      await sleep(60);
      j.leave('eth0', 'ff02::1:ff00:2');
      const tries = sock.joins;
      expect(tries).toBeGreaterThanOrEqual(2);
      expect(j.failing).toBe(0);
      await sleep(100);
      expect(sock.joins).toBe(tries);
    } finally {
      j.close();
    }
  });
});
