import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/clock/virtual-clock.js';
import { MemoryNetwork } from '../../fakes/memory-transport.js';
import { describePeerTransportCompliance } from '../../compliance/peer-transport.js';

describePeerTransportCompliance('MemoryNetwork', async () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock });
  const a = net.transport('a:1');
  const b = net.transport('b:1');
  await a.start();
  await b.start();
  return {
    a,
    b,
    aAddress: 'a:1',
    bAddress: 'b:1',
    settle: () => {
      clock.advance(10);
      return Promise.resolve();
    },
    close: async () => {
      await a.stop();
      await b.stop();
    },
  };
});

async function network(loss = 0, seed = 1) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, loss, seed, delayMs: 1 });
  const a = net.transport('a');
  const b = net.transport('b');
  await a.start();
  await b.start();
  const got: number[] = [];
  b.onMessage((d) => got.push(d[0]!));
  return { clock, net, a, b, got };
}

describe('MemoryNetwork', () => {
  it('delivers after the configured delay, never synchronously', async () => {
    const { clock, a, got } = await network();
    a.send('b', new Uint8Array([1]));
    expect(got).toEqual([]);
    clock.advance(0.5);
    expect(got).toEqual([]);
    clock.advance(0.5);
    expect(got).toEqual([1]);
  });

  it('loses about the configured share of datagrams, reproducibly per seed', async () => {
    const run = async (seed: number) => {
      const { clock, net, a, got } = await network(0.2, seed);
      for (let i = 0; i < 10_000; i++) a.send('b', new Uint8Array([i & 0xff]));
      clock.advance(10);
      return { delivered: got.length, lost: net.stats.lost };
    };
    const r = await run(3);
    expect(r.lost / 10_000).toBeGreaterThan(0.18);
    expect(r.lost / 10_000).toBeLessThan(0.22);
    expect(await run(3)).toEqual(r);
  });

  it('blocks one direction, partitions both, and heals', async () => {
    const { clock, net, a, b, got } = await network();
    const gotA: number[] = [];
    a.onMessage((d) => gotA.push(d[0]!));
    net.block('a', 'b');
    a.send('b', new Uint8Array([1]));
    b.send('a', new Uint8Array([2]));
    clock.advance(5);
    expect(got).toEqual([]);
    expect(gotA).toEqual([2]);
    net.heal();
    net.partition(['a'], ['b']);
    b.send('a', new Uint8Array([3]));
    clock.advance(5);
    expect(gotA).toEqual([2]);
    net.heal();
    a.send('b', new Uint8Array([4]));
    clock.advance(5);
    expect(got).toEqual([4]);
    expect(net.stats.blocked).toBe(2);
  });

  it('lets a test sniff datagrams and inject raw bytes', async () => {
    const { clock, net, a, got } = await network();
    const seen: string[] = [];
    const off = net.sniff((from, to, d) => seen.push(`${from}>${to}:${d[0]}`));
    a.send('b', new Uint8Array([5]));
    off();
    a.send('b', new Uint8Array([6]));
    net.inject('x', 'b', new Uint8Array([7]));
    clock.advance(5);
    expect(seen).toEqual(['a>b:5']);
    expect(got).toEqual([5, 6, 7]);
  });

  it('applies per-link loss over the default', async () => {
    const { clock, net, a, got } = await network(0);
    net.setLinkLoss('a', 'b', 1);
    a.send('b', new Uint8Array([1]));
    clock.advance(5);
    expect(got).toEqual([]);
  });
});
