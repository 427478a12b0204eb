import { describe, expect, it } from 'vitest';
import type { ReplyLine } from '../../../bench/lib/vip-watch.js';
import { cachedMac, doubleAnswers, failoverOutage, firstAnnouncement, firstAnswer, ownerChanges } from '../../../bench/lib/vips-trace.js';

const A = '02:00:00:00:00:0a';
const B = '02:00:00:00:00:0b';
const reply = (at: number, mac: string, garp = false): ReplyLine => ({ e: 'reply', ip: '198.18.0.1', mac, at, garp });
const probes = Array.from({ length: 50 }, (_, i) => i * 20);

describe('what the client of bench:vips saw', () => {
  it('counts every change of the MAC a client learns, from replies and gratuitous ARP, in the window', () => {
    const t = { probes, replies: [reply(1, A), reply(21, A), reply(30, B, true), reply(41, A), reply(61, A)] };
    expect(ownerChanges(t, 0, 1000)).toBe(2);
    expect(ownerChanges(t, 35, 1000)).toBe(0);
    expect(cachedMac(t, 35)).toBe(B);
    expect(firstAnswer(t, 0)).toBe(1);
  });

  it('measures a failover from the last probe the dead node answered to the first another answered, less one interval', () => {
    // A answers the probes of 0..200; B the probe of 340 (reply at 342).
    const replies = [...probes.filter((p) => p <= 200).map((p) => reply(p + 1, A)), reply(330, B, true), reply(342, B)];
    const t = { probes, replies };
    expect(failoverOutage(t, 210, A, 20)).toBe(340 - 200 - 20);
    expect(firstAnnouncement(t, 210, A)).toBe(120);
    expect(failoverOutage({ probes, replies: replies.slice(0, -2) }, 210, A, 20)).toBeNaN();
  });

  it('counts probes answered by two nodes', () => {
    const t = { probes, replies: [reply(1, A), reply(2, B), reply(21, A)] };
    expect(doubleAnswers(t, 0, 1000)).toBe(1);
  });
});
