import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../observability/logger.js';
import { NftMonitor } from './nft-monitor.js';

/** A stand-in for `nft monitor destroy`: prints `lines`, then sleeps or exits. */
function script(lines: readonly string[], then: 'sleep' | 'exit'): string[] {
  return ['sh', '-c', `printf '%s\\n' ${lines.map((l) => `'${l}'`).join(' ')}; ${then === 'sleep' ? 'exec sleep 30' : 'exit 3'}`];
}

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('nft monitor', () => {
  let m: NftMonitor | undefined;
  afterEach(() => m?.stop());

  it('reports deletions in its table and ignores the rest of the ruleset', async () => {
    const lines = [
      'delete rule ip filter input handle 7',
      'delete table ip filter',
      '# new generation 8 by process 1605 (nft)',
      'delete element arp l2vipx vips { 10.0.0.1 }',
    ];
    let changes = 0;
    m = new NftMonitor({ logger: silentLogger(), table: 'arp l2vip', command: script(lines, 'sleep') });
    m.start(() => changes++);
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).toBe(0);
    expect(m.watching).toBe(true);
    m.stop();

    changes = 0;
    m = new NftMonitor({ logger: silentLogger(), table: 'arp l2vip', command: script([...lines, 'delete set arp l2vip vips', 'delete table arp l2vip'], 'sleep') });
    m.start(() => changes++);
    await until(() => changes > 0);
    expect(m.watching).toBe(true);
  });

  it('reports a possible change when the monitor dies, and restarts it', async () => {
    let changes = 0;
    m = new NftMonitor({ logger: silentLogger(), table: 'arp l2vip', command: script([], 'exit') });
    m.start(() => changes++);
    await until(() => changes >= 2, 5000); // died, restarted 1 s later, died again
    expect(m.watching).toBe(false);
  });
});
