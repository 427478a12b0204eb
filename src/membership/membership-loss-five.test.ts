import { describe, expect, it } from 'vitest';
import { simulateLoss } from '../../test/fakes/sim-cluster.js';

describe('Membership under packet loss (5 nodes)', () => {
  it.each([
    [5, 1],
    [5, 2],
  ])('no false death at 20 percent loss on every link for 60 s (%i nodes, seed %i)', async (size, seed) => {
    const r = await simulateLoss({ size, seed, loss: 0.2, durationMs: 60_000, polled: true });
    expect(r.lossSeen).toBeGreaterThan(0.19);
    expect(r.lossSeen).toBeLessThan(0.21);
    expect(r.deaths).toBe(0);
    expect(r.changes).toBe(0);
    expect(r.allAlive).toBe(true);
  });
});
