import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Clock, Timer } from '../clock/clock.js';
import { VirtualClock } from '../clock/virtual-clock.js';
import { arpFrame, decodeArp } from '../packet/arp.js';
import { decodeEthernet, ETHERTYPE_ARP } from '../packet/ethernet.js';
import { BROADCAST_MAC, parseMac } from '../packet/mac.js';
import { MemoryLan } from '../../test/fakes/memory-lan.js';
import { Announcer, GAIN_SLICE } from './announcer.js';
import { DEFAULT_GARP_PACING } from './garp-schedule.js';
import { toOwnedIp } from './owned-ips.js';

const NODE_MAC = parseMac('02:00:00:00:00:01')!;
const CLIENT_MAC = parseMac('02:00:00:00:00:99')!;
const N = 10_000;
const vip = (i: number): string => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const many = (n: number, from = 0) => new Map(Array.from({ length: n }, (_, i) => [vip(from + i), new Set(['eth0'])]));

/** A VirtualClock that records how much each timer callback (one event-loop turn) did. */
class TurnClock implements Clock {
  readonly inner = new VirtualClock();
  readonly turns: number[] = [];
  constructor(private readonly work: () => number) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: () => void, ms: number): Timer {
    return this.inner.setTimeout(() => {
      const before = this.work();
      fn();
      this.turns.push(this.work() - before);
    }, ms);
  }
}

function setup(level: 'info' | 'debug' = 'info') {
  const lan = new MemoryLan();
  const lines: { msg: string; level: number }[] = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as { msg: string; level: number });
        done();
      },
    }),
  );
  let owner: Announcer | undefined;
  const clock = new TurnClock(() => owner?.current().size ?? 0);
  const a = new Announcer({
    clock,
    logger,
    resolveInterface: () => ({ name: 'eth0', ifindex: 2, mac: NODE_MAC }),
    openSocket: (i) => lan.socket(i.ifindex),
  });
  const client = lan.socket();
  const frames: Uint8Array[] = [];
  client.onFrame((f) => frames.push(f));
  const count = (): number => a.current().size;
  return { a, clock, client, frames, lines, count, watchTurns: () => (owner = a) };
}

function ask(client: ReturnType<typeof setup>['client'], target: string): void {
  client.send(arpFrame({ op: 1, senderMac: CLIENT_MAC, senderIp: toOwnedIp('192.0.2.99')!.bytes, targetMac: new Uint8Array(6), targetIp: toOwnedIp(target)!.bytes }, { dst: BROADCAST_MAC }));
}

function replies(frames: Uint8Array[], to: 'client' | 'broadcast'): number {
  let n = 0;
  for (const f of frames) {
    const e = decodeEthernet(f);
    if (!e.ok || e.value.etherType !== ETHERTYPE_ARP || !decodeArp(e.value.payload).ok) continue;
    const broadcast = e.value.dst.every((b) => b === 0xff);
    if ((to === 'broadcast') === broadcast) n++;
  }
  return n;
}

describe('Announcer with thousands of VIPs', () => {
  it(`applies a gain of ${N} VIPs in slices of ${GAIN_SLICE} per event-loop turn, and answers all of them once applied`, () => {
    const { a, clock, count, watchTurns } = setup();
    a.setOwned(many(N));
    expect(count()).toBe(GAIN_SLICE);
    expect(a.pendingGains).toBe(true);
    watchTurns();
    clock.inner.advance(0);
    expect(count()).toBe(N);
    expect(a.pendingGains).toBe(false);
    const gainTurns = clock.turns.filter((n) => n > 0);
    expect(gainTurns.length).toBe(N / GAIN_SLICE - 1);
    expect(Math.max(...gainTurns)).toBeLessThanOrEqual(GAIN_SLICE);
  });

  it('sends no more gratuitous frames at once than the pacing burst, and the first announcement of every VIP within 2 s', () => {
    const { a, clock, frames } = setup();
    a.setOwned(many(N));
    clock.inner.advance(0);
    // IPv4: two frames (request and reply form) per announcement.
    expect(frames.length).toBeLessThanOrEqual(2 * DEFAULT_GARP_PACING.burst);
    clock.inner.advance(2_000);
    expect(a.garpStats().maxFirstDelayMs).toBeLessThanOrEqual(2_000);
    expect(a.garpStats().sent).toBeGreaterThanOrEqual(N);
    expect(frames.length).toBeLessThanOrEqual(2 * (DEFAULT_GARP_PACING.burst + 2 * DEFAULT_GARP_PACING.perSecond));
  });

  it('withdraws at once, also gains of an earlier call still being applied, and never announces them afterwards', () => {
    const { a, clock, client, frames } = setup();
    a.setOwned(many(N));
    expect(a.current().size).toBe(GAIN_SLICE);
    // The node lost everything before its gains were applied.
    a.setOwned(new Map());
    expect(a.current().size).toBe(0);
    frames.length = 0;
    clock.inner.advance(10_000);
    expect(a.current().size).toBe(0);
    expect(replies(frames, 'broadcast')).toBe(0);
    ask(client, vip(0));
    ask(client, vip(N - 1));
    expect(replies(frames, 'client')).toBe(0);
  });

  it('stops answering a lost VIP at once while the gains of the same reconcile are still paced', () => {
    const { a, clock, client, frames } = setup();
    a.setOwned(many(N));
    clock.inner.advance(0);
    // Lost the first 100, gained 5 000 more: the loss is immediate, the gains are sliced.
    const next = many(N + 5_000);
    for (let i = 0; i < 100; i++) next.delete(vip(i));
    a.setOwned(next);
    frames.length = 0;
    ask(client, vip(0));
    expect(replies(frames, 'client')).toBe(0);
    ask(client, vip(100));
    expect(replies(frames, 'client')).toBe(1);
    clock.inner.advance(0);
    ask(client, vip(N + 4_999));
    expect(replies(frames, 'client')).toBe(2);
  });

  it('logs one summary line per reconcile at info, independent of the number of VIPs; per-IP lines only at debug', () => {
    const { a, clock, lines } = setup();
    a.setOwned(many(N));
    clock.inner.advance(0);
    const next = many(N);
    for (let i = 0; i < 10; i++) next.delete(vip(i));
    a.setOwned(next);
    clock.inner.advance(0);
    expect(lines.map((l) => l.msg)).toEqual([`announcing ${N} VIPs (+${N} −0)`, `announcing ${N - 10} VIPs (+0 −10)`]);
    const debug = setup('debug');
    debug.a.setOwned(many(20));
    debug.clock.inner.advance(0);
    expect(debug.lines.filter((l) => l.msg === 'announcing').length).toBe(20);
  });

  it('withdrawing everything at once also leaves every IPv6 solicited-node group, at the link and the IP level', () => {
    const lan = new MemoryLan();
    const joined = new Set<string>();
    let socket: ReturnType<MemoryLan['socket']> | undefined;
    const a = new Announcer({
      clock: new VirtualClock(),
      logger: pino({ level: 'silent' }),
      resolveInterface: () => ({ name: 'eth0', ifindex: 2, mac: NODE_MAC }),
      openSocket: (i) => (socket = lan.socket(i.ifindex)),
      groups: { join: (_i, g) => joined.add(g), leave: (_i, g) => joined.delete(g) },
    });
    a.setOwned(new Map(Array.from({ length: 300 }, (_, i) => [`2001:db8::${(i + 1).toString(16)}`, new Set(['eth0'])])));
    expect(joined.size).toBe(300);
    expect(socket?.memberships.size).toBe(300);
    a.setOwned(new Map());
    expect(joined.size).toBe(0);
    expect(socket?.memberships.size).toBe(0);
    expect(a.current().size).toBe(0);
  });

  it('counts every conflict but logs one line per interface per 10 s when another host claims thousands of its VIPs', () => {
    const { a, clock, client, lines } = setup();
    a.setOwned(many(2_000));
    clock.inner.advance(0);
    const other = parseMac('02:00:00:00:00:42')!;
    for (let i = 0; i < 2_000; i++) {
      const ip = toOwnedIp(vip(i))!.bytes;
      client.send(arpFrame({ op: 2, senderMac: other, senderIp: ip, targetMac: BROADCAST_MAC, targetIp: ip }, { dst: BROADCAST_MAC, src: other }));
    }
    let conflicts = 0;
    for (const c of a.stats.perIp.values()) conflicts += c.conflicts;
    expect(conflicts).toBe(2_000);
    expect(lines.filter((l) => l.msg === 'another host claims an IP this node announces')).toHaveLength(1);
  });

  it('announces a failover gained during a big start-up next, not behind the start-up burst', () => {
    const { a, clock, frames } = setup();
    a.setOwned(many(N));
    clock.inner.advance(100);
    frames.length = 0;
    const next = many(N);
    next.set('203.0.113.7', new Set(['eth0']));
    a.setOwned(next);
    clock.inner.advance(20);
    const announced = frames.some((f) => {
      const e = decodeEthernet(f);
      const p = e.ok ? decodeArp(e.value.payload) : undefined;
      return p?.ok === true && p.value.senderIp.join('.') === '203.0.113.7';
    });
    expect(announced).toBe(true);
  });
});
