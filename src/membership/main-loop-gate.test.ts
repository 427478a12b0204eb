import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { GatedTransport, MainLoopGate } from './main-loop-gate.js';
import type { PeerTransport } from './peer-transport.js';

function setup(timeoutMs = 2000) {
  const clock = new VirtualClock(0);
  let beat = 0;
  const changes: [boolean, number][] = [];
  const gate = new MainLoopGate({ clock, beat: () => beat, timeoutMs, onChange: (h, ms) => changes.push([h, ms]) });
  const sent: string[] = [];
  const inner: PeerTransport = { start: () => Promise.resolve(), stop: () => Promise.resolve(), send: (a) => void sent.push(a), onMessage: () => undefined };
  const transport = new GatedTransport(inner, gate);
  /** Advances `ms` with the main loop ticking every 100 ms (or not), sending a datagram every 10 ms. */
  const run = (ms: number, ticking: boolean): void => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      if (ticking && clock.now() % 100 === 0) beat++;
      transport.send('peer:1', new Uint8Array(1));
    }
  };
  return { gate, sent, changes, run };
}

describe('MainLoopGate', () => {
  it('on the main thread (no counter): never closes; a gap between checks past the bound counts as a hang once the loop is back', () => {
    const clock = new VirtualClock(0);
    const hangs: number[] = [];
    const gate = new MainLoopGate({ clock, timeoutMs: 2000, onHang: (ms) => hangs.push(ms) });
    for (let i = 0; i < 10; i++) {
      clock.advance(600); // slow ticks, far apart but within the bound
      expect(gate.open()).toBe(true);
    }
    expect(gate.hangs).toBe(0);
    clock.advance(2500); // the loop was stuck: the engine's watchdog stopped the beats meanwhile
    expect(gate.open()).toBe(true);
    clock.advance(200);
    expect(gate.open()).toBe(true);
    expect(gate.hangs).toBe(1);
    expect(hangs).toEqual([2500]);
    expect(gate.holding).toBe(false);
  });

  it('lets heartbeats through while the main loop ticks, and through a stall shorter than the bound', () => {
    const s = setup(2000);
    s.run(1000, true);
    s.run(1900, false); // a 1.9 s stall of the main loop: bulk work, not a hang
    s.run(500, true);
    expect(s.sent).toHaveLength(340);
    expect(s.gate.hangs).toBe(0);
    expect(s.changes).toEqual([]);
  });

  it('holds every datagram back once the main loop is silent past the bound, and resumes when it ticks again', () => {
    const s = setup(2000);
    s.run(500, true);
    s.run(3000, false);
    const heldFrom = 50 + 200; // 500 ms ticking, then 2 000 ms of silence allowed
    expect(s.sent.length).toBe(heldFrom);
    expect(s.gate.holding).toBe(true);
    expect(s.gate.held).toBe(350 - heldFrom);
    s.run(200, true);
    expect(s.gate.holding).toBe(false);
    expect(s.gate.hangs).toBe(1);
    expect(s.changes.map(([h]) => h)).toEqual([true, false]);
    expect(s.changes[0]![1]).toBeGreaterThan(2000);
    expect(s.changes[1]![1]).toBeGreaterThanOrEqual(3000);
  });

  it('gates the beat fast path too: a hung main loop stops the beats, not only the full heartbeats', () => {
    const clock = new VirtualClock(0);
    const gate = new MainLoopGate({ clock, beat: () => 0, timeoutMs: 2000, onChange: () => undefined });
    const beats: number[] = [];
    const inner: PeerTransport = {
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      send: () => undefined,
      onMessage: () => undefined,
      beats: { configure: () => true, onBeat: () => undefined, sendBeat: (_a, _k, _r, _i, seq) => void beats.push(seq) },
    };
    const transport = new GatedTransport(inner, gate);
    expect(transport.beats?.configure({ self: 'a', selfId: 1, keys: [], senders: [], maxClockSkewMs: undefined })).toBe(true);
    for (let seq = 1; seq <= 300; seq++) {
      clock.advance(10);
      transport.beats?.sendBeat('peer:1', 1, 2, 3, seq, 0);
    }
    expect(beats.length).toBeGreaterThan(150);
    expect(beats.length).toBeLessThan(300);
    expect(gate.held).toBe(300 - beats.length);
    expect(new GatedTransport({ ...inner, beats: undefined }, gate).beats).toBeUndefined();
  });
});
