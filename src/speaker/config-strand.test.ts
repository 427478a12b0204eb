import { describe, expect, it } from 'vitest';
import { parseConfigObjects } from '../config/parse.js';
import type { Config } from '../config/types.js';
import { configWouldStrand, strandMessage } from './config-strand.js';

const V = 'metallb.io/v1beta1';
function config(pools: Record<string, string[]>): Config {
  const objects = Object.entries(pools).map(([name, addresses]) => ({ apiVersion: V, kind: 'IPAddressPool', metadata: { name }, spec: { addresses } }));
  const r = parseConfigObjects([...objects, { apiVersion: V, kind: 'L2Advertisement', metadata: { name: 'all' } }]);
  if (r.config === undefined) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe('stale configuration (MetalLB SetConfig)', () => {
  const announced = new Map<string, readonly string[]>([
    ['ns/web', ['10.0.0.1']],
    ['ns/dual', ['10.0.0.2', 'fc00::2']],
    ['ns/other', ['10.0.1.5']],
  ]);

  it('accept a configuration that still covers every announced IP, even from a renamed pool', () => {
    expect(configWouldStrand(config({ renamed: ['10.0.0.0/24', 'fc00::/64'], b: ['10.0.1.0/24'] }), announced)).toEqual([]);
    expect(configWouldStrand(config({ a: ['10.0.0.0/24'] }), new Map())).toEqual([]);
  });

  it('refuse one that leaves an announced IP without a pool, naming each Service', () => {
    const stranded = configWouldStrand(config({ a: ['10.0.0.0/24', 'fc00::/64'] }), announced);
    expect(stranded).toEqual([{ service: 'ns/other', ips: ['10.0.1.5'] }]);
    expect(strandMessage(stranded)).toMatch(/^new configuration refused: .*ns\/other \(10\.0\.1\.5\)/);
  });

  it('refuse one that splits a dual-stack Service over two pools (all IPs in one pool, as poolFor)', () => {
    const stranded = configWouldStrand(config({ v4: ['10.0.0.0/24', '10.0.1.0/24'], v6: ['fc00::/64'] }), announced);
    expect(stranded).toEqual([{ service: 'ns/dual', ips: ['10.0.0.2', 'fc00::2'] }]);
  });

  it('list stranded Services sorted by name', () => {
    expect(configWouldStrand(config({ z: ['192.0.2.0/24'] }), announced).map((s) => s.service)).toEqual(['ns/dual', 'ns/other', 'ns/web']);
  });
});
