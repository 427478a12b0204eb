import { describe, expect, it } from 'vitest';
import { fixtureTrial } from '../../test/helpers/lab-report-fixture.js';
import { sideBySide } from './lab.js';

describe('lab side-by-side table', () => {
  it('puts each software\'s measured figures in its own column', () => {
    const l2vip = [fixtureTrial(1, 'n1', 'n2', 75, []), fixtureTrial(2, 'n2', 'n3', 81, [])];
    const ka = [fixtureTrial(1, 'n1', 'n2', 300, []), { ...fixtureTrial(2, 'n2', 'n3', 340, []), newOwner: undefined }];
    expect(sideBySide([
      { label: 'l2vip', results: l2vip, ipv6: true },
      { label: 'keepalived (advert_int 0.1 s)', results: ka, ipv6: true },
    ])).toEqual([
      '                    l2vip   keepalived (advert_int 0.1 s)',
      '  trials                2                               2',
      '  outage p50        75 ms                          300 ms',
      '  outage max        81 ms                          340 ms',
      '  probes lost         158                             640',
      '  new owner found     2/2                             1/2',
    ]);
  });

  it('counts IPv4 alone for software that keeps only IPv4', () => {
    const t = fixtureTrial(1, 'n1', 'n2', 100, []);
    const rows = sideBySide([{ label: 'x', results: [{ ...t, ipv6: { ...t.ipv6, outageMs: 999, lost: 999 } }], ipv6: false }]);
    expect(rows[3]).toMatch(/^ {2}outage max +100 ms$/);
    expect(rows[4]).toMatch(/^ {2}probes lost +50$/);
  });
});
