import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadNative, type NativeDatagramSocket } from '../netdev/native.js';
import { membershipKey, type MembershipKey } from './membership-key.js';
import { decodeMessage, encodeMessage, type BeatMessage, type Message } from './wire.js';

// The addon's beat engine (DatagramSocket.startEngine and the engine* methods): a thread per
// socket that drains it, accepts beats, sends beats and watches for silence at every tick, and
// wakes JavaScript only for datagrams it queued or peers gone silent. Loopback only.
// Timing bounds are generous: the machine is small and shared.

const native = loadNative();
const KEY = membershipKey('k'.repeat(32));
const KEYMAP = new Map<number, MembershipKey>([[KEY.id, KEY]]);
const utf8 = new TextEncoder();
const PERIOD = 10;
const ADDON = fileURLToPath(new URL('../../native/afpacket/build/Release/afpacket.node', import.meta.url));

type Engine = NativeDatagramSocket & Required<Pick<NativeDatagramSocket, 'setBeats' | 'sendBeat' | 'startEngine' | 'stopEngine' | 'engineSelf' | 'engineTargets' | 'engineSenders' | 'engineWatch' | 'engineKick' | 'engineArrivals' | 'engineNextSeq' | 'engineSetSeq' | 'engineStats'>>;

const open: NativeDatagramSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function socket(host = '127.0.0.1'): NativeDatagramSocket {
  const s = new native.DatagramSocket(4, host, 0, 1 << 20);
  open.push(s);
  return s;
}

function engineSocket(): Engine {
  const s = socket();
  if (s.startEngine === undefined || s.engineStats === undefined) throw new Error('this addon build has no beat engine (rebuild: npm run install)');
  return s as Engine;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** Threads of this process named l2vip-beats (prctl PR_SET_NAME). */
function engineThreads(): number {
  let n = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'l2vip-beats') n++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return n;
}

interface Peer {
  readonly name: string;
  readonly id: number;
  readonly incarnation: number;
  readonly s: Engine;
  readonly records: Float64Array;
  wakes: number;
  /** Called at each wake after counting it. */
  onWake: () => void;
  start(periodMs?: number, jitter?: number): void;
}

/**
 * `names.length` engine sockets whose setBeats configs all list every name as a sender (so slot
 * i is peer i), each registering the others' incarnations, targeting every other peer, gate
 * open with a long watchdog, nothing watched. Not started.
 */
function mesh(names: string[]): Peer[] {
  const peers: Peer[] = names.map((name, i) => {
    const s = engineSocket();
    const records = new Float64Array(1 + 5 * 16);
    const p: Peer = {
      name,
      id: 1000 + i,
      incarnation: 100 + i,
      s,
      records,
      wakes: 0,
      onWake: () => {},
      start(periodMs = PERIOD, jitter = 0.1) {
        s.startEngine(periodMs, jitter, () => {
          p.wakes++;
          p.onWake();
        });
      },
    };
    return p;
  });
  for (const p of peers) {
    p.s.setBeats({
      self: utf8.encode(p.name),
      selfId: p.id,
      keys: [{ id: KEY.id, secret: KEY.secret }],
      senders: peers.map((q) => ({ name: utf8.encode(q.name), host: '127.0.0.1' })),
      maxClockSkewMs: 60_000,
      records: p.records,
    });
    p.s.engineSelf(p.incarnation, KEY.id);
    p.s.engineSenders(new Float64Array(peers.map((q) => (q === p ? -1 : q.incarnation))), new Float64Array(peers.length));
    p.s.engineTargets(peers.flatMap((q, slot) => (q === p ? [] : [{ target: p.s.target('127.0.0.1', q.s.port), receiverId: q.id, slot }])));
    p.s.engineKick(true, 60_000);
  }
  return peers;
}

/** engineArrivals as [slot, ageUs] pairs (the incarnation and high-water of each: arrivalsFull). */
function arrivals(s: Engine): [number, number][] {
  return arrivalsFull(s).map(([slot, age]) => [slot, age]);
}

function arrivalsFull(s: Engine): [number, number, number, number][] {
  const out = new Float64Array(4 * 8);
  const n = s.engineArrivals(out);
  const got: [number, number, number, number][] = [];
  for (let i = 0; i < n; i++) got.push([out[4 * i]!, out[4 * i + 1]!, out[4 * i + 2]!, out[4 * i + 3]!]);
  return got;
}

function beat(sender: string, receiver: number, incarnation: number, seq: number, timestamp = Date.now()): Buffer {
  const m: BeatMessage = { type: 'beat', sender, receiver, incarnation, seq, timestamp };
  return Buffer.from(encodeMessage(m, KEY));
}

function decode(bytes: Uint8Array): Message {
  const d = decodeMessage(bytes, KEYMAP);
  if (!d.ok) throw new Error(`not a message: ${d.reason}`);
  return d.message;
}

/** Every datagram receive() returns until it returns null. */
function drain(s: NativeDatagramSocket): { data: Buffer; host: string; port: number; ageUs: number }[] {
  const got: { data: Buffer; host: string; port: number; ageUs: number }[] = [];
  for (;;) {
    const r = s.receive(64);
    if (r === null) return got;
    expect(r.error).toBeUndefined();
    for (let i = 0; i < r.data.length; i++) got.push({ data: r.data[i]!, host: r.hosts[i]!, port: r.ports[i]!, ageUs: r.agesUs[i]! });
  }
}

describe('DatagramSocket beat engine', () => {
  it('engines beat each other at their period; JS learns of arrivals by engineArrivals and is not woken', async () => {
    const peers = mesh(['a', 'b', 'c']);
    const t0 = performance.now();
    for (const p of peers) p.start();
    await sleep(300);
    const elapsed = performance.now() - t0;
    const expected = elapsed / PERIOD; // beats per target
    for (const [i, p] of peers.entries()) {
      const stats = p.s.engineStats();
      // Two targets each.
      expect(stats.beatsSent / 2, `${p.name}: ${JSON.stringify(stats)}`).toBeGreaterThan(0.6 * expected);
      expect(stats.beatsSent / 2).toBeLessThan(1.4 * expected);
      expect(stats.ticks).toBeGreaterThan(0.6 * expected);
      expect(stats.sendErrors).toBe(0);
      expect(stats.beatsAccepted).toBeGreaterThan(2 * 0.5 * expected);
      expect([stats.queued, stats.queueDrops, stats.staleBeats]).toEqual([0, 0, 0]);
      const got = arrivals(p.s);
      expect(got.map(([slot]) => slot)).toEqual([0, 1, 2].filter((slot) => slot !== i));
      for (const [, ageUs] of got) {
        expect(ageUs).toBeGreaterThanOrEqual(0);
        expect(ageUs).toBeLessThan(100_000);
      }
      // Reported once: nothing new since.
      expect(arrivals(p.s).length).toBeLessThanOrEqual(2);
      expect(p.wakes).toBeLessThan(5);
      expect(stats.wakes).toBeLessThan(5);
    }
    // receive() while the engine runs: nothing queued, and records[0] = 0.
    peers[0]!.records[0] = 9;
    expect(peers[0]!.s.receive(16)).toBeNull();
    expect(peers[0]!.records[0]).toBe(0);
  });

  it('reports at most out.length / 4 slots per engineArrivals call, each with its incarnation and high-water; the rest wait for the next', async () => {
    const peers = mesh(['a', 'b', 'c']);
    for (const p of peers) p.start();
    await sleep(100);
    for (const p of peers) p.s.engineKick(false, 60_000);
    await sleep(50);
    const out = new Float64Array(7); // room for one record
    const a = peers[0]!.s;
    expect(a.engineArrivals(out)).toBe(1);
    expect(out[0]).toBe(1);
    expect(out[3]).toBeGreaterThan(0); // the high-water: beats were accepted
    expect(out[2]).toBeGreaterThanOrEqual(0); // the registered incarnation
    expect(a.engineArrivals(out)).toBe(1);
    expect(out[0]).toBe(2);
    expect(a.engineArrivals(out)).toBe(0);
    expect(a.engineArrivals(new Float64Array(1))).toBe(0);
  });

  it('sends beats exactly as wire.ts decodes them, numbered per slot; engineNextSeq, engineSetSeq and a new incarnation share that numbering', async () => {
    const [a] = mesh(['a']);
    if (a === undefined) throw new Error('unreachable');
    const capture = socket(); // no setBeats: every datagram comes back whole
    a.s.setBeats({ self: utf8.encode('a'), selfId: 1, keys: [{ id: KEY.id, secret: KEY.secret }], senders: [{ name: utf8.encode('a'), host: null }, { name: utf8.encode('b'), host: null }], maxClockSkewMs: null, records: a.records });
    a.s.engineTargets([{ target: a.s.target('127.0.0.1', capture.port), receiverId: 77, slot: 1 }]);
    a.start();
    await sleep(100);
    a.s.engineKick(false, 60_000);
    await sleep(30);
    const first = drain(capture).map((d) => decode(d.data));
    expect(first.length).toBeGreaterThan(3);
    const now = Date.now();
    for (const [i, m] of first.entries()) {
      expect(m).toMatchObject({ type: 'beat', sender: 'a', receiver: 77, incarnation: a.incarnation, seq: i + 1 });
      expect(Math.abs(m.timestamp - now)).toBeLessThan(5_000);
    }
    // JS numbers its own message from the same sequence; the engine goes on after it.
    expect(a.s.engineNextSeq(1)).toBe(first.length + 1);
    a.s.engineKick(true, 60_000);
    await waitFor('a beat', () => a.s.engineStats().beatsSent > first.length + 1);
    a.s.engineKick(false, 60_000);
    await sleep(30);
    const second = drain(capture).map((d) => decode(d.data));
    expect(second.map((m) => m.seq)).toEqual(second.map((_, i) => first.length + 2 + i));
    // engineSetSeq: the next beat carries seq + 1.
    a.s.engineSetSeq(1, 5000);
    const sentAt5000 = a.s.engineStats().beatsSent;
    a.s.engineKick(true, 60_000);
    await waitFor('a beat', () => a.s.engineStats().beatsSent > sentAt5000);
    a.s.engineKick(false, 60_000);
    await sleep(30);
    drain(capture);
    const high = a.s.engineNextSeq(1);
    expect(high).toBeGreaterThan(5001);
    // The same incarnation again keeps the counters; a new one restarts them at 0.
    a.s.engineSelf(a.incarnation, KEY.id);
    expect(a.s.engineNextSeq(1)).toBe(high + 1);
    a.s.engineSelf(a.incarnation + 1, KEY.id);
    const sentBefore = a.s.engineStats().beatsSent;
    a.s.engineKick(true, 60_000);
    await waitFor('a beat', () => a.s.engineStats().beatsSent > sentBefore);
    a.s.engineKick(false, 60_000);
    await sleep(30);
    const third = drain(capture).map((d) => decode(d.data));
    expect(third.length).toBeGreaterThan(0);
    expect(third[0]).toMatchObject({ incarnation: a.incarnation + 1, seq: 1 });
    // A key id the config does not hold: nothing is sent, each counted as a send error.
    a.s.engineSelf(a.incarnation + 1, KEY.id + 1 === 2 ** 32 ? 0 : KEY.id + 1);
    const before = a.s.engineStats();
    a.s.engineKick(true, 60_000);
    await waitFor('a send error', () => a.s.engineStats().sendErrors > before.sendErrors);
    const after = a.s.engineStats();
    expect(after.beatsSent).toBe(before.beatsSent);
    expect(after.sendErrors).toBeGreaterThan(before.sendErrors);
    expect(drain(capture)).toEqual([]);
  });

  it('engineSelf resets the counters only when the incarnation changes from an earlier call', () => {
    const s = engineSocket();
    s.setBeats({ self: utf8.encode('a'), selfId: 1, keys: [], senders: [{ name: utf8.encode('b'), host: null }], maxClockSkewMs: null, records: new Float64Array(1) });
    s.engineSetSeq(0, 41);
    s.engineSelf(7, 1); // the first call: counters kept
    expect(s.engineNextSeq(0)).toBe(42);
    s.engineSelf(7, 2); // same incarnation, another key
    expect(s.engineNextSeq(0)).toBe(43);
    s.engineSelf(8, 2);
    expect(s.engineNextSeq(0)).toBe(1);
  });

  it('queues a datagram that is not a beat and wakes JS for it within a few periods; receive() returns it whole', async () => {
    const [a] = mesh(['a', 'b']);
    if (a === undefined) throw new Error('unreachable');
    a.start();
    await sleep(50);
    const wakesBefore = a.wakes;
    const from = socket();
    const to = from.target('127.0.0.1', a.s.port);
    const heartbeat = Buffer.from(
      encodeMessage({ type: 'heartbeat', sender: 'b', receiver: a.id, incarnation: 101, seq: 1, timestamp: Date.now(), metaVersion: 0, ages: [], entries: [], blobs: [] }, KEY),
    );
    const garbage = Buffer.from('not a beat at all');
    for (const bytes of [heartbeat, garbage]) {
      const woken = new Promise<number>((resolve) => {
        a.onWake = () => resolve(performance.now());
      });
      const sentAt = performance.now();
      expect(from.send(to, bytes)).toBe(0);
      const wokeAt = await woken;
      a.onWake = () => {};
      // ~2 periods; generous for a loaded machine.
      expect(wokeAt - sentAt).toBeLessThan(10 * PERIOD);
      await sleep(20);
      a.records[0] = 9;
      const r = a.s.receive(16);
      expect(a.records[0]).toBe(0);
      expect(r?.data.map((d) => d.equals(bytes))).toEqual([true]);
      expect(r?.hosts).toEqual(['127.0.0.1']);
      expect(r?.ports).toEqual([from.port]);
      const age = r?.agesUs[0] ?? -1;
      expect(age).toBeGreaterThanOrEqual(15_000); // it waited >= 20 ms since the wake
      expect(age).toBeLessThan((performance.now() - sentAt) * 1000 + 5_000);
    }
    // Not woken again once the queue is empty.
    const afterBoth = a.wakes;
    expect(afterBoth - wakesBefore).toBeGreaterThanOrEqual(2);
    await sleep(100);
    expect(a.wakes - afterBoth).toBeLessThanOrEqual(1);
    expect(a.s.engineStats()).toMatchObject({ queued: 2, queueDrops: 0, queueLength: 0 });
  });

  it('wakes JS while a watched peer is silent, from wakeAfterMs on, and stops once it beats again', async () => {
    const [a, b] = mesh(['a', 'b']);
    if (a === undefined || b === undefined) throw new Error('unreachable');
    const WAKE_AFTER = 60;
    a.s.engineWatch([1], WAKE_AFTER);
    a.start();
    b.start();
    await sleep(200);
    expect(a.wakes).toBeLessThanOrEqual(1);
    const quiet = a.wakes;
    b.s.stopEngine();
    const stoppedAt = performance.now();
    const woken = new Promise<number>((resolve) => {
      a.onWake = () => resolve(performance.now());
    });
    const wokeAt = await woken;
    a.onWake = () => {};
    // Not before wakeAfterMs after b's last beat (which came at most ~a period before the stop), not much after.
    expect(wokeAt - stoppedAt).toBeGreaterThan(WAKE_AFTER - 2 * PERIOD);
    expect(wokeAt - stoppedAt).toBeLessThan(WAKE_AFTER + 2 * PERIOD + 150);
    // It keeps waking at every tick while b is silent (each wake handled before the next).
    const silentFrom = a.wakes;
    await sleep(150);
    expect(a.wakes - silentFrom).toBeGreaterThanOrEqual(3);
    expect(a.wakes - quiet).toBeGreaterThanOrEqual(4);
    // b beats again: a's wakes stop.
    b.start();
    await waitFor('b beats again', () => arrivals(a.s).some(([slot]) => slot === 1));
    await sleep(50);
    const settled = a.wakes;
    await sleep(200);
    expect(a.wakes - settled).toBeLessThanOrEqual(1);
    // Unwatched: silence wakes nobody.
    a.s.engineWatch([], WAKE_AFTER);
    b.s.stopEngine();
    await sleep(50);
    const unwatched = a.wakes;
    await sleep(150);
    expect(a.wakes - unwatched).toBeLessThanOrEqual(1);
    // A newly watched slot counts from when it was watched, not from b's last beat.
    a.s.engineWatch([1], 100);
    const watchedAt = performance.now();
    const again = new Promise<number>((resolve) => {
      a.onWake = () => resolve(performance.now());
    });
    expect((await again) - watchedAt).toBeGreaterThan(100 - PERIOD);
  });

  it('sends only while the gate is open and the last kick is within watchdogMs', async () => {
    const [a, b] = mesh(['a', 'b']);
    if (a === undefined || b === undefined) throw new Error('unreachable');
    a.start();
    b.start();
    const seesB = () => arrivals(a.s).some(([slot]) => slot === 1);
    /** After `settleMs`, b sends nothing for 150 ms and a sees none of its beats. */
    const bSilent = async (settleMs: number): Promise<void> => {
      await sleep(settleMs);
      seesB();
      const sent = b.s.engineStats().beatsSent;
      await sleep(150);
      expect(seesB()).toBe(false);
      expect(b.s.engineStats().beatsSent).toBe(sent);
    };
    await waitFor('b beats', seesB);
    // Gate closed.
    b.s.engineKick(false, 60_000);
    await bSilent(30);
    // Open again, with a 50 ms watchdog.
    b.s.engineKick(true, 50);
    await waitFor('b beats again', seesB, 1000);
    await bSilent(100); // the watchdog ran out 50 ms after the kick
    // Kicking again resumes.
    b.s.engineKick(true, 60_000);
    await waitFor('b beats after the kick', seesB, 1000);
    // Engine stats: ticks went on all along; a never stopped beating b.
    expect(b.s.engineStats().beatsAccepted).toBeGreaterThan(20);
  });

  it('accepts only beats at the registered incarnation above the high-water mark: other incarnations are queued, replays counted stale', async () => {
    const [r] = mesh(['r', 'b', 'c']);
    if (r === undefined) throw new Error('unreachable');
    // b at incarnation 6 from seq 10 on; c: no incarnation registered.
    r.s.engineSenders(new Float64Array([-1, 6, -1]), new Float64Array([0, 10, 0]));
    r.start();
    const x = socket();
    const to = x.target('127.0.0.1', r.s.port);
    const send = (bytes: Buffer) => expect(x.send(to, bytes)).toBe(0);
    // Whatever was sent before is classified by the tick after next (loopback delivers at once).
    const settle = async () => {
      const t = r.s.engineStats().ticks;
      await waitFor('two ticks', () => r.s.engineStats().ticks >= t + 2);
    };

    send(beat('b', r.id, 7, 11)); // another incarnation: queued
    send(beat('c', r.id, 1, 1)); // no registered incarnation: queued
    send(beat('b', r.id, 6, 10)); // at the floor: stale
    await settle();
    expect(drain(r.s).map((d) => decode(d.data)).map((m) => [m.type, m.sender, m.incarnation, m.seq])).toEqual([
      ['beat', 'b', 7, 11],
      ['beat', 'c', 1, 1],
    ]);
    expect(r.s.engineStats()).toMatchObject({ beatsAccepted: 0, staleBeats: 1, queued: 2 });
    expect(arrivals(r.s)).toEqual([]);

    const captured = beat('b', r.id, 6, 11);
    send(captured);
    await settle();
    const got = arrivals(r.s);
    expect(got.map(([slot]) => slot)).toEqual([1]);
    expect(got[0]![1]).toBeLessThan(1_000_000);
    send(captured); // a replay
    send(beat('b', r.id, 6, 5)); // older
    await settle();
    expect(arrivals(r.s)).toEqual([]);
    expect(r.s.engineStats()).toMatchObject({ beatsAccepted: 1, staleBeats: 3, queued: 2 });
    expect(drain(r.s)).toEqual([]);

    // The same incarnation and floor again change nothing: 11 is still stale.
    r.s.engineSenders(new Float64Array([-1, 6, -1]), new Float64Array([0, 10, 0]));
    send(captured);
    await settle();
    expect(r.s.engineStats().staleBeats).toBe(4);
    // A new floor resets the mark to it: with floor 5, seq 11 is accepted again.
    r.s.engineSenders(new Float64Array([-1, 6, -1]), new Float64Array([0, 5, 0]));
    send(captured);
    await settle();
    expect(arrivals(r.s).map(([slot]) => slot)).toEqual([1]);
    expect(r.s.engineStats()).toMatchObject({ beatsAccepted: 2, staleBeats: 4 });
    // Not an acceptable beat at all (bad MAC): queued like any other datagram.
    const bad = beat('b', r.id, 6, 100);
    bad[bad.length - 1]! ^= 1;
    send(bad);
    await settle();
    expect(drain(r.s).map((d) => d.data.equals(bad))).toEqual([true]);
  });

  it('keeps per-slot state by sender name across a setBeats while running', async () => {
    const [a, b] = mesh(['a', 'b']);
    if (a === undefined || b === undefined) throw new Error('unreachable');
    a.start();
    b.start();
    await waitFor('b beats', () => arrivals(a.s).some(([slot]) => slot === 1));
    // 'b' moves to slot 2: its registered incarnation and high-water mark go with it.
    a.s.setBeats({
      self: utf8.encode('a'),
      selfId: a.id,
      keys: [{ id: KEY.id, secret: KEY.secret }],
      senders: [{ name: utf8.encode('x'), host: null }, { name: utf8.encode('a'), host: null }, { name: utf8.encode('b'), host: '127.0.0.1' }],
      maxClockSkewMs: 60_000,
      records: a.records,
    });
    arrivals(a.s);
    const stale = a.s.engineStats().staleBeats;
    let got: [number, number][] = [];
    await waitFor('b at slot 2', () => (got = arrivals(a.s)).length > 0);
    expect(got.map(([slot]) => slot)).toEqual([2]);
    expect(a.s.engineStats().staleBeats).toBe(stale);
    expect(a.s.engineStats().queued).toBe(0);
    // a's beats to b: the target still names slot 1 (now 'a', a fresh counter): b sees seq
    // restart from 1, below its mark: stale there. engineTargets with the new slot fixes it.
    expect(() => a.s.engineTargets([{ target: a.s.target('127.0.0.1', b.s.port), receiverId: b.id, slot: 3 }])).toThrow(RangeError);
    a.s.engineTargets([{ target: a.s.target('127.0.0.1', b.s.port), receiverId: b.id, slot: 2 }]);
    arrivals(b.s);
    await waitFor('a at b', () => (got = arrivals(b.s)).length > 0);
    expect(got.map(([slot]) => slot)).toEqual([0]);
    // engineSenders needs one entry per sender of the new config.
    expect(() => a.s.engineSenders(new Float64Array(2), new Float64Array(2))).toThrow(RangeError);
    // setBeats(null): nothing can be classified or sent; everything is queued.
    a.s.setBeats(null);
    const sent = a.s.engineStats().beatsSent;
    await waitFor('b beats queued', () => a.s.engineStats().queueLength > 0);
    expect(a.s.engineStats().beatsSent).toBe(sent);
    expect(drain(a.s).length).toBeGreaterThan(0);
  });

  it('queues at most 4096 datagrams, dropping (and counting) the rest; receive() returns them in arrival order', async () => {
    const [a] = mesh(['a', 'b']);
    if (a === undefined) throw new Error('unreachable');
    a.s.engineKick(false, 60_000);
    a.start();
    const x = socket();
    const to = x.target('127.0.0.1', a.s.port);
    // In bursts the receive buffer holds whole, each drained by the engine before the next.
    for (let burst = 0; burst < 10; burst++) {
      for (let i = 0; i < 500; i++) expect(x.send(to, Buffer.from(String(burst * 500 + i)))).toBe(0);
      const t = a.s.engineStats().ticks;
      await waitFor('two ticks', () => a.s.engineStats().ticks >= t + 2);
    }
    expect(a.s.engineStats()).toMatchObject({ queued: 4096, queueDrops: 904, queueLength: 4096 });
    const texts: string[] = [];
    for (let r = a.s.receive(1000); r !== null; r = a.s.receive(1000)) texts.push(...r.data.map((d) => d.toString()));
    expect(texts).toEqual(Array.from({ length: 4096 }, (_, i) => String(i)));
    expect(a.s.engineStats().queueLength).toBe(0);
  });

  it('after stopEngine, receive() returns what was queued first, then reads the socket', async () => {
    const [a] = mesh(['a', 'b']);
    if (a === undefined) throw new Error('unreachable');
    a.start();
    const x = socket();
    const to = x.target('127.0.0.1', a.s.port);
    for (let i = 0; i < 3; i++) x.send(to, Buffer.from(`queued ${i}`));
    await waitFor('3 queued', () => a.s.engineStats().queueLength === 3);
    a.s.stopEngine();
    for (let i = 0; i < 3; i++) x.send(to, Buffer.from(`socket ${i}`));
    await sleep(20);
    // max bounds both: 2 from the queue, then 1 queued + 1 from the socket, then the rest.
    const texts = (n: number) => a.s.receive(n)?.data.map((d) => d.toString()) ?? [];
    expect(texts(2)).toEqual(['queued 0', 'queued 1']);
    expect(texts(2)).toEqual(['queued 2', 'socket 0']);
    expect(texts(16)).toEqual(['socket 1', 'socket 2']);
    expect(a.s.receive(16)).toBeNull();
    // Stopped: beats go to records again, as without the engine.
    x.setBeats?.({ self: utf8.encode('b'), selfId: 5, keys: [{ id: KEY.id, secret: KEY.secret }], senders: [], maxClockSkewMs: null, records: new Float64Array(1) });
    expect(x.sendBeat?.(to, KEY.id, a.id, 101, 1, Date.now())).toBe(0);
    await sleep(20);
    expect(a.s.receive(16)).toBeNull();
    expect(a.records[0]).toBe(1);
  });

  it('start, stop and close: one engine at a time, stop idempotent, restartable, close while running is safe; the thread is named l2vip-beats', async () => {
    const base = engineThreads();
    const s = engineSocket();
    expect(() => s.startEngine(PERIOD, 0, () => {})).toThrow(/setBeats/);
    s.setBeats({ self: utf8.encode('a'), selfId: 1, keys: [], senders: [{ name: utf8.encode('b'), host: null }], maxClockSkewMs: null, records: new Float64Array(1) });
    expect(() => s.startEngine(0, 0, () => {})).toThrow(RangeError);
    expect(() => s.startEngine(PERIOD, 0.6, () => {})).toThrow(RangeError);
    expect(() => s.startEngine(PERIOD, 0, 'x' as unknown as () => void)).toThrow(TypeError);
    expect(engineThreads()).toBe(base);
    s.startEngine(PERIOD, 0.5, () => {});
    expect(() => s.startEngine(PERIOD, 0, () => {})).toThrow(/already running/);
    await waitFor('the named thread', () => engineThreads() === base + 1);
    await waitFor('a tick', () => s.engineStats().ticks > 0);
    s.stopEngine();
    s.stopEngine();
    await waitFor('the thread to end', () => engineThreads() === base);
    const ticks = s.engineStats().ticks;
    expect(ticks).toBeGreaterThan(0);
    s.startEngine(PERIOD, 0, () => {});
    await waitFor('ticks again', () => s.engineStats().ticks > ticks);
    expect(engineThreads()).toBe(base + 1);
    s.close();
    expect(s.closed).toBe(true);
    await waitFor('the thread to end', () => engineThreads() === base);
    s.stopEngine();
    s.close();
    expect(() => s.startEngine(PERIOD, 0, () => {})).toThrow(/closed/);
  });

  it('a setBeats that moves slots (a sender removed before them) keeps the beats going to the same peers, numbered on', async () => {
    const peers = mesh(['x', 'b', 'c']);
    const [x, b, c] = peers as [Peer, Peer, Peer];
    for (const p of [b, c]) p.start();
    x.start();
    await sleep(120);
    const seqBefore = x.s.engineSendSeq!(1);
    expect(seqBefore).toBeGreaterThan(3);
    // x drops a sender named "gone" in front of b and c: b moves from slot 1 to 0, c from 2 to 1.
    x.s.setBeats({
      self: utf8.encode('x'),
      selfId: x.id,
      keys: [{ id: KEY.id, secret: KEY.secret }],
      senders: [b, c].map((q) => ({ name: utf8.encode(q.name), host: '127.0.0.1' })),
      maxClockSkewMs: 60_000,
      records: x.records,
    });
    expect(x.s.engineSendSeq!(0)).toBeGreaterThanOrEqual(seqBefore);
    const stale = [b, c].map((q) => q.s.engineStats().staleBeats);
    const errors = x.s.engineStats().sendErrors;
    const accepted = [b, c].map((q) => q.s.engineStats().beatsAccepted);
    await sleep(150);
    // Both still get x's beats, above their high-water marks, and x sends to nobody missing.
    [b, c].forEach((q, i) => {
      expect(q.s.engineStats().beatsAccepted - accepted[i]!).toBeGreaterThan(5);
      expect(q.s.engineStats().staleBeats).toBe(stale[i]);
    });
    expect(x.s.engineStats().sendErrors).toBe(errors);
  });

  it('refuses bad engine arguments with TypeError/RangeError', () => {
    const [a] = mesh(['a', 'b']);
    if (a === undefined) throw new Error('unreachable');
    const s = a.s;
    const bad: [() => void, ErrorConstructor][] = [
      [() => s.engineSelf(2 ** 48 + 1, 1), RangeError],
      [() => s.engineSelf(1, -1), RangeError],
      [() => s.engineTargets([{ target: new Uint8Array(3), receiverId: 1, slot: 0 }]), RangeError],
      [() => s.engineTargets([{ target: s.target('127.0.0.1', 9), receiverId: 1, slot: 2 }]), RangeError],
      [() => s.engineTargets({} as unknown as []), TypeError],
      [() => s.engineSenders(new Float64Array([0, 1.5]), new Float64Array(2)), RangeError],
      [() => s.engineSenders(new Float64Array([0, -2]), new Float64Array(2)), RangeError],
      [() => s.engineSenders(new Float64Array(2), new Float64Array([0, -1])), RangeError],
      [() => s.engineSenders(new Float64Array(2), new Float32Array(2) as unknown as Float64Array), TypeError],
      [() => s.engineWatch([2], 10), RangeError],
      [() => s.engineWatch([0], -1), RangeError],
      [() => s.engineKick(1 as unknown as boolean, 10), TypeError],
      [() => s.engineKick(true, Number.NaN), RangeError],
      [() => s.engineArrivals([] as unknown as Float64Array), TypeError],
      [() => s.engineNextSeq(2), RangeError],
      [() => s.engineSetSeq(0, 2 ** 53), RangeError],
    ];
    for (const [call, type] of bad) expect(call, call.toString()).toThrow(type);
  });

  it('stops with its socket: garbage collection, process exit, the end of a worker; an exception from onWake is uncaught (in a child process)', async () => {
    const run = promisify(execFile);
    const dir = mkdtempSync(join(tmpdir(), 'l2vip-engine-'));
    try {
      const file = join(dir, 'child.cjs');
      writeFileSync(file, CHILD.replace('ADDON_PATH', JSON.stringify(ADDON)));
      for (const mode of ['gc', 'exit', 'natural', 'throw', 'worker-exit', 'worker-terminate']) {
        const { stdout, stderr } = await run(process.execPath, ['--expose-gc', file, mode], { timeout: 15_000 });
        const last = stdout.trim().split('\n').pop() ?? '';
        expect(last, `${mode}: stdout ${JSON.stringify(stdout)} stderr ${JSON.stringify(stderr)}`).toMatch(/^\{/);
        expect(JSON.parse(last), `${mode}: ${stdout}`).toMatchObject({ mode, ok: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// A CommonJS script run by node (and, in the worker modes, as the worker too): an engine beating a silent peer (so it wakes JS at every tick)
// is left running, then lost in the way `mode` says. The process must end with status 0 and
// print the verdict last.
const CHILD = `
const addon = require(ADDON_PATH);
const fs = require('node:fs');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const mode = isMainThread ? process.argv[process.argv.length - 1] : workerData.mode;
const enc = new TextEncoder();
function threads() {
  let n = 0;
  for (const t of fs.readdirSync('/proc/self/task')) {
    try { if (fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'l2vip-beats') n++; } catch {}
  }
  return n;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function start(sinkPort) {
  const s = new addon.DatagramSocket(4, '127.0.0.1', 0, 0);
  s.setBeats({ self: enc.encode('a'), selfId: 1, keys: [{ id: 1, secret: new Uint8Array(32).fill(7) }], senders: [{ name: enc.encode('b'), host: null }], maxClockSkewMs: null, records: new Float64Array(1) });
  s.engineSelf(1, 1);
  s.engineTargets([{ target: s.target('127.0.0.1', sinkPort), receiverId: 2, slot: 0 }]);
  s.engineKick(true, 60000);
  s.engineWatch([0], 0);
  const counter = { wakes: 0 };
  s.startEngine(2, 0, () => { counter.wakes++; });
  if (!isMainThread || mode !== 'gc') globalThis.keep = s; // only the gc mode lets it go
  return counter;
}
function done(result) { console.log(JSON.stringify({ mode, ...result })); }
(async () => {
  if (!isMainThread) {
    const sink = new addon.DatagramSocket(4, '127.0.0.1', 0, 0);
    const c = start(sink.port);
    await sleep(100);
    // Exits (worker-exit) or stays until terminated once the report has arrived.
    parentPort.once('message', () => { if (mode === 'worker-exit') process.exit(0); });
    parentPort.postMessage({ wakes: c.wakes, threads: threads() });
    setInterval(() => {}, 1000);
    return;
  }
  if (mode === 'gc') {
    const sink = new addon.DatagramSocket(4, '127.0.0.1', 0, 0);
    let c = start(sink.port);
    await sleep(100);
    const running = threads();
    const wakes = c.wakes;
    c = null;
    for (let i = 0; i < 50 && threads() > 0; i++) { globalThis.gc(); await sleep(20); }
    const after = threads();
    while (sink.receive(1024) !== null);
    await sleep(50);
    const late = sink.receive(1024);
    done({ ok: running === 1 && wakes > 5 && after === 0 && late === null, running, wakes, after });
  } else if (mode === 'exit') {
    const sink = new addon.DatagramSocket(4, '127.0.0.1', 0, 0);
    const c = start(sink.port);
    await sleep(100);
    done({ ok: c.wakes > 5 && threads() === 1, wakes: c.wakes });
    process.exit(0);
  } else if (mode === 'throw') {
    const sink = new addon.DatagramSocket(4, '127.0.0.1', 0, 0);
    const c = start(sink.port);
    globalThis.keep.stopEngine();
    let seen = 0;
    process.on('uncaughtException', (err) => {
      if (String(err.message) === 'boom from onWake' && ++seen === 3) {
        done({ ok: c.wakes === 0, seen });
        process.exit(0);
      }
    });
    globalThis.keep.startEngine(2, 0, () => { throw new Error('boom from onWake'); });
    setTimeout(() => done({ ok: false, seen }), 2000);
  } else if (mode === 'natural') {
    // Nothing else keeps the event loop alive: the engine's wakes must not either.
    const sink = new addon.DatagramSocket(4, '127.0.0.1', 0, 0);
    const c = start(sink.port);
    setTimeout(() => done({ ok: c.wakes > 5 && threads() === 1, wakes: c.wakes }), 100);
  } else {
    const w = new Worker(__filename, { workerData: { mode } });
    const exited = new Promise((resolve) => w.once('exit', resolve));
    const report = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      exited.then(() => reject(new Error('the worker exited without a report')));
    });
    if (mode === 'worker-terminate') await w.terminate();
    else w.postMessage('exit');
    await exited;
    await sleep(50);
    done({ ok: report.wakes > 5 && report.threads === 1 && threads() === 0, report, after: threads() });
  }
})().catch((err) => { console.log(JSON.stringify({ mode, ok: false, error: String(err && err.stack || err) })); process.exitCode = 1; });
`;
