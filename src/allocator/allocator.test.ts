import { describe, expect, it } from 'vitest';
import { Allocator, type AllocationResult } from './allocator.js';
import { ALLOCATION_CODES as C } from './result-codes.js';
import { configOf, svc, type PoolSpec, type SvcOptions } from '../../test/helpers/allocator.js';

function ips(r: AllocationResult): readonly string[] | undefined {
  return r.ok ? r.ips : undefined;
}

function expectOk(r: AllocationResult): { ips: readonly string[]; pool: string } {
  if (!r.ok) throw new Error(`expected success, got ${r.code}: ${r.reason}`);
  return r;
}

function expectFail(r: AllocationResult, code: string): string {
  if (r.ok) throw new Error(`expected ${code}, got ${JSON.stringify(r.ips)} from ${r.pool}`);
  expect(r.code).toBe(code);
  return r.reason;
}

// Re-expressed from MetalLB internal/allocator/allocator_test.go TestAssignment.
describe('assign: explicit IPs (MetalLB Assign)', () => {
  const pools: PoolSpec[] = [
    { name: 'test', addresses: ['1.2.3.4/31', '1000::4/127'] },
    { name: 'test2', avoidBuggyIPs: true, addresses: ['1.2.4.0/24', '1000::4:0/120'] },
    { name: 'test3', avoidBuggyIPs: true, serviceAllocation: { namespaces: ['test-ns1'] }, addresses: ['1.2.5.0/24', '1000::5:0/120'] },
    {
      name: 'test4',
      avoidBuggyIPs: true,
      serviceAllocation: { serviceSelectors: [{ matchLabels: { team: 'metallb' } }] },
      addresses: ['1.2.6.0/24', '1000::6:0/120'],
    },
    {
      name: 'test5',
      avoidBuggyIPs: true,
      serviceAllocation: { priority: 20, namespaces: ['test-ns1'], serviceSelectors: [{ matchLabels: { team: 'metallb' } }] },
      addresses: ['1.2.7.0/24', '1000::7:0/120'],
    },
    {
      name: 'test6',
      avoidBuggyIPs: true,
      serviceAllocation: { priority: 20, namespaces: ['test-ns2'], serviceSelectors: [{ matchLabels: { foo: 'bar' } }] },
      addresses: ['1.2.8.0/24', '1000::9:0/120'],
    },
  ];
  const shareBackend = (share: string, backend: string, port: string, family: SvcOptions['family'] = 'ipv4'): SvcOptions => ({
    share,
    localSelector: { app: backend },
    ports: [port],
    family,
  });
  type Step = [desc: string, name: string, ipsOrRelease: string[] | 'release', ok: boolean, opts?: SvcOptions];
  const v4Steps: Step[] = [
    ['assign s1', 's1', ['1.2.3.4'], true],
    ['s1 idempotent reassign', 's1', ['1.2.3.4'], true],
    ["s2 can't grab s1's IP", 's2', ['1.2.3.4'], false],
    ['s2 can get the other IP', 's2', ['1.2.3.5'], true],
    ["s1 now can't grab s2's IP", 's1', ['1.2.3.5'], false],
    ['s1 frees its IP', 's1', 'release', true],
    ["s2 can grab s1's former IP", 's2', ['1.2.3.4'], true],
    ["s1 can now grab s2's former IP", 's1', ['1.2.3.5'], true],
    ['s3 cannot grab a .0 buggy IP', 's3', ['1.2.4.0'], false],
    ['s3 cannot grab a .255 buggy IP', 's3', ['1.2.4.255'], false],
    ['s3 can grab another IP in that pool', 's3', ['1.2.4.254'], true],
    ['s4 takes an IP, with sharing', 's4', ['1.2.4.3'], true, shareBackend('sharing', 'backend', 'tcp/80')],
    ['s4 changes its sharing key in place', 's4', ['1.2.4.3'], true, shareBackend('share', 'backend', 'tcp/80')],
    ["s3 can't share with s4 (port conflict)", 's3', ['1.2.4.3'], false, shareBackend('share', 'backend', 'tcp/80')],
    ["s3 can't share with s4 (wrong sharing key)", 's3', ['1.2.4.3'], false, shareBackend('othershare', 'backend', 'tcp/443')],
    ["s3 can't share with s4 (wrong backend key)", 's3', ['1.2.4.3'], false, shareBackend('share', 'otherbackend', 'tcp/443')],
    ['s3 takes the same IP as s4', 's3', ['1.2.4.3'], true, shareBackend('share', 'backend', 'tcp/443')],
    ['s3 can change its ports while keeping the same IP', 's3', ['1.2.4.3'], true, shareBackend('share', 'backend', 'udp/53')],
    ["s3 can't change its sharing key while keeping the same IP", 's3', ['1.2.4.3'], false, shareBackend('othershare', 'backend', 'tcp/443')],
    ["s3 can't change its backend key while keeping the same IP", 's3', ['1.2.4.3'], false, shareBackend('share', 'otherbackend', 'tcp/443')],
    ["s4 takes s3's former IP", 's4', ['1.2.4.254'], true],
  ];
  it('follows the IPv4 sequence', () => {
    const a = new Allocator(configOf(pools));
    for (const [desc, name, target, ok, opts] of v4Steps) {
      if (target === 'release') {
        expect(a.release(`default/${name}`), desc).toBe(true);
        continue;
      }
      const before = a.get(`default/${name}`);
      const r = a.assign(svc(name, opts ?? { family: 'ipv4' }), target);
      expect(r.ok, `${desc}: ${r.ok ? '' : r.reason}`).toBe(ok);
      if (ok) expect(a.get(`default/${name}`)?.ips, desc).toEqual(target);
      else expect(a.get(`default/${name}`), `${desc}: a failed assign changes nothing`).toEqual(before);
    }
  });

  const v6Steps: Step[] = [
    ['ipv6 assign s1', 's1', ['1000::4'], true],
    ['s1 idempotent reassign', 's1', ['1000::4'], true],
    ["s2 can't grab s1's IP", 's2', ['1000::4'], false],
    ['s2 can get the other IP', 's2', ['1000::4:5'], true],
    ["s1 now can't grab s2's IP", 's1', ['1000::4:5'], false],
    ['s1 frees its IP', 's1', 'release', true],
    ["s2 can grab s1's former IP", 's2', ['1000::4'], true],
    ["s1 can now grab s2's former IP", 's1', ['1000::4:5'], true],
    ['s3 can grab another IP in that pool (no buggy IPs in IPv6)', 's3', ['1000::4:ff'], true],
    ['s4 takes an IP, with sharing', 's4', ['1000::4:3'], true, shareBackend('sharing', 'backend', 'tcp/80', 'ipv6')],
    ['s4 changes its sharing key in place', 's4', ['1000::4:3'], true, shareBackend('share', 'backend', 'tcp/80', 'ipv6')],
    ["s3 can't share with s4 (port conflict)", 's3', ['1000::4:3'], false, shareBackend('share', 'backend', 'tcp/80', 'ipv6')],
    ["s3 can't share with s4 (wrong sharing key)", 's3', ['1000::4:3'], false, shareBackend('othershare', 'backend', 'tcp/443', 'ipv6')],
    ["s3 can't share with s4 (wrong backend key)", 's3', ['1000::4:3'], false, shareBackend('share', 'otherbackend', 'tcp/443', 'ipv6')],
    ['s3 takes the same IP as s4', 's3', ['1000::4:3'], true, shareBackend('share', 'backend', 'tcp/443', 'ipv6')],
    ['s3 can change its ports while keeping the same IP', 's3', ['1000::4:3'], true, shareBackend('share', 'backend', 'udp/53', 'ipv6')],
  ];
  it('follows the IPv6 sequence', () => {
    const a = new Allocator(configOf(pools));
    for (const [desc, name, target, ok, opts] of v6Steps) {
      if (target === 'release') {
        a.release(`default/${name}`);
        continue;
      }
      const r = a.assign(svc(name, opts ?? { family: 'ipv6' }), target);
      expect(r.ok, `${desc}: ${r.ok ? '' : r.reason}`).toBe(ok);
    }
  });

  it('takes a dual-stack pair from one pool only', () => {
    const a = new Allocator(configOf(pools));
    expectOk(a.assign(svc('s1', { family: 'dual' }), ['1.2.3.4', '1000::4']));
    expectFail(a.assign(svc('s1', { family: 'dual' }), ['1.2.4.5', '1000::4']), C.ipNotInPool);
    expectFail(a.assign(svc('s2', { family: 'dual' }), ['1.2.3.5', '1.2.3.4']), C.familyMismatch);
  });

  const compat: [string, SvcOptions, string, boolean][] = [
    ['a pool pinned on the same namespace', { namespace: 'test-ns1' }, '1.2.5.10', true],
    ['a pool pinned on another namespace', { namespace: 'testns-not-exist' }, '1.2.5.10', false],
    ['a pool pinned on the same service label', { namespace: 'testns-not-exist', labels: { team: 'metallb' } }, '1.2.6.10', true],
    ['a pool pinned on another service label', { namespace: 'testns-not-exist', labels: { team: 'red' } }, '1.2.6.10', false],
    ['a pool pinned on namespace and service label', { namespace: 'test-ns1', labels: { team: 'metallb' } }, '1.2.7.10', true],
    ['a pool pinned on namespace with an incompatible label', { namespace: 'test-ns2', labels: { team: 'metallb' } }, '1.2.8.10', false],
    ['a pool pinned on a label with an incompatible namespace', { namespace: 'testns-not-exist', labels: { foo: 'bar' } }, '1.2.8.10', false],
  ];
  it.each(compat)('assigning from %s', (_desc, opts, ip, ok) => {
    const a = new Allocator(configOf(pools));
    const r = a.assign(svc('s1', opts), [ip]);
    expect(r.ok).toBe(ok);
    if (!ok) expect(r.ok || r.reason).toMatch(/^pool test\d not compatible for ip assignment$/);
  });
});

// TestPoolAllocation: allocation from a requested pool (metallb.io/address-pool).
describe('allocate from the pool named by metallb.io/address-pool', () => {
  const config = configOf([
    { name: 'not-this-one', addresses: ['192.168.0.0/16', 'fc00::1:0/112'] },
    { name: 'test', addresses: ['1.2.3.4/31', '1.2.3.10/31', '1000::/127', '2000::/127'] },
    { name: 'test2', addresses: ['10.20.30.0/24', 'fc00::2:0/120'] },
    { name: 'test-v4', addresses: ['1.2.3.100/31', '1.2.3.110/31'] },
    { name: 'test-v6', addresses: ['3000::/127', '4000::/127'] },
    { name: 'test-dualstack', addresses: ['1.2.3.200/31', '1.2.3.210/31', '5000::/127', '6000::/127'] },
  ]);
  const v4 = ['1.2.3.4', '1.2.3.5', '1.2.3.10', '1.2.3.11'];
  const v6 = ['1000::', '1000::1', '2000::', '2000::1'];

  it('hands out every IPv4 of the pool, then fails, then reuses a freed one; sharing lets a 6th in', () => {
    const a = new Allocator(config);
    for (const n of ['s1', 's2', 's3', 's4']) expect(v4).toContain(ips(a.allocate(svc(n, { pool: 'test', family: 'ipv4' })))?.[0]);
    expect(expectFail(a.allocate(svc('s5', { pool: 'test', family: 'ipv4' })), C.noAvailableIps)).toBe('no available IPs in pool test');
    expectFail(a.allocate(svc('s6', { pool: 'test', family: 'ipv4' })), C.noAvailableIps);
    a.release('default/s1');
    expect(ips(a.allocate(svc('s5', { pool: 'test', family: 'ipv4' })))).toEqual(['1.2.3.4']);
    expectFail(a.allocate(svc('s6', { pool: 'test', family: 'ipv4' })), C.noAvailableIps);
    a.release('default/s5');
    const s5 = expectOk(a.allocate(svc('s5', { pool: 'test', family: 'ipv4', share: 'share', ports: ['tcp/80'] })));
    const s6 = expectOk(a.allocate(svc('s6', { pool: 'test', family: 'ipv4', share: 'share', ports: ['tcp/443'] })));
    expect(s6.ips).toEqual(s5.ips);
  });

  it('does the same for IPv6', () => {
    const a = new Allocator(config);
    for (const n of ['s1', 's2', 's3', 's4']) expect(v6).toContain(ips(a.allocate(svc(n, { pool: 'test', family: 'ipv6' })))?.[0]);
    expectFail(a.allocate(svc('s5', { pool: 'test', family: 'ipv6' })), C.noAvailableIps);
    a.release('default/s1');
    expect(ips(a.allocate(svc('s5', { pool: 'test', family: 'ipv6' })))).toEqual(['1000::']);
  });

  it('gives a RequireDualStack Service one IP of each family, in IPv4, IPv6 order', () => {
    const a = new Allocator(config);
    for (const n of ['s1', 's2', 's3', 's4']) {
      const r = expectOk(a.allocate(svc(n, { pool: 'test', family: 'dual' })));
      expect(v4).toContain(r.ips[0]);
      expect(v6).toContain(r.ips[1]);
    }
    expectFail(a.allocate(svc('s5', { pool: 'test', family: 'dual' })), C.noAvailableIps);
    a.release('default/s1');
    expect(ips(a.allocate(svc('s5', { pool: 'test', family: 'dual' })))).toEqual(['1.2.3.4', '1000::']);
  });

  it('gives a PreferDualStack Service what its pool has', () => {
    const a = new Allocator(config);
    const prefer = (pool: string): SvcOptions => ({ pool, family: 'dual', policy: 'PreferDualStack' });
    expect(ips(a.allocate(svc('s1', prefer('test'))))).toEqual(['1.2.3.4', '1000::']);
    expect(ips(a.allocate(svc('s2', prefer('test-v4'))))).toEqual(['1.2.3.100']);
    expect(ips(a.allocate(svc('s3', prefer('test-v6'))))).toEqual(['3000::']);
    expect(ips(a.allocate(svc('s4', prefer('test-dualstack'))))).toEqual(['1.2.3.200', '5000::']);
  });

  it('re-IPs a Service whose family changed, reporting what it lost', () => {
    const a = new Allocator(config);
    expect(ips(a.allocate(svc('s1', { pool: 'test', family: 'ipv4' })))).toEqual(['1.2.3.4']);
    const r = a.allocate(svc('s1', { pool: 'test', family: 'ipv6' }));
    expect(r.ok && r.ips).toEqual(['1000::']);
    expect(r.ok && r.cleared).toEqual({ ips: ['1.2.3.4'], code: C.familyMismatch, reason: expect.stringMatching(/IP family/) as unknown });
    expect(ips(a.allocate(svc('s2', { pool: 'test', family: 'ipv4' })))).toEqual(['1.2.3.4']);
  });

  it('fails for a pool that does not exist', () => {
    const a = new Allocator(config);
    expect(expectFail(a.allocate(svc('s5', { pool: 'nonexistentpool' })), C.unknownPool)).toBe('unknown pool "nonexistentpool"');
  });
});

// TestAllocation and TestAutoAssign: automatic allocation across pools.
describe('automatic allocation', () => {
  it('uses every auto-assign pool, then fails, and lets sharing Services in (TestAllocation)', () => {
    const a = new Allocator(
      configOf([
        { name: 'test1', addresses: ['1.2.3.4/31', '1000::4/127'] },
        { name: 'test2', addresses: ['1.2.3.10/31', '1000::10/127'] },
      ]),
    );
    const got = ['s1', 's2', 's3', 's4'].map((n) => ips(a.allocate(svc(n)))?.[0]);
    // Pools without serviceAllocation in name order (MetalLB: random order).
    expect(got).toEqual(['1.2.3.4', '1.2.3.5', '1.2.3.10', '1.2.3.11']);
    expect(expectFail(a.allocate(svc('s5')), C.noAvailableIps)).toBe('no available IPs');
    a.release('default/s1');
    expect(ips(a.allocate(svc('s5', { share: 'share', ports: ['tcp/80'] })))).toEqual(['1.2.3.4']);
    expectFail(a.allocate(svc('s6')), C.noAvailableIps);
    expect(ips(a.allocate(svc('s6', { share: 'share', ports: ['tcp/443'] })))).toEqual(['1.2.3.4']);
    for (const n of ['s7', 's8', 's9', 's10']) expect(a.allocate(svc(n, { family: 'ipv6' })).ok).toBe(true);
    expectFail(a.allocate(svc('s11', { family: 'ipv6' })), C.noAvailableIps);
  });

  it('never auto-assigns from an autoAssign: false pool, but does on request (TestAutoAssign)', () => {
    const a = new Allocator(
      configOf([
        { name: 'test1', autoAssign: false, addresses: ['1.2.3.4/31', '1000::4/127'] },
        { name: 'test2', addresses: ['1.2.3.10/31', '1000::10/127'] },
      ]),
    );
    expect(ips(a.allocate(svc('s1')))).toEqual(['1.2.3.10']);
    expect(ips(a.allocate(svc('s2')))).toEqual(['1.2.3.11']);
    expectFail(a.allocate(svc('s3')), C.noAvailableIps);
    expect(ips(a.allocate(svc('s4', { pool: 'test1' })))).toEqual(['1.2.3.4']);
    expect(ips(a.allocate(svc('s5', { ips: '1.2.3.5' })))).toEqual(['1.2.3.5']);
    expectFail(a.allocate(svc('s6', { family: 'dual' })), C.noAvailableIps);
  });

  it('skips .0 and .255 only with avoidBuggyIPs (TestBuggyIPs)', () => {
    const a = new Allocator(
      configOf([
        { name: 'test', addresses: ['1.2.3.0/31'] },
        { name: 'test2', addresses: ['1.2.3.254/31'] },
        { name: 'test3', avoidBuggyIPs: true, addresses: ['1.2.4.0/31'] },
        { name: 'test4', avoidBuggyIPs: true, addresses: ['1.2.4.254/31'] },
      ]),
    );
    const got = ['s1', 's2', 's3', 's4', 's5', 's6'].map((n) => ips(a.allocate(svc(n)))?.[0]);
    expect(got).toEqual(['1.2.3.0', '1.2.3.1', '1.2.3.254', '1.2.3.255', '1.2.4.1', '1.2.4.254']);
    expectFail(a.allocate(svc('s7')), C.noAvailableIps);
  });

  it('walks addresses in listed order from each network address up', () => {
    const a = new Allocator(configOf([{ name: 'p', addresses: ['10.0.0.128/25', '10.0.0.0/25'] }]));
    expect(ips(a.allocate(svc('a')))).toEqual(['10.0.0.128']);
    for (let i = 0; i < 127; i++) a.allocate(svc(`x${i}`));
    expect(a.get('default/x126')?.ips).toEqual(['10.0.0.255']);
    expect(ips(a.allocate(svc('b')))).toEqual(['10.0.0.0']);
  });

  it('skips every .0 and .255 inside a range with avoidBuggyIPs, not only the edges', () => {
    const a = new Allocator(configOf([{ name: 'p', avoidBuggyIPs: true, addresses: ['10.0.0.253-10.0.1.2'] }]));
    const got = ['a', 'b', 'c', 'd', 'e'].map((n) => ips(a.allocate(svc(n)))?.[0]);
    expect(got).toEqual(['10.0.0.253', '10.0.0.254', '10.0.1.1', '10.0.1.2', undefined]);
    expectFail(a.allocate(svc('f', { ips: '10.0.1.0' })), C.ipNotInPool);
  });

  it('fills the lowest hole first after a release', () => {
    const a = new Allocator(configOf([{ name: 'p', addresses: ['10.0.0.0/29'] }]));
    for (const n of ['a', 'b', 'c', 'd']) a.allocate(svc(n));
    a.release('default/c');
    a.release('default/b');
    expect(ips(a.allocate(svc('e')))).toEqual(['10.0.0.1']);
    expect(ips(a.allocate(svc('f')))).toEqual(['10.0.0.2']);
    expect(ips(a.allocate(svc('g')))).toEqual(['10.0.0.4']);
  });

  it('steps over explicitly requested IPs ahead of the next free one', () => {
    const a = new Allocator(configOf([{ name: 'p', addresses: ['10.0.0.0/29'] }]));
    expectOk(a.allocate(svc('r1', { ips: '10.0.0.1' })));
    expectOk(a.allocate(svc('r2', { loadBalancerIP: '10.0.0.2' })));
    expect(['a', 'b', 'c'].map((n) => ips(a.allocate(svc(n)))?.[0])).toEqual(['10.0.0.0', '10.0.0.3', '10.0.0.4']);
  });
});

describe('pool choice: serviceAllocation', () => {
  const pools: PoolSpec[] = [
    { name: 'a-plain', addresses: ['10.0.0.0/30'] },
    { name: 'b-plain', addresses: ['10.0.1.0/30'] },
    { name: 'prio2', addresses: ['10.0.2.0/30'], serviceAllocation: { priority: 2, serviceSelectors: [{ matchLabels: { app: 'web' } }] } },
    { name: 'prio1', addresses: ['10.0.3.0/30'], serviceAllocation: { priority: 1, namespaces: ['team-a'] } },
    { name: 'noprio', addresses: ['10.0.4.0/30'], serviceAllocation: { serviceSelectors: [{ matchLabels: { app: 'web' } }] } },
    { name: 'catchall', addresses: ['10.0.5.0/30'], serviceAllocation: { priority: 5 } },
    { name: 'by-ns-label', addresses: ['10.0.6.0/30'], serviceAllocation: { priority: 3, namespaceSelectors: [{ matchLabels: { tier: 'gold' } }] } },
  ];
  const nsLabels = (ns: string): Record<string, string> | undefined =>
    ns === 'gold-ns' ? { tier: 'gold', 'kubernetes.io/metadata.name': ns } : { 'kubernetes.io/metadata.name': ns };

  it('prefers pinned pools by priority (lower first, unset last), then plain pools by name', () => {
    const a = new Allocator(configOf(pools), { namespaceLabels: nsLabels });
    const web = (n: string): ReturnType<typeof svc> => svc(n, { namespace: 'team-a', labels: { app: 'web' } });
    const poolsUsed: string[] = [];
    for (let i = 0; i < 6 * 4 + 1; i++) {
      const r = a.allocate(web(`s${i}`));
      poolsUsed.push(r.ok ? r.pool : 'none');
    }
    expect([...new Set(poolsUsed)]).toEqual(['prio1', 'prio2', 'catchall', 'noprio', 'a-plain', 'b-plain', 'none']);
  });

  it('pins a priority-only pool for every Service', () => {
    const a = new Allocator(configOf(pools), { namespaceLabels: nsLabels });
    expect(expectOk(a.allocate(svc('x', { namespace: 'elsewhere' }))).pool).toBe('catchall');
  });

  it('matches namespaceSelectors through the namespace labels lookup', () => {
    const a = new Allocator(configOf(pools), { namespaceLabels: nsLabels });
    expect(expectOk(a.allocate(svc('x', { namespace: 'gold-ns' }))).pool).toBe('by-ns-label');
    expect(expectOk(a.allocate(svc('y', { namespace: 'silver-ns' }))).pool).toBe('catchall');
  });

  it('refuses a requested pool whose serviceAllocation excludes the Service, even by annotation', () => {
    const a = new Allocator(configOf(pools), { namespaceLabels: nsLabels });
    expect(expectFail(a.allocate(svc('x', { namespace: 'team-b', pool: 'prio1' })), C.poolIncompatible)).toBe(
      'pool prio1 not compatible for ip assignment',
    );
    expect(expectOk(a.allocate(svc('y', { namespace: 'team-a', pool: 'prio1' }))).pool).toBe('prio1');
  });

  it('orders pools of equal priority by name', () => {
    const a = new Allocator(
      configOf([
        { name: 'zeta', addresses: ['10.1.0.0/32'], serviceAllocation: { priority: 1 } },
        { name: 'alpha', addresses: ['10.2.0.0/32'], serviceAllocation: { priority: 1 } },
      ]),
    );
    expect(expectOk(a.allocate(svc('x'))).pool).toBe('alpha');
    expect(expectOk(a.allocate(svc('y'))).pool).toBe('zeta');
  });

  it('never auto-assigns from a pool restricted to namespaces that match nothing', () => {
    const a = new Allocator(
      configOf([{ name: 'p', addresses: ['10.1.0.0/30'], serviceAllocation: { namespaceSelectors: [{ matchLabels: { none: 'x' } }] } }]),
    );
    expectFail(a.allocate(svc('x')), C.noAvailableIps);
  });
});

describe('requested IPs', () => {
  const config = configOf([
    { name: 'p', addresses: ['10.0.0.0/24', 'fc00::/120'] },
    { name: 'q', addresses: ['10.0.1.0/24'] },
  ]);

  it.each([
    ['metallb.io/loadBalancerIPs', { ips: '10.0.0.7' }, ['10.0.0.7']],
    ['the deprecated metallb.universe.tf/loadBalancerIPs', { annotations: { 'metallb.universe.tf/loadBalancerIPs': '10.0.0.8' } }, ['10.0.0.8']],
    ['spec.loadBalancerIP', { loadBalancerIP: '10.0.0.9' }, ['10.0.0.9']],
    ['a dual-stack pair, with spaces', { ips: 'fc00::5, 10.0.0.5', family: 'dual' }, ['fc00::5', '10.0.0.5']],
    ['an IPv6 address in long form', { ips: 'FC00:0:0:0:0:0:0:6' }, ['fc00::6']],
  ] as [string, SvcOptions, string[]][])('honours %s', (_d, opts, want) => {
    expect(ips(new Allocator(config).allocate(svc('x', opts)))).toEqual(want);
  });

  it.each([
    ['both the annotation and spec.loadBalancerIP', { ips: '10.0.0.7', loadBalancerIP: '10.0.0.7' }, C.invalidService, /can not have both/],
    ['an invalid IP', { ips: '10.0.0.300' }, C.invalidService, /invalid metallb.io\/loadBalancerIPs/],
    ['an invalid spec.loadBalancerIP', { loadBalancerIP: 'x' }, C.invalidService, /invalid spec.loadBalancerIP "x"/],
    ['two IPs of one family', { ips: '10.0.0.1,10.0.0.2' }, C.invalidService, /same address family/],
    ['an IP outside every pool', { ips: '192.168.0.1' }, C.ipNotInPool, /^\["192\.168\.0\.1"\] is not allowed in config$/],
    ['an IP of another family than the Service', { ips: 'fc00::1', family: 'ipv4' }, C.familyMismatch, /does not match the ipFamily/],
    ['an IP and a pool that disagree', { ips: '10.0.0.1', pool: 'q' }, C.poolMismatch, /is not compatible with requested address pool q/],
    ['IPs from two pools', { ips: '10.0.1.1,fc00::1', family: 'dual' }, C.ipNotInPool, /not allowed in config/],
  ] as [string, SvcOptions, string, RegExp][])('refuses %s', (_d, opts, code, why) => {
    expect(expectFail(new Allocator(config).allocate(svc('x', opts)), code)).toMatch(why);
  });

  it('refuses an IP held by a Service that does not share', () => {
    const a = new Allocator(config);
    expectOk(a.allocate(svc('x')));
    expect(expectFail(a.allocate(svc('y', { ips: '10.0.0.0' })), C.ipInUse)).toMatch(
      /^can't change sharing key for "default\/y", address also in use by default\/x/,
    );
  });

  it('moves a Service to newly requested IPs', () => {
    const a = new Allocator(config);
    expect(ips(a.allocate(svc('x')))).toEqual(['10.0.0.0']);
    const r = expectOk(a.allocate(svc('x', { ips: '10.0.0.50' })));
    expect(r.ips).toEqual(['10.0.0.50']);
    expect(ips(a.allocate(svc('y')))).toEqual(['10.0.0.0']);
  });

  it('keeps the IPs but warns when the requested IPs become unreadable', () => {
    const a = new Allocator(config);
    expectOk(a.allocate(svc('x', { ips: '10.0.0.7' })));
    const r = a.allocate(svc('x', { ips: '10.0.0.x' }));
    expect(r.ok && r.ips).toEqual(['10.0.0.7']);
    expect(r.ok && r.warning?.code).toBe(C.invalidService);
  });
});

describe('IP sharing', () => {
  const config = configOf([{ name: 'p', addresses: ['10.0.0.0/30'] }]);

  it.each([
    ['same key, different ports', { share: 'k', ports: ['tcp/80'] }, { share: 'k', ports: ['tcp/443'] }, true],
    ['TCP and UDP on the same port number', { share: 'k', ports: ['tcp/53'] }, { share: 'k', ports: ['udp/53'] }, true],
    ['same key, same port', { share: 'k', ports: ['tcp/80'] }, { share: 'k', ports: ['tcp/80'] }, false],
    ['different keys', { share: 'k', ports: ['tcp/80'] }, { share: 'j', ports: ['tcp/443'] }, false],
    ['one without key', { share: 'k', ports: ['tcp/80'] }, { ports: ['tcp/443'] }, false],
    ['an empty key does not share', { share: '', ports: ['tcp/80'] }, { share: '', ports: ['tcp/443'] }, false],
    ['Local with the same selector', { share: 'k', localSelector: { app: 'a' }, ports: ['tcp/80'] }, { share: 'k', localSelector: { app: 'a' }, ports: ['tcp/81'] }, true],
    ['Local with other selectors', { share: 'k', localSelector: { app: 'a' }, ports: ['tcp/80'] }, { share: 'k', localSelector: { app: 'b' }, ports: ['tcp/81'] }, false],
    ['Local and Cluster', { share: 'k', localSelector: { app: 'a' }, ports: ['tcp/80'] }, { share: 'k', ports: ['tcp/81'] }, false],
    ['Local with an empty selector and Cluster (MetalLB edge case)', { share: 'k', localSelector: {}, ports: ['tcp/80'] }, { share: 'k', ports: ['tcp/81'] }, true],
    ['the deprecated annotation', { annotations: { 'metallb.universe.tf/allow-shared-ip': 'k' }, ports: ['tcp/80'] }, { share: 'k', ports: ['tcp/81'] }, true],
  ] as [string, SvcOptions, SvcOptions, boolean][])('%s', (_d, first, second, shares) => {
    const a = new Allocator(config);
    const r1 = expectOk(a.allocate(svc('one', first)));
    const r2 = a.allocate(svc('two', { ...second, ips: r1.ips[0] as string }));
    expect(r2.ok).toBe(shares);
  });

  it('puts a sharing Service on the lowest compatible shared IP rather than a fresh one', () => {
    const a = new Allocator(config);
    expectOk(a.allocate(svc('plain')));
    expect(ips(a.allocate(svc('s1', { share: 'k', ports: ['tcp/80'] })))).toEqual(['10.0.0.1']);
    expect(ips(a.allocate(svc('s2', { share: 'k', ports: ['tcp/443'] })))).toEqual(['10.0.0.1']);
    expect(ips(a.allocate(svc('s3', { share: 'k', ports: ['tcp/80'] })))).toEqual(['10.0.0.2']);
    expect(ips(a.allocate(svc('s4', { share: 'k', ports: ['tcp/80'] })))).toEqual(['10.0.0.3']);
    expect(ips(a.allocate(svc('s5', { share: 'k', ports: ['tcp/22'] })))).toEqual(['10.0.0.1']);
    expect(a.poolStats('p')).toMatchObject({ assignedV4: 4n, availableV4: 0n });
  });

  it('frees a shared IP only when its last user goes', () => {
    const a = new Allocator(config);
    for (const [n, port] of [['s1', 'tcp/80'], ['s2', 'tcp/443'], ['s3', 'tcp/23']] as const) {
      expect(ips(a.allocate(svc(n, { share: 'key', ports: [port] })))).toEqual(['10.0.0.0']);
      expect(a.poolStats('p')?.assignedV4).toBe(1n);
    }
    a.release('default/s1');
    a.release('default/s2');
    expect(a.poolStats('p')?.assignedV4).toBe(1n);
    expect(ips(a.allocate(svc('plain')))).toEqual(['10.0.0.1']);
    a.release('default/s3');
    expect(a.poolStats('p')?.assignedV4).toBe(1n);
    expect(ips(a.allocate(svc('plain2')))).toEqual(['10.0.0.0']);
  });

  it('drops an IP when the Service changes ports to clash with a sharer', () => {
    const a = new Allocator(config);
    expectOk(a.allocate(svc('s1', { share: 'k', ports: ['tcp/80'] })));
    expectOk(a.allocate(svc('s2', { share: 'k', ports: ['tcp/443'] })));
    const r = expectOk(a.allocate(svc('s2', { share: 'k', ports: ['tcp/80'] })));
    expect(r.ips).toEqual(['10.0.0.1']);
    expect((r as { cleared?: { code: string } }).cleared?.code).toBe(C.portInUse);
  });
});

describe('dual-stack', () => {
  it('RequireDualStack needs both families in one pool', () => {
    const a = new Allocator(configOf([{ name: 'v4', addresses: ['10.0.0.0/30'] }, { name: 'v6', addresses: ['fc00::/126'] }]));
    expectFail(a.allocate(svc('x', { family: 'dual' })), C.noAvailableIps);
  });

  it('PreferDualStack takes a dual pool first, else the primary family, else the other one', () => {
    const config = configOf([
      { name: 'a-v6', addresses: ['fc00::/127'] },
      { name: 'b-v4', addresses: ['10.0.0.0/31'] },
      { name: 'c-dual', addresses: ['10.0.1.0/32', 'fc00:1::/128'] },
    ]);
    const a = new Allocator(config);
    const prefer = (n: string, family: 'dual' | 'dual6' = 'dual'): ReturnType<typeof svc> => svc(n, { family, policy: 'PreferDualStack' });
    expect(ips(a.allocate(prefer('s1')))).toEqual(['10.0.1.0', 'fc00:1::']);
    expect(ips(a.allocate(prefer('s2')))).toEqual(['10.0.0.0']);
    expect(ips(a.allocate(prefer('s3', 'dual6')))).toEqual(['fc00::']);
  });

  it('adds the missing family to a PreferDualStack Service when its pool gains one', () => {
    const a = new Allocator(configOf([{ name: 'p', addresses: ['10.0.0.0/30'] }]));
    const s = svc('x', { family: 'dual', policy: 'PreferDualStack' });
    expect(ips(a.allocate(s))).toEqual(['10.0.0.0']);
    expect(a.setConfig(configOf([{ name: 'p', addresses: ['10.0.0.0/30', 'fc00::/126'] }]))).toEqual([]);
    expect(ips(a.allocate(s))).toEqual(['10.0.0.0', 'fc00::']);
  });

  it('refuses RequireDualStack with a single family', () => {
    const a = new Allocator(configOf([{ name: 'p', addresses: ['10.0.0.0/30', 'fc00::/126'] }]));
    expectFail(a.allocate(svc('x', { family: 'ipv4', policy: 'RequireDualStack' })), C.invalidService);
  });
});

describe('which Services are ours', () => {
  const config = configOf([{ name: 'p', addresses: ['10.0.0.0/30'] }]);

  it('ignores non-LoadBalancer Services and releases their IPs', () => {
    const a = new Allocator(config);
    expectOk(a.allocate(svc('x')));
    expectFail(a.allocate(svc('x', { type: 'ClusterIP' })), C.notLoadBalancer);
    expect(a.get('default/x')).toBeUndefined();
  });

  it('leaves Services of another loadBalancerClass alone', () => {
    expectFail(new Allocator(config).allocate(svc('x', { loadBalancerClass: 'other.io/lb' })), C.otherClass);
    const classy = new Allocator(config, { loadBalancerClass: 'l2vip.io/lb' });
    expectFail(classy.allocate(svc('x')), C.otherClass);
    expectOk(classy.allocate(svc('y', { loadBalancerClass: 'l2vip.io/lb' })));
  });

  it('fails without pools', () => {
    expectFail(new Allocator(configOf([])).allocate(svc('x')), C.noPools);
  });
});

describe('restarts and config changes', () => {
  const base: PoolSpec[] = [
    { name: 'test', addresses: ['1.2.3.0/30', '1000::/126'] },
    { name: 'unused', addresses: ['1.2.4.0/30', '1001::/126'] },
  ];

  it('re-assigns status IPs on restart before allocating others', () => {
    const a = new Allocator(configOf(base));
    expectOk(a.assign(svc('held'), ['1.2.3.0']));
    expect(ips(a.allocate(svc('new')))).toEqual(['1.2.3.1']);
    expect(ips(a.allocate(svc('held')))).toEqual(['1.2.3.0']);
  });

  it('accepts the status IPs through allocate(service, current)', () => {
    const a = new Allocator(configOf(base));
    expect(ips(a.allocate(svc('held'), ['1.2.3.2']))).toEqual(['1.2.3.2']);
    const moved = expectOk(a.allocate(svc('stale'), ['9.9.9.9']));
    expect(moved.ips).toEqual(['1.2.3.0']);
    expect((moved as { cleared?: { code: string; reason: string } }).cleared).toMatchObject({
      code: C.ipNotInPool,
      reason: '["9.9.9.9"] is not allowed in config',
    });
  });

  // TestConfigReload: s1 holds 1.2.3.0, s2 holds 1000::.
  const reloads: [string, PoolSpec[], string | undefined, string | undefined][] = [
    ['set same config is no-op', [{ name: 'test', addresses: ['1.2.3.0/30', '1000::/126'] }], 'test', 'test'],
    ['expand pool', [{ name: 'test', addresses: ['1.2.3.0/24', '1000::/120'] }], 'test', 'test'],
    ['shrink pool', [{ name: 'test', addresses: ['1.2.3.0/30', '1000::/126'] }], 'test', 'test'],
    ["can't shrink further, removing the IPv4 allocation", [{ name: 'test', addresses: ['1.2.3.2/31', '1000::0/126'] }], undefined, 'test'],
    ["can't shrink further, removing the IPv6 allocation", [{ name: 'test', addresses: ['1.2.3.0/30', '1000::2/127'] }], 'test', undefined],
    ['rename the pool', [{ name: 'test2', addresses: ['1.2.3.0/30', '1000::0/126'] }], 'test2', 'test2'],
    [
      'split pool',
      [
        { name: 'test', addresses: ['1.2.3.0/31', '1000::2/127'] },
        { name: 'test2', addresses: ['1.2.3.2/31', '1000::/127'] },
      ],
      'test',
      'test2',
    ],
    ['enable buggy IPs not allowed', [{ name: 'test2', avoidBuggyIPs: true, addresses: ['1.2.3.0/31', '1000::/127'] }], undefined, 'test2'],
  ];
  it.each(reloads)('%s', (_desc, pools, poolS1, poolS2) => {
    const a = new Allocator(configOf(base));
    expectOk(a.assign(svc('s1'), ['1.2.3.0']));
    expectOk(a.assign(svc('s2', { family: 'ipv6' }), ['1000::']));
    const lost = a.setConfig(configOf(pools));
    expect(a.get('default/s1')?.pool).toBe(poolS1);
    expect(a.get('default/s2')?.pool).toBe(poolS2);
    expect(lost.map((l) => l.key).sort()).toEqual(
      [poolS1 === undefined ? 'default/s1' : '', poolS2 === undefined ? 'default/s2' : ''].filter(Boolean),
    );
    for (const l of lost) expect(l.code).toBe(C.ipNotInPool);
  });

  it('says why an IP was lost', () => {
    const a = new Allocator(configOf(base));
    expectOk(a.assign(svc('s1'), ['1.2.3.0']));
    expectOk(a.assign(svc('s3'), ['1.2.4.1']));
    const lost = a.setConfig(configOf([{ name: 'test', avoidBuggyIPs: true, addresses: ['1.2.3.0/30', '1000::/126'] }]));
    expect(lost).toEqual([
      {
        key: 'default/s1',
        ips: ['1.2.3.0'],
        pool: 'test',
        code: C.ipNotInPool,
        reason: '["1.2.3.0"] is not allowed in config (pool "test" now has avoidBuggyIPs: true)',
      },
      {
        key: 'default/s3',
        ips: ['1.2.4.1'],
        pool: 'unused',
        code: C.ipNotInPool,
        reason: '["1.2.4.1"] is not allowed in config (no IPAddressPool contains 1.2.4.1 any more; it was in pool "unused")',
      },
    ]);
    expect(ips(a.allocate(svc('s1')))).toEqual(['1.2.3.1']);
  });

  it('drops an IP whose pool stops accepting the Service', () => {
    const a = new Allocator(configOf(base));
    expectOk(a.allocate(svc('s1', { namespace: 'ns1' })));
    const lost = a.setConfig(configOf([{ ...base[0], serviceAllocation: { namespaces: ['ns2'] } } as PoolSpec, base[1] as PoolSpec]));
    expect(lost.map((l) => [l.key, l.code])).toEqual([['ns1/s1', C.poolIncompatible]]);
  });

  it('drops an IP whose pool no longer matches the address-pool annotation after a rename', () => {
    const a = new Allocator(configOf(base));
    expectOk(a.allocate(svc('s1', { pool: 'test' })));
    const lost = a.setConfig(configOf([{ name: 'renamed', addresses: ['1.2.3.0/30', '1000::/126'] }]));
    expect(lost.map((l) => l.code)).toEqual([C.poolMismatch]);
  });

  it('re-allocates from the newly requested pool when the annotation changes', () => {
    const a = new Allocator(configOf(base));
    expect(ips(a.allocate(svc('s1')))).toEqual(['1.2.3.0']);
    const r = expectOk(a.allocate(svc('s1', { pool: 'unused' })));
    expect(r.ips).toEqual(['1.2.4.0']);
    expect((r as { cleared?: { code: string } }).cleared?.code).toBe(C.poolMismatch);
  });

  it('keeps assignments in pools a config change does not touch, and their free-space state', () => {
    const a = new Allocator(configOf(base));
    expect(ips(a.allocate(svc('x')))).toEqual(['1.2.3.0']);
    expect(ips(a.allocate(svc('y')))).toEqual(['1.2.3.1']);
    a.release('default/x');
    expect(a.setConfig(configOf([...base, { name: 'zz-extra', addresses: ['1.2.5.0/30'] }]))).toEqual([]);
    expect(ips(a.allocate(svc('z')))).toEqual(['1.2.3.0']);
    expect(ips(a.allocate(svc('w')))).toEqual(['1.2.3.2']);
  });
});

// TestPoolCount and TestPoolMetrics.
describe('pool statistics', () => {
  it.each([
    ['a /24', [{ name: 'p', addresses: ['1.2.3.0/24'] }], 256n, 0n],
    ['a /24 and a /25', [{ name: 'p', addresses: ['1.2.3.0/24', '2.3.4.128/25'] }], 384n, 0n],
    ['a /24 and a /25 without buggy IPs', [{ name: 'p', avoidBuggyIPs: true, addresses: ['1.2.3.0/24', '2.3.4.128/25'] }], 381n, 0n],
    [
      'a /64, exactly',
      [{ name: 'p', avoidBuggyIPs: true, addresses: ['1.2.3.0/24', '2.3.4.128/25', '1000::/64'] }],
      381n,
      18446744073709551616n,
    ],
    ['a /31 and a /127 without buggy IPs', [{ name: 'p', avoidBuggyIPs: true, addresses: ['1.2.3.0/31', '1000::/127'] }], 1n, 2n],
    ['a buggy /32 (MetalLB says -1)', [{ name: 'p', avoidBuggyIPs: true, addresses: ['1.2.3.0/32'] }], 0n, 0n],
    ['a /16 without buggy IPs', [{ name: 'p', avoidBuggyIPs: true, addresses: ['10.0.0.0/16'] }], 65536n - 512n, 0n],
  ] as [string, PoolSpec[], bigint, bigint][])('counts %s', (_d, pools, v4, v6) => {
    expect(new Allocator(configOf(pools)).poolStats('p')).toEqual({ assignedV4: 0n, assignedV6: 0n, availableV4: v4, availableV6: v6 });
  });

  it('counts assigned IPs, a shared IP once', () => {
    const a = new Allocator(configOf([{ name: 'test', addresses: ['1.2.3.4/30', '1000::4/126'] }]));
    const stats = (): unknown => a.poolStats('test');
    expect(stats()).toEqual({ assignedV4: 0n, assignedV6: 0n, availableV4: 4n, availableV6: 4n });
    expectOk(a.assign(svc('s1'), ['1.2.3.4']));
    expectOk(a.assign(svc('s2'), ['1.2.3.5']));
    expect(stats()).toMatchObject({ assignedV4: 2n, availableV4: 2n });
    a.release('default/s1');
    a.release('default/s2');
    for (const [n, p] of [['s1', 'tcp/80'], ['s2', 'tcp/443'], ['s3', 'tcp/23']] as const) {
      expectOk(a.assign(svc(n, { share: 'key', ports: [p] }), ['1.2.3.4']));
      expect(stats()).toMatchObject({ assignedV4: 1n, availableV4: 3n });
    }
    expectOk(a.assign(svc('s6', { family: 'ipv6' }), ['1000::4']));
    expect(stats()).toEqual({ assignedV4: 1n, assignedV6: 1n, availableV4: 3n, availableV6: 3n });
    a.setConfig(configOf([]));
    expect(a.poolStats('test')).toBeUndefined();
    expect(a.size).toBe(0);
  });

  it('stays exact in a /64 after many allocations', () => {
    const a = new Allocator(configOf([{ name: 'p', addresses: ['fc00::/64'] }]));
    for (let i = 0; i < 1000; i++) a.allocate(svc(`s${i}`, { family: 'ipv6' }));
    expect(a.poolStats('p')).toEqual({ assignedV4: 0n, assignedV6: 1000n, availableV4: 0n, availableV6: (1n << 64n) - 1000n });
  });
});
