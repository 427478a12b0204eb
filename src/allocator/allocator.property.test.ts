import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Config, Pool } from '../config/types.js';
import { formatIp, isBuggyIp, parseIp, type Ip } from '../ip/address.js';
import { cidrContains, cidrRange } from '../ip/cidr.js';
import { Allocator } from './allocator.js';
import { poolAcceptsService } from './pool-selection.js';
import type { ServiceInput } from './service.js';
import { configOf, svc, type PoolSpec, type SvcOptions } from '../../test/helpers/allocator.js';

const POOLS: PoolSpec[] = [
  { name: 'a', addresses: ['10.0.0.0/30', 'fc00::/127'] },
  { name: 'b', avoidBuggyIPs: true, addresses: ['10.0.0.254-10.0.1.1', '10.0.2.0/31'] },
  { name: 'c', addresses: ['fc00:1::/126', '10.0.3.8/30'] },
];
const CONFIG = configOf(POOLS);

interface Op {
  kind: 'allocate' | 'release';
  name: string;
  share: '' | 'x' | 'y';
  ports: string[];
  family: 'ipv4' | 'ipv6' | 'dual' | 'prefer';
  local: boolean;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<Op['kind']>('allocate', 'allocate', 'allocate', 'release'),
  name: fc.constantFrom('s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'),
  share: fc.constantFrom<Op['share']>('', 'x', 'x', 'y'),
  ports: fc.subarray(['tcp/80', 'tcp/443', 'udp/53']),
  family: fc.constantFrom<Op['family']>('ipv4', 'ipv6', 'dual', 'prefer'),
  local: fc.boolean(),
});

function serviceOf(op: Op): ServiceInput {
  const opts: SvcOptions = {
    ...(op.share ? { share: op.share } : {}),
    ports: op.ports,
    family: op.family === 'prefer' ? 'dual' : op.family,
    ...(op.family === 'prefer' ? { policy: 'PreferDualStack' as const } : {}),
    ...(op.local ? { localSelector: { app: op.share || 'none' } } : {}),
  };
  return svc(op.name, opts);
}

/**
 * A deliberately naive MetalLB allocator: scans every address from the start of every CIDR,
 * for fresh allocations of pools without serviceAllocation. The real one must agree with it.
 */
class ReferenceModel {
  readonly held = new Map<string, { ips: Ip[]; share: string; backend: string; ports: string[] }>();

  constructor(private readonly config: Config) {}

  private users(ip: Ip): { key: string; share: string; backend: string; ports: string[] }[] {
    return [...this.held.entries()]
      .filter(([, h]) => h.ips.some((x) => x.family === ip.family && x.value === ip.value))
      .map(([key, h]) => ({ key, ...h }));
  }

  private eligible(ip: Ip, share: string, backend: string, ports: string[]): boolean {
    return this.users(ip).every((u) => u.share !== '' && u.share === share && u.backend === backend && !u.ports.some((p) => ports.includes(p)));
  }

  private firstIn(pool: Pool, family: 4 | 6, share: string, backend: string, ports: string[]): Ip | undefined {
    for (const cidr of pool.cidrs) {
      if (cidr.family !== family) continue;
      const r = cidrRange(cidr);
      for (let v = r.start; v <= r.end; v++) {
        const ip: Ip = { family, value: v };
        if (pool.avoidBuggyIPs && isBuggyIp(ip)) continue;
        if (this.eligible(ip, share, backend, ports)) return ip;
      }
    }
    return undefined;
  }

  allocate(op: Op): string[] | undefined {
    const share = op.share;
    const backend = op.local ? `app=${op.share || 'none'}` : '';
    let chosen: Ip[] | undefined;
    let primary: Ip[] | undefined;
    for (const pool of this.config.pools) {
      const v4 = this.firstIn(pool, 4, share, backend, op.ports);
      const v6 = this.firstIn(pool, 6, share, backend, op.ports);
      if (op.family === 'ipv4' && v4) chosen = [v4];
      else if (op.family === 'ipv6' && v6) chosen = [v6];
      else if ((op.family === 'dual' || op.family === 'prefer') && v4 && v6) chosen = [v4, v6];
      else if (op.family === 'prefer' && !primary && (v4 || v6)) primary = v4 ? [v4] : undefined;
      if (chosen) break;
    }
    if (!chosen && op.family === 'prefer') {
      chosen = primary;
      if (!chosen) {
        for (const pool of this.config.pools) {
          const v6 = this.firstIn(pool, 6, share, backend, op.ports);
          if (v6) {
            chosen = [v6];
            break;
          }
        }
      }
    }
    if (!chosen) return undefined;
    this.held.set(`default/${op.name}`, { ips: chosen, share, backend, ports: op.ports });
    return chosen.map(formatIp);
  }
}

function checkInvariants(a: Allocator, config: Config, services: ReadonlyMap<string, ServiceInput>): void {
  const byIp = new Map<string, { key: string; svc: ServiceInput }[]>();
  const distinct = new Map<string, { v4: Set<string>; v6: Set<string> }>();
  for (const asg of a.assignments()) {
    const pool = config.pools.find((p) => p.name === asg.pool) as Pool;
    const service = services.get(asg.key) as ServiceInput;
    expect(poolAcceptsService(pool, service, () => undefined)).toBe(true);
    for (const text of asg.ips) {
      const ip = parseIp(text) as Ip;
      expect(pool.cidrs.some((c) => cidrContains(c, ip)), `${text} in ${pool.name}`).toBe(true);
      if (pool.avoidBuggyIPs) expect(isBuggyIp(ip)).toBe(false);
      byIp.set(text, [...(byIp.get(text) ?? []), { key: asg.key, svc: service }]);
      const d = distinct.get(pool.name) ?? { v4: new Set(), v6: new Set() };
      (ip.family === 4 ? d.v4 : d.v6).add(text);
      distinct.set(pool.name, d);
    }
  }
  for (const [ip, holders] of byIp) {
    if (holders.length < 2) continue;
    const keys = new Set(holders.map((h) => h.svc.annotations?.['metallb.io/allow-shared-ip'] ?? ''));
    expect(keys.size, `${ip} shared by ${holders.map((h) => h.key).join(',')}`).toBe(1);
    expect([...keys][0]).not.toBe('');
    const ports = holders.flatMap((h) => (h.svc.spec?.ports ?? []).map((p) => `${p.protocol}/${p.port}`));
    expect(new Set(ports).size).toBe(ports.length);
    const backends = new Set(holders.map((h) => (h.svc.spec?.externalTrafficPolicy === 'Local' ? JSON.stringify(h.svc.spec.selector) : '')));
    expect(backends.size).toBe(1);
  }
  for (const pool of config.pools) {
    const stats = a.poolStats(pool.name);
    const d = distinct.get(pool.name);
    expect(stats?.assignedV4).toBe(BigInt(d?.v4.size ?? 0));
    expect(stats?.assignedV6).toBe(BigInt(d?.v6.size ?? 0));
  }
}

describe('allocator properties', () => {
  it('agrees with a naive first-fit scan on any sequence of fresh allocations and releases', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const a = new Allocator(CONFIG);
        const model = new ReferenceModel(CONFIG);
        const services = new Map<string, ServiceInput>();
        for (const op of ops) {
          const key = `default/${op.name}`;
          if (op.kind === 'release' || a.get(key)) {
            expect(a.release(key)).toBe(model.held.delete(key));
            services.delete(key);
            continue;
          }
          const s = serviceOf(op);
          const r = a.allocate(s);
          const want = model.allocate(op);
          expect(r.ok ? r.ips : undefined).toEqual(want);
          if (r.ok) services.set(key, s);
          checkInvariants(a, CONFIG, services);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('leaves every pool as new after releasing everything, in any order', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), fc.func(fc.integer()), (ops, order) => {
        const a = new Allocator(CONFIG);
        for (const op of ops) if (op.kind === 'allocate') a.allocate(serviceOf(op));
        const keys = a.assignments().map((x) => x.key);
        keys.sort((x, y) => order(x) - order(y));
        for (const k of keys) a.release(k);
        const fresh = new Allocator(CONFIG);
        for (const p of CONFIG.pools) expect(a.poolStats(p.name)).toEqual(fresh.poolStats(p.name));
        for (const op of ops.slice(0, 10)) {
          const s = serviceOf({ ...op, kind: 'allocate' });
          const mine = a.allocate(s);
          const theirs = fresh.allocate(s);
          expect(mine).toEqual(theirs);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('gives each Service the same pool, and each pool the same IPs, whatever the order, when nothing conflicts', () => {
    const config = configOf([
      { name: 'team-a', addresses: ['10.1.0.0/24', 'fc00:a::/120'], serviceAllocation: { priority: 1, serviceSelectors: [{ matchLabels: { team: 'a' } }] } },
      { name: 'team-b', addresses: ['10.2.0.0/24'], serviceAllocation: { priority: 2, namespaces: ['b'] } },
      { name: 'shared', addresses: ['10.3.0.0/24', 'fc00:3::/120'] },
      { name: 'manual', autoAssign: false, addresses: ['10.9.0.0/24'] },
    ]);
    const svcArb = fc.record({
      ns: fc.constantFrom('a', 'b', 'c'),
      team: fc.constantFrom('a', 'b', undefined),
      family: fc.constantFrom<SvcOptions['family']>('ipv4', 'ipv6', 'dual'),
      requested: fc.option(fc.integer({ min: 1, max: 250 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(svcArb, { minLength: 1, maxLength: 30, selector: (s) => s.requested ?? Math.random() }), fc.func(fc.integer()), (specs, order) => {
        const services = specs.map((s, i) =>
          svc(`s${i}`, {
            namespace: s.ns,
            ...(s.team ? { labels: { team: s.team } } : {}),
            ...(s.requested !== undefined ? { ips: `10.9.0.${s.requested}`, family: 'ipv4' as const } : { family: s.family }),
          }),
        );
        const run = (list: readonly ServiceInput[]): Map<string, { pool: string; ok: boolean }> & { ipsByPool: Map<string, string[]> } => {
          const a = new Allocator(config);
          const out = new Map<string, { pool: string; ok: boolean }>() as Map<string, { pool: string; ok: boolean }> & {
            ipsByPool: Map<string, string[]>;
          };
          for (const s of list) {
            const r = a.allocate(s);
            out.set(s.name, { ok: r.ok, pool: r.ok ? r.pool : '' });
          }
          checkInvariants(a, config, new Map(list.map((s) => [`${s.namespace}/${s.name}`, s])));
          out.ipsByPool = new Map();
          for (const asg of a.assignments()) out.ipsByPool.set(asg.pool, [...(out.ipsByPool.get(asg.pool) ?? []), ...asg.ips].sort());
          return out;
        };
        const first = run(services);
        const shuffled = [...services].sort((x, y) => order(x.name) - order(y.name));
        const second = run(shuffled);
        for (const s of services) expect(second.get(s.name)).toEqual(first.get(s.name));
        expect(new Map([...second.ipsByPool].sort())).toEqual(new Map([...first.ipsByPool].sort()));
      }),
      { numRuns: 100 },
    );
  });

  it('keeps its invariants through config changes', () => {
    const configs = [
      CONFIG,
      configOf([{ name: 'a', addresses: ['10.0.0.0/31', 'fc00::/126'] }, ...POOLS.slice(1)]),
      configOf([{ name: 'renamed', addresses: ['10.0.0.0/30', 'fc00::/127'] }, { ...(POOLS[1] as PoolSpec), avoidBuggyIPs: false }]),
    ];
    fc.assert(
      fc.property(fc.array(fc.oneof(opArb, fc.integer({ min: 0, max: 2 })), { maxLength: 60 }), (steps) => {
        const a = new Allocator(CONFIG);
        let config = CONFIG;
        const services = new Map<string, ServiceInput>();
        for (const step of steps) {
          if (typeof step === 'number') {
            config = configs[step] as Config;
            for (const lost of a.setConfig(config)) {
              services.delete(lost.key);
              expect(a.get(lost.key)).toBeUndefined();
            }
          } else if (step.kind === 'release') {
            a.release(`default/${step.name}`);
            services.delete(`default/${step.name}`);
          } else {
            const s = serviceOf(step);
            const r = a.allocate(s);
            if (r.ok) services.set(`default/${step.name}`, s);
            else services.delete(`default/${step.name}`);
          }
          checkInvariants(a, config, services);
        }
      }),
      { numRuns: 100 },
    );
  });
});
