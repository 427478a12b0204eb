/**
 * Cost and speed of failure detection by cluster size: the ring topology (default since wire
 * version 3) next to the former full mesh (`topology: 'mesh'`), in the same run.
 *
 *   npm run bench:scale                       (simulation, then the real-process part if root;
 *                                              N = 1 000 with 60 s of loss alone takes 15-30 min on
 *                                              a shared 2-core machine: --sizes / --loss-seconds)
 *   npm run bench:scale -- --quick            (sizes 3, 10, 50, 200; 10 s of loss)
 *   options: --sizes 3,10,50,200,1000  --loss-seconds 60  --no-real  --real-only  --real-sizes 3,10,20
 *            --idle-seconds 10  --warmup-seconds 20  --failover-trials 5 (0: none; --quick: 2)
 *            --no-engine (simulate without the beat engine: the membership ticks every heartbeat)
 *
 * 1. Simulation (test/fakes/sim-cluster.ts: the real Membership, codec and HMAC over the
 *    in-memory transport on a virtual clock, 0.2 ms links; each node reads its datagrams at its
 *    tick, dated by arrival, as the membership worker's polled socket does). Per size and design:
 *    - datagrams/s per node, sent + received, mean and max over nodes, over 1 s of steady state;
 *    - a silent crash of the owner of 16 VIPs: detection by the nodes that must act (the next
 *      live node in MetalLB's ranking of each of its VIPs), p50/max, and time until every
 *      survivor agrees on the new live set;
 *    - false deaths at 20 % loss on every link over --loss-seconds simulated seconds.
 *    The mesh above 50 nodes is not simulated (200 nodes: 2 million datagrams per simulated
 *    second): its datagram rate is computed, 2 (N - 1) x 1000 / heartbeatMs; its loss trial
 *    runs up to 10 nodes (bench:election and the loss tests cover it).
 *    options: --designs ring,mesh
 * 2. Real processes (root): `l2vip standalone` on 3, 10 and 20 nodes in network namespaces
 *    (the lab of src/lab, no client traffic): idle CPU % of one core and RSS per speaker; then
 *    kill -9 of the owner on a ring of each size: client outage p50/max (bench/lib/scale-real.ts).
 */
import { createHmac } from 'node:crypto';
import { loadavg } from 'node:os';
import { rankNodes } from '../src/election/hash-ranking.js';
import { membershipKey } from '../src/membership/membership-key.js';
import type { MembershipOptions } from '../src/membership/membership-options.js';
import { decodeMessage, encodeMessage, type HeartbeatMessage } from '../src/membership/wire.js';
import { SimCluster } from '../test/fakes/sim-cluster.js';
import { summarize } from './lib/percentiles.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
function arg(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
function list(name: string, fallback: readonly number[]): number[] {
  const v = arg(name);
  return v === undefined ? [...fallback] : v.split(',').map(Number);
}
const SIZES = list('--sizes', quick ? [3, 10, 50, 200] : [3, 10, 50, 200, 1000]);
const LOSS_S = Number(arg('--loss-seconds') ?? (quick ? 10 : 60));
const REAL_SIZES = list('--real-sizes', [3, 10, 20]);
const IDLE_S = Number(arg('--idle-seconds') ?? 10);
/** Idle is measured from this long after the speakers start: start-up compilation is not idle cost. */
const WARMUP_S = Number(arg('--warmup-seconds') ?? 20);
const FAILOVER_TRIALS = Number(arg('--failover-trials') ?? (quick ? 2 : 5));
/** Largest mesh actually simulated (its cost is the point: 50 nodes already take minutes); above, its rate is computed. */
const MESH_SIM_MAX = 50;
/** Largest mesh run through the loss trial. */
const MESH_LOSS_MAX = 10;
const DESIGN_LIST = (arg('--designs') ?? 'ring,mesh').split(',');

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

interface SimRow {
  readonly design: string;
  readonly size: number;
  readonly rateMean: number;
  readonly rateMax: number;
  /** Membership ticks per node per second (its JavaScript wakeups): 100 at 10 ms, about 10-30 with the engine. */
  readonly ticks: number;
  readonly computed: boolean;
  readonly actors: number;
  readonly detectP50: number;
  readonly detectMax: number;
  readonly agreeMs: number;
  readonly falseDeaths: number | undefined;
  wallS: number;
}

/** Simulate the speakers as deployed, with the addon's beat engine (modelled); --no-engine: the membership ticks every heartbeat. */
const ENGINE = !argv.includes('--no-engine');
const DESIGNS: Record<string, MembershipOptions> = { ring: { topology: 'ring' }, mesh: { topology: 'mesh' } };

function steady(c: SimCluster, ms: number): { mean: number; max: number; ticks: number } {
  const before = c.nodes.map((n) => n.membership.stats());
  c.advance(ms);
  let ticks = 0;
  const rates = c.nodes.map((n, i) => {
    const s = n.membership.stats();
    ticks += (s.ticks ?? 0) - (before[i]!.ticks ?? 0);
    return ((s.sent - before[i]!.sent + s.received - before[i]!.received) * 1000) / ms;
  });
  return { mean: rates.reduce((a, b) => a + b, 0) / rates.length, max: Math.max(...rates), ticks: (ticks * 1000) / ms / c.nodes.length };
}

/** The nodes that take over the victim's VIPs: for 16 VIPs it owns, the next node of MetalLB's ranking. */
function actorsFor(victim: string, names: readonly string[]): Set<string> {
  const actors = new Set<string>();
  let owned = 0;
  for (let i = 0; owned < 16 && i < 200_000; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const ranked = rankNodes(ip, names);
    if (ranked[0] !== victim) continue;
    owned++;
    if (ranked[1] !== undefined) actors.add(ranked[1]);
  }
  return actors;
}

async function simulate(design: string, size: number, seed: number): Promise<SimRow> {
  const t0 = performance.now();
  const options = DESIGNS[design]!;
  const meshTooBig = design === 'mesh' && size > MESH_SIM_MAX;
  if (meshTooBig) {
    const hb = size > 16 ? 20 : 10;
    const rate = (2 * (size - 1) * 1000) / hb;
    return { design, size, rateMean: rate, rateMax: rate, ticks: NaN, computed: true, actors: 0, detectP50: NaN, detectMax: NaN, agreeMs: NaN, falseDeaths: undefined, wallS: 0 };
  }
  const c = await SimCluster.start({ size, seed, options, startSpreadMs: 0.05, polled: true, engine: ENGINE });
  c.advance(2000);
  const rate = steady(c, design === 'mesh' && size > 10 ? 200 : 1000);

  // Crash: the victim is a random node; its actors are the next-ranked nodes of its VIPs.
  const names = c.nodes.map((n) => n.name);
  const victim = c.nodes[Math.floor(c.randomPhase(size))]!;
  const actors = actorsFor(victim.name, names);
  c.advance(c.randomPhase(50));
  const crashAt = c.clock.now();
  const detect = new Map<string, number>();
  const gone = new Set<string>();
  let agreeMs = NaN;
  const survivors = c.nodes.filter((n) => n !== victim);
  for (const n of survivors) {
    n.membership.onChange((v) => {
      const t = c.clock.now() - crashAt;
      if (!v.alive.has(victim.name)) {
        if (actors.has(n.name) && !detect.has(n.name)) detect.set(n.name, t);
        gone.add(n.name);
      } else gone.delete(n.name);
    });
  }
  c.crash(victim.name);
  for (let t = 0; t < 1000 && Number.isNaN(agreeMs); t += 1) {
    c.advance(1);
    if (gone.size === survivors.length && survivors.every((n) => n.membership.alive().size === size - 1)) agreeMs = c.clock.now() - crashAt;
  }
  const d = summarize([...detect.values()]);
  const missing = actors.size - detect.size;

  return {
    design,
    size,
    rateMean: rate.mean,
    rateMax: rate.max,
    ticks: rate.ticks,
    computed: false,
    actors: actors.size,
    detectP50: missing > 0 ? Infinity : d.p50,
    detectMax: missing > 0 ? Infinity : d.max,
    agreeMs,
    falseDeaths: undefined,
    wallS: (performance.now() - t0) / 1000,
  };
}

/** False deaths in a healthy cluster at 20 % loss on every link for LOSS_S simulated seconds (a fresh cluster). */
async function falseDeaths(design: string, size: number, seed: number): Promise<number | undefined> {
  if (LOSS_S <= 0 || (design === 'mesh' && size > MESH_LOSS_MAX)) return undefined;
  const l = await SimCluster.start({ size, seed: seed + 1000, options: DESIGNS[design]!, startSpreadMs: 0.05, polled: true, engine: ENGINE });
  l.advance(2000);
  const before = l.nodes.reduce((a, n) => a + n.membership.stats().deaths, 0);
  l.network.setLoss(0.2);
  l.advance(LOSS_S * 1000);
  return l.nodes.reduce((a, n) => a + n.membership.stats().deaths, 0) - before;
}

function table(rows: readonly (readonly (string | number)[])[]): void {
  const w: number[] = [];
  for (const r of rows) r.forEach((c, i) => (w[i] = Math.max(w[i] ?? 0, String(c).length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => (typeof c === 'number' ? String(c).padStart(w[i]!) : String(c).padEnd(w[i]!))).join('  '));
}

function f(n: number, digits = 0): string {
  return Number.isNaN(n) ? '-' : n === Infinity ? 'MISSED' : n.toFixed(digits);
}

async function simulation(): Promise<void> {
  console.log(`\nSimulation (virtual clock, in-memory transport, real membership code; ${ENGINE ? "with the addon's beat engine, modelled" : 'without the beat engine (--no-engine)'}), load ${load()}`);
  console.log(`  goals at any N: <= 500 datagrams/s per node; detection by the nodes that must act p50 <= 100 ms, max <= 200; agreement <= 500 ms; 0 false deaths at 20 % loss (${LOSS_S} s)`);
  const rows: (string | number)[][] = [['N', 'design', 'dgrams/s/node mean', 'max', 'JS ticks/s', 'actors', 'detect p50 ms', 'max', 'agree ms', `false deaths ${LOSS_S}s@20%`, 'wall s']];
  for (const size of SIZES) {
    for (const design of DESIGN_LIST) {
      const t0 = performance.now();
      const r = { ...(await simulate(design, size, size)), falseDeaths: await falseDeaths(design, size, size) };
      r.wallS = (performance.now() - t0) / 1000;
      rows.push([
        size,
        size <= 3 && design === 'ring' ? 'ring (= mesh)' : design,
        r.computed ? `${f(r.rateMean)} (computed)` : f(r.rateMean),
        r.computed ? '' : f(r.rateMax),
        f(r.ticks),
        r.computed ? '' : r.actors,
        f(r.detectP50, 1),
        f(r.detectMax, 1),
        f(r.agreeMs),
        r.falseDeaths ?? '-',
        f(r.wallS, 1),
      ]);
      // Also as it comes (a 1 000-node run takes many minutes): the aligned table follows at the end.
      console.error(`  [${rows.at(-1)!.join(' | ')} | load ${load()}]`);
    }
  }
  table(rows);
}

/** µs per call of `f`, after a warm-up. */
function micro(n: number, f: (i: number) => void): number {
  for (let i = 0; i < 2000; i++) f(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f(i);
  return Number(process.hrtime.bigint() - t) / n / 1000;
}

/** Where a datagram's CPU goes in JavaScript: codec, HMAC with the key imported once or per datagram. */
function perDatagram(): void {
  const key = membershipKey('bench secret: 32+ bytes of not-so-random text');
  const keys = new Map([[key.id, key]]);
  const msg: HeartbeatMessage = {
    type: 'heartbeat',
    sender: 'worker-017.example.internal',
    receiver: 123,
    incarnation: 1_700_000_000_000,
    seq: 1,
    timestamp: 1_700_000_000_000,
    metaVersion: 1_700_000_000_000,
    ages: [
      { id: 1, ageMs: 3 },
      { id: 2, ageMs: 4 },
    ],
    entries: [
      { id: 1, state: 'alive', incarnation: 5, metaVersion: 6, want: false },
      { id: 2, state: 'alive', incarnation: 5, metaVersion: 6, want: false },
    ],
    blobs: [],
  };
  const data = encodeMessage(msg, key);
  const n = 50_000;
  const body = data.subarray(0, data.length - 16);
  const rows: (string | number)[][] = [['step (ring heartbeat, ' + String(data.length) + ' bytes)', 'µs']];
  rows.push(['encode + HMAC (what the code does)', micro(n, (i) => encodeMessage({ ...msg, seq: i + 1 }, key)).toFixed(2)]);
  rows.push(['decode + verify', micro(n, () => decodeMessage(data, keys)).toFixed(2)]);
  rows.push(["HMAC-SHA256 alone, the addon's HmacSha256 (what the code does)", micro(n, () => key.mac(body)).toFixed(2)]);
  rows.push(['HMAC-SHA256 alone, node:crypto with a KeyObject (before)', micro(n, () => createHmac('sha256', key.hmacKey).update(body).digest()).toFixed(2)]);
  console.log(`\nPer datagram (JavaScript only; the dgram send/receive and its syscall come on top), load ${load()}`);
  table(rows);
}

async function main(): Promise<void> {
  if (!argv.includes('--real-only')) perDatagram();
  if (!argv.includes('--real-only')) await simulation();
  if (!argv.includes('--no-real')) {
    const { realProcesses } = await import('./lib/scale-real.js');
    await realProcesses(REAL_SIZES, IDLE_S, WARMUP_S, FAILOVER_TRIALS, table, load);
  }
}

await main();
