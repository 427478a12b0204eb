import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { pino } from 'pino';
import { CONFLICT_QUIET_MS, ConflictEpisodes, LOUD_EPISODES_PER_HOST, MAX_CONFLICT_EPISODES } from './conflict-episodes.js';

const OURS = Uint8Array.from([2, 0, 0, 0, 0, 1]);
const ROGUE = Uint8Array.from([0x0e, 1, 2, 3, 4, 5]);

function setup() {
  const clock = new VirtualClock();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const episodes = new ConflictEpisodes(clock, logger, (iface) => (iface === 'eth0' ? OURS : undefined));
  const warnings = () => lines.filter((l) => l.msg === 'another host claims an IP this node announces');
  return { clock, episodes, warnings };
}

describe('conflict episodes', () => {
  it('logs once per episode with both MACs and the interface, counts frames, and starts a new episode after 30 s quiet', () => {
    const { clock, episodes, warnings } = setup();
    const started: string[] = [];
    episodes.onEpisode((e) => started.push(`${e.ip} ${e.otherMac}`));
    const frame = (action: 'defend' | 'yield' | 'none' = 'defend') => episodes.observe({ ip: '192.0.2.10', iface: 'eth0', mac: ROGUE, service: 'web', action });
    frame();
    clock.advance(20_000);
    frame();
    clock.advance(CONFLICT_QUIET_MS - 1);
    frame();
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ ip: '192.0.2.10', iface: 'eth0', ourMac: '02:00:00:00:00:01', otherMac: '0e:01:02:03:04:05', service: 'web', action: 'defend' });
    expect(episodes.total).toBe(1);
    expect(episodes.list()).toEqual([expect.objectContaining({ count: 3, firstSeen: 0, lastSeen: 20_000 + CONFLICT_QUIET_MS - 1, ongoing: true })]);
    clock.advance(CONFLICT_QUIET_MS);
    expect(episodes.list()[0]!.ongoing).toBe(false);
    frame('yield');
    expect(warnings()).toHaveLength(2);
    expect(episodes.total).toBe(2);
    expect(started).toHaveLength(2);
    expect(episodes.list().map((e) => [e.count, e.action, e.ongoing])).toEqual([
      [1, 'yield', true],
      [3, 'defend', false],
    ]);
  });

  it('tells apart interfaces and MACs, and keeps a bounded list', () => {
    const { episodes, warnings } = setup();
    episodes.observe({ ip: '192.0.2.10', iface: 'eth0', mac: ROGUE, service: 'web', action: 'defend' });
    episodes.observe({ ip: '192.0.2.10', iface: 'eth1', mac: ROGUE, service: 'web', action: 'defend' });
    episodes.observe({ ip: '192.0.2.10', iface: 'eth0', mac: OURS, service: 'web', action: 'defend' });
    expect(warnings()).toHaveLength(3);
    expect(episodes.list()[1]!.ourMac).toBeUndefined();
    for (let i = 0; i < 2 * MAX_CONFLICT_EPISODES; i++) {
      episodes.observe({ ip: '192.0.2.10', iface: 'eth0', mac: Uint8Array.from([0x0e, 0, 0, 0, 0, i]), service: 'web', action: 'defend' });
    }
    expect(episodes.list()).toHaveLength(MAX_CONFLICT_EPISODES);
    expect(episodes.total).toBe(3 + 2 * MAX_CONFLICT_EPISODES);
  });

  it('logs a few lines, and raises a few events, for a host that claims thousands of VIPs at once', () => {
    const { episodes, warnings } = setup();
    const raised: string[] = [];
    episodes.onEpisode((e) => raised.push(e.ip));
    for (let i = 0; i < 2_000; i++) episodes.observe({ ip: `10.0.${i >> 8}.${i & 255}`, iface: 'eth0', mac: ROGUE, service: `s${i}`, action: 'defend' });
    expect(warnings()).toHaveLength(LOUD_EPISODES_PER_HOST);
    expect(raised).toHaveLength(LOUD_EPISODES_PER_HOST);
    expect(episodes.total).toBe(2_000);
    expect(episodes.list()).toHaveLength(MAX_CONFLICT_EPISODES);
  });

  it('keeps a transient claim by one of our speakers at debug, without an Event, and makes the episode loud when a frame is not transient', () => {
    const { episodes, warnings } = setup();
    const started: string[] = [];
    episodes.onEpisode((e) => started.push(e.ip));
    const frame = (transient: boolean) => episodes.observe({ ip: '192.0.2.10', iface: 'eth0', mac: ROGUE, service: 'web', action: 'defend', ...(transient ? { transient } : {}) });
    frame(true);
    frame(true);
    expect(warnings()).toHaveLength(0);
    expect(started).toHaveLength(0);
    expect(episodes.total).toBe(1);
    expect(episodes.list()).toEqual([expect.objectContaining({ count: 2, transient: true })]);
    frame(false);
    expect(warnings()).toHaveLength(1);
    expect(started).toEqual(['192.0.2.10']);
    frame(true);
    expect(warnings()).toHaveLength(1);
    expect(episodes.list()).toEqual([expect.objectContaining({ count: 4, transient: false })]);
  });
});
