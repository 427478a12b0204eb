/**
 * bench:scale, real processes: `l2vip standalone` (the built CLI, dist/) on N nodes of the lab
 * (src/lab) in network namespaces, idle (the client probes the VIPs once a second), and the CPU
 * and RSS of every speaker (and of its membership, beat engine and main threads), for the ring
 * topology with the addon's beat engine and the membership on the main thread (today); at N = 3
 * the same with the membership on a worker thread (L2VIP_MEMBERSHIP_THREAD=worker, the design
 * until 2026-11-30), and without the engine
 * (L2VIP_MEMBERSHIP_SOCKET=polled: a tick every heartbeat) and, also without it, with every
 * heartbeat full (no beats, as wire version 3); and the former design (full mesh at its former default heartbeat: 5 ms up to 5 nodes, 10 ms up to 16,
 * else 20 ms; node:dgram). Local delivery
 * stays on (the lab's echo service binds the VIPs; it spawns nothing while idle). Node runs with
 * the flags of bin/l2vip.js. L2VIP_SCALE_CPU_PROF=DIR writes V8 profiles of the speakers.
 *
 * Then, for the ring (today's design) at each size, failover on a second lab with the failover
 * bench's client (a probe every 2 ms): kill -9 of the owner, `trials` times, client outage
 * p50/max over IPv4 and IPv6 (issue 10: p50 <= 150 ms, max <= 300 ms, whatever N).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabContext } from '../../src/lab/node-runner.js';
import type { LabHost } from '../../src/lab/topology.js';
import { binNodeFlags, StandaloneRunner } from '../../src/lab/standalone-runner.js';
import { INTERVAL_MS, withLab } from './failover-lab.js';
import { summarize } from './percentiles.js';
import { MEMBERSHIP_THREAD_NAME } from '../../src/membership/worker-protocol.js';

/** The OS name of the addon's beat engine thread (native/afpacket/src/datagram-socket.cc). */
const ENGINE_THREAD_NAME = 'l2vip-beats';
import { anonMiB, rssMiB, threadSample, threadUse } from './proc-stats.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** The standalone runner on the built CLI (no tsx loader in the measured process), with membership options. */
class BuiltStandaloneRunner extends StandaloneRunner {
  constructor(
    private readonly membershipYaml: string,
    extraConfig = '',
    /** Environment of the speakers, e.g. L2VIP_MEMBERSHIP_SOCKET=polled (no beat engine), L2VIP_MEMBERSHIP_THREAD=worker. */
    private readonly environment: readonly string[] = [],
    /** More arguments of `l2vip standalone`, e.g. --jit full. */
    private readonly args: readonly string[] = [],
  ) {
    super(extraConfig);
  }

  override config(ctx: LabContext, n: LabHost): string {
    return super.config(ctx, n).replace(/^( {2}secretFile: .*)$/m, `$1\n  membership: ${this.membershipYaml}`);
  }

  override command(ctx: LabContext, n: LabHost): string[] {
    // L2VIP_SCALE_CPU_PROF=DIR: each speaker writes a V8 CPU profile there when it stops.
    const prof = process.env['L2VIP_SCALE_CPU_PROF'];
    const flags = prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof];
    // env(1) execs node in place: the lab's pid of the node stays node's.
    const env = this.environment.length === 0 ? [] : ['env', ...this.environment];
    return [...env, process.execPath, ...binNodeFlags(), ...flags, join(ROOT, 'bin', 'l2vip.js'), 'standalone', '--config', join(ctx.dir, `${n.name}.yaml`), ...this.args];
  }
}

function formerHeartbeat(size: number): number {
  return size <= 5 ? 5 : size <= 16 ? 10 : 20;
}

interface Idle {
  readonly cpuMean: number;
  readonly cpuMax: number;
  /** Means over the speakers: the membership thread's CPU % and wakeups/s, the main thread's CPU %. */
  readonly memberCpu: number;
  readonly memberWakeups: number;
  /** The addon's beat engine thread (l2vip-beats): CPU % and wakeups/s (0 without the engine). */
  readonly engineCpu: number;
  readonly engineWakeups: number;
  readonly mainCpu: number;
  readonly rssMean: number;
  /** Mean anonymous memory (RSS less file pages such as the node binary's text), MiB. */
  readonly anonMean: number;
  readonly rssMax: number;
  readonly load: string;
}

async function idle(size: number, membershipYaml: string, environment: readonly string[], args: readonly string[], seconds: number, warmupSeconds: number, load: () => string): Promise<Idle> {
  const print = (l: string) => console.error(`  ${l}`);
  return withLab({ nodes: size, fault: 'kill', intervalMs: 1000, print, nodeRunner: new BuiltStandaloneRunner(membershipYaml, '', environment, args) }, async (lab) => {
    // Start-up (module loading, V8's optimising compiler on background threads) is not idle.
    await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
    const pids = [...lab.softwarePids().values()];
    const ta = pids.map((p) => threadSample(p));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const tb = pids.map((p) => threadSample(p));
    // Every thread's schedstat, summed: the speaker's CPU, from the same reads as the per-thread figures.
    const cpu = pids.map((_, i) => threadUse(ta[i]!, tb[i]!, () => true).cpu);
    const member = pids.map((_, i) => threadUse(ta[i]!, tb[i]!, (_tid, name) => name === MEMBERSHIP_THREAD_NAME));
    const engine = pids.map((_, i) => threadUse(ta[i]!, tb[i]!, (_tid, name) => name === ENGINE_THREAD_NAME));
    const main = pids.map((p, i) => threadUse(ta[i]!, tb[i]!, (tid) => tid === p));
    const mean = (xs: readonly number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
    const rss = pids.map((p) => rssMiB(p));
    const anon = pids.map((p) => anonMiB(p));
    if (process.env['L2VIP_SCALE_CPU_PROF'] !== undefined) {
      for (const p of pids) process.kill(p, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 5000));
    }
    const c = summarize(cpu);
    const r = summarize(rss);
    return {
      cpuMean: mean(cpu),
      cpuMax: c.max,
      memberCpu: mean(member.map((m) => m.cpu)),
      memberWakeups: mean(member.map((m) => m.wakeups)),
      engineCpu: mean(engine.map((m) => m.cpu)),
      engineWakeups: mean(engine.map((m) => m.wakeups)),
      mainCpu: mean(main.map((m) => m.cpu)),
      rssMean: mean(rss),
      anonMean: mean(anon),
      rssMax: r.max,
      load: load(),
    };
  });
}

interface Failover {
  readonly outages: number[];
  readonly failed: number;
  readonly load: string;
}

/** kill -9 of the owner `trials` times on `size` ring nodes; outages of both VIPs, ms. */
async function failover(size: number, trials: number, load: () => string): Promise<Failover> {
  const print = (l: string) => console.error(`  ${l}`);
  return withLab({ nodes: size, fault: 'kill', print, nodeRunner: new BuiltStandaloneRunner('{ topology: ring }') }, async (lab) => {
    const outages: number[] = [];
    let lost = 0;
    for (let i = 1; i <= trials; i++) {
      const r = await lab.trial(i);
      if (r.newOwner === undefined) lost++;
      outages.push(r.ipv4.outageMs, r.ipv6.outageMs);
      print(`N=${size} kill -9 #${i}: ${r.oldOwner} -> ${r.newOwner ?? 'nobody'}, IPv4 ${r.ipv4.outageMs.toFixed(0)} ms, IPv6 ${r.ipv6.outageMs.toFixed(0)} ms`);
    }
    return { outages, failed: lost, load: load() };
  });
}

export async function realProcesses(
  sizes: readonly number[],
  seconds: number,
  warmupSeconds: number,
  trials: number,
  table: (rows: readonly (readonly (string | number)[])[]) => void,
  load: () => string,
): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('\nReal processes: skipped (needs root for network namespaces: sudo npm run bench:scale)');
    return;
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    console.log('\nReal processes: skipped (the CLI is not built: npm run build)');
    return;
  }
  console.log(`\nReal processes: idle l2vip standalone speakers in network namespaces, ${seconds} s each from ${warmupSeconds} s after start (CPU: % of one core, schedstat; "membership thread": a worker's, "-" when the membership runs on the main thread; "main": the main thread)`);
  console.log('  goal: 3 nodes <= 1 % CPU and <= 60 MB RSS per speaker ("anon": RSS less file pages such as the node binary, about 40 MB, shared by every node process)');
  const rows: (string | number)[][] = [['N', 'design', 'CPU % mean', 'max', 'membership thread %', 'wakeups/s', 'engine %', 'wakeups/s', 'main %', 'RSS MiB mean', 'max', 'anon MiB', 'load average']];
  for (const size of sizes) {
    for (const [design, yaml, environment, args = []] of [
      ['ring, beat engine, main thread', '{ topology: ring }', []],
      // The membership on a worker thread, then without the engine (a tick every heartbeat, on a
      // worker), and also with every heartbeat full, as wire version 3 sent: what each step saves, in the same run.
      ...(size <= 3
        ? [
            // TurboFan on (--jit full, the default until 2026-11-30): about 7 MB more resident.
            ['ring, beat engine, main thread, --jit full', '{ topology: ring }', [], ['--jit', 'full']] as const,
            ['ring, beat engine, worker thread', '{ topology: ring }', ['L2VIP_MEMBERSHIP_THREAD=worker']] as const,
            ['ring, no engine (polled socket)', '{ topology: ring }', ['L2VIP_MEMBERSHIP_SOCKET=polled']] as const,
            ['ring, no engine, every heartbeat full (as wire v3)', '{ topology: ring, fullHeartbeatMs: 10 }', ['L2VIP_MEMBERSHIP_SOCKET=polled']] as const,
          ]
        : []),
      // The design issue 10 started from: full mesh at its former period, node:dgram.
      [`mesh, ${formerHeartbeat(size)} ms, node:dgram (former)`, `{ topology: mesh, heartbeatMs: ${formerHeartbeat(size)} }`, ['L2VIP_MEMBERSHIP_SOCKET=dgram']],
    ] as const) {
      try {
        const r = await idle(size, yaml, environment, args, seconds, warmupSeconds, load);
        const onWorker = r.memberWakeups > 0 || r.memberCpu > 0;
        rows.push([size, design, r.cpuMean.toFixed(2), r.cpuMax.toFixed(2), onWorker ? r.memberCpu.toFixed(2) : '-', onWorker ? r.memberWakeups.toFixed(0) : '-', r.engineCpu.toFixed(2), r.engineWakeups.toFixed(0), r.mainCpu.toFixed(2), r.rssMean.toFixed(1), r.rssMax.toFixed(1), r.anonMean.toFixed(1), r.load]);
      } catch (err) {
        // A lab that does not come up (a machine too busy to start N speakers in a minute) costs its row, not the table.
        rows.push([size, design, 'lab failed', '', '', '', '', '', '', '', '', '', load()]);
        console.error(`  ${(err as Error).message}`);
      }
      console.error(`  [${rows.at(-1)!.join(' | ')}]`);
    }
  }
  table(rows);
  if (trials <= 0) return;

  console.log(`\nReal processes: failover of the ring, kill -9 of the owner, ${trials} trials per size (client probe every ${INTERVAL_MS} ms)`);
  console.log('  goal: outage p50 <= 150 ms, max <= 300 ms, whatever N');
  const fo: (string | number)[][] = [['N', 'outage p50 ms', 'max', 'samples (IPv4 + IPv6)', 'no new owner', 'goal', 'load average']];
  for (const size of sizes) {
    try {
      const r = await failover(size, trials, load);
      const s = summarize(r.outages);
      const ok = s.p50 <= 150 && s.max <= 300 && r.failed === 0;
      fo.push([size, s.p50.toFixed(0), s.max.toFixed(0), s.n, r.failed, ok ? 'ok' : 'MISSED', r.load]);
    } catch (err) {
      fo.push([size, 'lab failed', '', '', '', '', load()]);
      console.error(`  ${(err as Error).message}`);
    }
    console.error(`  [${fo.at(-1)!.join(' | ')}]`);
  }
  table(fo);
}
