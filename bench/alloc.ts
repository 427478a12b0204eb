/**
 * Allocator benchmark: `npm run bench:alloc`. Prints each figure next to its goal and, where it
 * helps, next to a baseline: a MetalLB-style first fit that scans every pool from its network
 * address for each Service (what internal/allocator/allocator.go getIPFromCIDR does).
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Allocator } from '../src/allocator/allocator.js';
import type { ServiceInput } from '../src/allocator/service.js';
import { parseConfigObjects } from '../src/config/parse.js';
import type { Config } from '../src/config/types.js';
import { cidrRange } from '../src/ip/cidr.js';

const SERVICES = 50_000;
const POOLS = 10;

interface PoolDef {
  name: string;
  addresses: string[];
  namespaces?: string[];
}

function config(pools: readonly PoolDef[]): Config {
  const objects: unknown[] = pools.map((p) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name: p.name },
    spec: { addresses: p.addresses, ...(p.namespaces ? { serviceAllocation: { namespaces: p.namespaces } } : {}) },
  }));
  objects.push({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'all' } });
  const r = parseConfigObjects(objects);
  if (!r.config) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

// Ten pools, each a v4 /16 and a v6 /64; eight pinned to a namespace, two for everyone else.
function poolDefs(extra?: { pool: number; cidr: string }): PoolDef[] {
  return Array.from({ length: POOLS }, (_, i) => ({
    name: `pool-${i}`,
    addresses: [`10.${i}.0.0/16`, `fd00:${i}::/64`, ...(extra?.pool === i ? [extra.cidr] : [])],
    ...(i < 8 ? { namespaces: [`ns-${i}`] } : {}),
  }));
}

function service(i: number): ServiceInput {
  const kind = i % 10;
  // 50 % IPv4, 30 % IPv6, 20 % dual-stack; 5 % share an IP by pairs; spread over 11 namespaces.
  const ipFamilies = kind < 5 ? ['IPv4'] : kind < 8 ? ['IPv6'] : ['IPv4', 'IPv6'];
  const share: Record<string, string> = i % 20 === 0 || i % 20 === 1 ? { 'metallb.io/allow-shared-ip': `pair-${Math.floor(i / 20)}` } : {};
  return {
    namespace: `ns-${i % 11}`,
    name: `svc-${i}`,
    labels: { app: `app-${i % 97}` },
    annotations: share,
    spec: {
      type: 'LoadBalancer',
      ipFamilies,
      ipFamilyPolicy: ipFamilies.length === 2 ? 'RequireDualStack' : 'SingleStack',
      ports: [{ protocol: 'TCP', port: i % 20 === 1 ? 8443 : 443 }],
    },
  };
}

// A collection before each timed step, so one step's garbage is not billed to the next.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function ms(from: number): number {
  return performance.now() - from;
}

function fmt(n: number, unit: string): string {
  return `${n < 10 ? n.toFixed(3) : n.toFixed(1)} ${unit}`;
}

const rows: [string, string, string, string, boolean][] = [];
function row(what: string, measured: string, baseline: string, goal: string, ok: boolean): void {
  rows.push([what, measured, baseline, goal, ok]);
}

/** MetalLB-style first fit: scan the CIDR from its network address, one map lookup per address. */
function naiveFirstFit(start: bigint, end: bigint, used: ReadonlySet<bigint>): bigint | undefined {
  for (let v = start; v <= end; v++) if (!used.has(v)) return v;
  return undefined;
}

// 1. Allocate 50 000 Services.
gc();
const rssBefore = process.memoryUsage().rss;
const allocator = new Allocator(config(poolDefs()));
const services = Array.from({ length: SERVICES }, (_, i) => service(i));
gc();
let t = performance.now();
let failures = 0;
for (const s of services) if (!allocator.allocate(s).ok) failures++;
const allocAll = ms(t);
const rss = process.memoryUsage().rss;
if (failures > 0) throw new Error(`${failures} allocations failed`);
row(`allocate ${SERVICES} Services over ${POOLS} pools`, fmt(allocAll, 'ms'), '', '< 2000 ms', allocAll < 2000);
row('resident memory after that (whole process)', fmt(rss / 2 ** 20, 'MB'), `${fmt(rssBefore / 2 ** 20, 'MB')} before`, '< 300 MB', rss < 300 * 2 ** 20);

// 2. One more Service in a pool that is 99 % full.
const fullCfg = config([{ name: 'full', addresses: ['10.200.0.0/16'] }]);
const full = new Allocator(fullCfg);
const capacity = 65_536;
const target = Math.floor(capacity * 0.99);
const plain = (i: number): ServiceInput => ({ namespace: 'bench', name: `f-${i}`, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });
for (let i = 0; i < target; i++) full.allocate(plain(i));
gc();
t = performance.now();
const one = full.allocate(plain(target));
const first = ms(t);
if (!one.ok) throw new Error(one.reason);
const samples: number[] = [];
for (let i = 0; i < 2000; i++) {
  const s = plain(target + 1 + i);
  const t0 = performance.now();
  full.allocate(s);
  samples.push(performance.now() - t0);
  full.release(`bench/${s.name}`);
}
samples.sort((a, b) => a - b);
const p50 = samples[Math.floor(samples.length / 2)] as number;
const p99 = samples[Math.floor(samples.length * 0.99)] as number;
const used = new Set<bigint>();
const range = cidrRange(fullCfg.pools[0]?.cidrs[0] as never);
for (let i = 0; i <= target; i++) used.add(range.start + BigInt(i));
t = performance.now();
naiveFirstFit(range.start, range.end, used);
const naive = ms(t);
row('one more Service, pool 99 % full (first call)', fmt(first, 'ms'), `${fmt(naive, 'ms')} naive scan`, '< 1 ms', first < 1);
row('  same, median / p99 of 2000 allocate+release', `${fmt(p50, 'ms')} / ${fmt(p99, 'ms')}`, '', '< 1 ms', p99 < 1);

// 3. A config change that touches one pool: existing assignments re-validated.
const touched = config(poolDefs({ pool: 3, cidr: '10.103.0.0/24' }));
gc();
t = performance.now();
const lost = allocator.setConfig(touched);
const revalidate = ms(t);
row(`config change touching one pool (${allocator.size} kept, ${lost.length} lost), first call`, fmt(revalidate, 'ms'), '', '< 200 ms', revalidate < 200);
const original = config(poolDefs());
const warm: number[] = [];
for (let i = 0; i < 6; i++) {
  const t0 = performance.now();
  allocator.setConfig(i % 2 === 0 ? original : touched);
  warm.push(performance.now() - t0);
}
warm.sort((a, b) => a - b);
const warmMedian = warm[3] as number;
row('  same, median of 6 more changes', fmt(warmMedian, 'ms'), '', '< 200 ms', warmMedian < 200);
const shrunk = config(poolDefs().map((p, i) => (i === 3 ? { ...p, addresses: ['10.3.0.0/22', 'fd00:3::/64'] } : p)));
gc();
t = performance.now();
const lost2 = allocator.setConfig(shrunk);
const shrink = ms(t);
row(`config change shrinking one pool (${lost2.length} Services lose their IP)`, fmt(shrink, 'ms'), '', '< 200 ms', shrink < 200);
t = performance.now();
let reallocated = 0;
for (const l of lost2) {
  const s = services[Number(l.key.slice(l.key.lastIndexOf('-') + 1))] as ServiceInput;
  if (allocator.allocate(s).ok) reallocated++;
}
row(`  re-allocating those ${lost2.length}`, fmt(ms(t), 'ms'), `${reallocated} re-IPed`, '', true);
const stats = allocator.poolStats('pool-8');
row(
  'pool-8 statistics (BigInt, /64 exact)',
  `v4 ${stats?.assignedV4}/${stats?.availableV4}, v6 ${stats?.assignedV6}/${stats?.availableV6}`,
  '',
  'assigned/available',
  true,
);

const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] as string).length), ['what', 'measured', 'baseline', 'goal'][c]?.length ?? 0));
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
console.log(line(['what', 'measured', 'baseline', 'goal']) + '  result');
for (const r of rows) console.log(line([r[0], r[1], r[2], r[3]]) + `  ${r[4] ? 'ok' : 'MISSED'}`);
if (rows.some((r) => !r[4])) process.exitCode = 1;
