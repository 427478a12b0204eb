/**
 * The membership on real worker threads, and on the main thread with the beat engine (the
 * default), over UDP on loopback, in this process: what a stalled main event loop does to the
 * failure detector. Every node's main thread is this one, so a busy loop here stalls all three;
 * the bound (mainLoopTimeoutMs) tells which node stops heartbeating.
 */
import { createSocket } from 'node:dgram';
import { pino } from 'pino';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/logger.js';
import type { MembershipView } from '../../../src/membership/membership.js';
import { WorkerMembership, type MembershipThread } from '../../../src/membership/worker-membership.js';
import { Membership } from '../../../src/membership/membership.js';
import { UdpTransport } from '../../../src/membership/udp-transport.js';
import { systemClock } from '../../../src/clock/system-clock.js';
import { MEMBERSHIP_THREAD_NAME } from '../../../src/membership/worker-protocol.js';

const SECRET = 'worker thread test secret, at least 32 bytes';
/**
 * Slower than the defaults (dead after 250 to 375 ms instead of 80 to 120), so that a test
 * suite loading the machine does not starve the workers into false deaths; the stalls below
 * are longer than the dead timeout all the same.
 */
const TIMING = { heartbeatMs: 30, suspectMs: 150, deadMs: 250 } as const;
const STALL_MS = 600;

async function freePorts(n: number): Promise<number[]> {
  const sockets = await Promise.all(
    Array.from({ length: n }, () => new Promise<ReturnType<typeof createSocket>>((resolve) => {
      const s = createSocket('udp4');
      s.bind(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = sockets.map((s) => s.address().port);
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the main event loop is stalled: bulk work, or a hang
  }
}

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await sleep(20);
  }
}

let nodes: WorkerMembership[] = [];
let inProcess: Membership | undefined;

afterEach(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await inProcess?.stop();
  nodes = [];
  inProcess = undefined;
});

/** Three nodes; `timeouts[i]`: mainLoopTimeoutMs of node i. Records, per node, every alive set its handlers saw. */
async function start(timeouts: readonly number[], thread?: MembershipThread) {
  const ports = await freePorts(3);
  const peers = ports.map((p, i) => ({ name: `n${i}`, address: `127.0.0.1:${p}` }));
  nodes = peers.map((p, i) => new WorkerMembership({ self: p.name, peers, secret: SECRET, bind: p.address, logger: silentLogger(), thread, options: { ...TIMING, mainLoopTimeoutMs: timeouts[i] ?? 2000 } }));
  const seen = nodes.map(() => [] as string[][]);
  nodes.forEach((n, i) => n.onChange((v: MembershipView) => seen[i]!.push([...v.alive].sort())));
  await Promise.all(nodes.map((n) => n.start()));
  await until(() => nodes.every((n) => n.alive().size === 3 && [...n.view().members.values()].every((m) => m.self || m.lastHeardMsAgo !== undefined)), 10_000);
  for (const s of seen) s.length = 0;
  // Deaths so far: peers whose worker started later were declared dead before first heard.
  await sleep(1100);
  const deaths = nodes.map((n) => n.stats().deaths);
  return { seen, deaths };
}

/**
 * n0 (bound 500 ms) and n1, n2 (60 s) on `thread`; the shared main loop stalls `stallMs`. Checks
 * that n1 and n2 saw n0 dead and alive again, and that n0 buried nobody; returns n0's refutations.
 */
async function hangOfN0(thread: MembershipThread | undefined, stallMs: number): Promise<string[]> {
  const { seen, deaths } = await start([500, 60_000, 60_000], thread);
  const refuted: string[] = [];
  nodes[0]!.onRefute((s) => refuted.push(s));
  busy(stallMs);
  await sleep(300);
  await until(() => nodes.every((n) => n.alive().size === 3), 5_000);
  await sleep(1200);
  for (const i of [1, 2]) {
    expect(seen[i]!.some((alive) => !alive.includes('n0'))).toBe(true);
    expect(nodes[i]!.stats().deaths).toBeGreaterThan(deaths[i]!);
    expect(seen[0]!.every((alive) => alive.includes(`n${i}`))).toBe(true);
  }
  return refuted;
}

const threadNames = (): string[] => readdirSync('/proc/self/task').map((t) => readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim());

/** Three nodes on `thread`, a main-loop stall longer than the dead timeout (STALL_MS): nobody dies, no hang, beats went on through the engine. */
async function shortStallCostsNothing(thread: MembershipThread | undefined): Promise<void> {
  const { seen, deaths } = await start([2000, 2000, 2000], thread);
  busy(STALL_MS);
  // Let every queued view message arrive, and one stats snapshot (every second).
  await sleep(1300);
  for (const s of seen) for (const alive of s) expect(alive).toHaveLength(3);
  for (const [i, n] of nodes.entries()) {
    expect(n.alive().size).toBe(3);
    expect(n.stats().deaths).toBe(deaths[i]);
    expect(n.mainLoopStats().hangs).toBe(0);
    expect(n.stats().beats).toMatchObject({ native: true, engine: true });
    expect(n.stats().beats!.accepted).toBeGreaterThan(50);
  }
}

describe('WorkerMembership on worker threads', { timeout: 40_000 }, () => {
  it('a main loop stalled longer than the dead timeout costs no false death: the worker keeps heartbeating', async () => {
    await shortStallCostsNothing('worker');
    // The membership threads carry their own OS name (top -H tells their CPU from the main thread's).
    expect(threadNames().filter((n) => n === MEMBERSHIP_THREAD_NAME)).toHaveLength(3);
  });

  it('a main loop silent beyond the bound: the worker holds heartbeats back, peers declare it dead, it comes back', async () => {
    // n0 holds back after 500 ms of silence; n1 and n2 (bound 60 s) keep heartbeating.
    const refuted = await hangOfN0('worker', 1500);
    expect(nodes[0]!.mainLoopStats()).toMatchObject({ hangs: 1, holding: false });
    expect(nodes[0]!.stats().mainLoopHangs).toBe(1);
    expect(nodes[0]!.mainLoopStats().heldDatagrams).toBeGreaterThan(0);
    expect(refuted.length).toBeGreaterThan(0);
  });

  it('(the problem) the in-process Membership on the same stalled loop is declared dead by its peers', async () => {
    const ports = await freePorts(3);
    const peers = ports.map((p, i) => ({ name: `n${i}`, address: `127.0.0.1:${p}` }));
    inProcess = new Membership({ self: 'n0', peers, secret: SECRET, clock: systemClock, transport: new UdpTransport({ bind: peers[0]!.address }), logger: silentLogger(), options: TIMING });
    nodes = peers.slice(1).map((p) => new WorkerMembership({ self: p.name, peers, secret: SECRET, bind: p.address, logger: silentLogger(), thread: 'worker', options: { ...TIMING, mainLoopTimeoutMs: 60_000 } }));
    const seen = nodes.map(() => [] as string[][]);
    nodes.forEach((n, i) => n.onChange((v: MembershipView) => seen[i]!.push([...v.alive].sort())));
    await Promise.all([inProcess.start(), ...nodes.map((n) => n.start())]);
    await until(() => nodes.every((n) => n.alive().size === 3) && inProcess!.alive().size === 3, 10_000);
    for (const x of seen) x.length = 0;
    busy(STALL_MS);
    await sleep(300);
    await until(() => nodes.every((n) => n.alive().size === 3), 5_000);
    for (const x of seen) expect(x.some((alive) => !alive.includes('n0'))).toBe(true);
  });

  it('on node:dgram (L2VIP_MEMBERSHIP_SOCKET=dgram) the workers say so at start and still see each other', async () => {
    const ports = await freePorts(2);
    const peers = ports.map((p, i) => ({ name: `n${i}`, address: `127.0.0.1:${p}` }));
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    process.env['L2VIP_MEMBERSHIP_SOCKET'] = 'dgram';
    try {
      nodes = peers.map((p) => new WorkerMembership({ self: p.name, peers, secret: SECRET, bind: p.address, logger, options: TIMING }));
      await Promise.all(nodes.map((n) => n.start()));
    } finally {
      delete process.env['L2VIP_MEMBERSHIP_SOCKET'];
    }
    await until(() => nodes.every((n) => n.alive().size === 2 && n.stats().accepted > 5), 10_000);
    expect(lines.filter((l) => l.includes('node:dgram socket'))).toHaveLength(2);
    // Without the engine the default is a worker: its heartbeats must not wait for the main loop.
    for (const n of nodes) expect(n.thread).toBe('worker');
    // Beats still flow, through the JS codec.
    await sleep(1100);
    for (const n of nodes) expect(n.stats().beats).toMatchObject({ native: false, engine: false });
    for (const n of nodes) expect(n.stats().beats!.accepted).toBeGreaterThan(20);
  });
});

describe('WorkerMembership on the main thread, with the beat engine (the default)', { timeout: 40_000 }, () => {
  it('runs on the main thread (no membership thread) and a main loop stalled longer than the dead timeout costs no false death: the engine beats on', async () => {
    await shortStallCostsNothing(undefined);
    for (const n of nodes) expect(n.thread).toBe('main');
    expect(threadNames().filter((n) => n === MEMBERSHIP_THREAD_NAME)).toHaveLength(0);
  });

  it('a main loop silent beyond the bound: the engine\'s watchdog stops the beats, peers declare the node dead, it comes back', async () => {
    // n0's engine stops after max(500, 3 x fullHeartbeatMs = 1 800) ms without a tick of its membership; n1 and n2 (60 s) beat on.
    const refuted = await hangOfN0(undefined, 2600);
    expect(refuted.length).toBeGreaterThan(0);
    // Counted once the loop is back (l2vip_membership_transitions_total{event="main-loop-hang"}), by n0 alone.
    expect(nodes.map((n) => n.mainLoopStats().hangs)).toEqual([1, 0, 0]);
  });
});
