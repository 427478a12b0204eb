import { describe, expect, it } from 'vitest';
import { runVips, type VipsResult } from '../../bench/lib/vips-lab.js';

const root = process.getuid?.() === 0;
const VIPS = 2_000;

/**
 * Issue 12 at a size that runs in seconds: 3 standalone speakers start at once with one service
 * of 2 000 VIPs, a client ARPing the first and the last VIP every 20 ms from before the start
 * (bench/lib/vips-lab.ts); then kill -9 of the owner.
 */
describe.skipIf(!root)(`${VIPS} VIPs on one speaker (namespaces)`, () => {
  let r: VipsResult;

  it('starts without any owner change seen by the client, answers every VIP, and logs a summary instead of a line per VIP', async () => {
    r = await runVips({ vips: VIPS, print: (l) => console.log(l), keepLogs: process.env.L2VIP_KEEP_LOGS === '1' ? true : undefined });
    console.log(JSON.stringify(r));
    expect(r.startupChanges).toEqual({ first: 0, last: 0 });
    expect(r.doubleAnswers).toEqual({ first: 0, last: 0 });
    expect(r.sweep).toEqual({ answered: VIPS, byOwner: VIPS });
    expect(r.answeredMs.last).toBeLessThan(15_000);
    // Start-up logs do not grow with N (a few dozen lines, not one per VIP).
    expect(r.maxLogLines).toBeLessThan(100);
  }, 180_000);

  it('after kill -9 of the owner another node answers both VIPs within 1 s and announces them; no client is left on the dead node', () => {
    expect(r).toBeDefined();
    expect(r.outageMs.first).toBeLessThan(1_000);
    expect(r.outageMs.last).toBeLessThan(1_000);
    expect(r.announcedMs.first).toBeLessThan(1_000);
    expect(r.announcedMs.last).toBeLessThan(1_000);
    expect(r.stranded).toBe(0);
  });
});
