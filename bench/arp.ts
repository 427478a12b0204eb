/**
 * ARP responder figures, each next to the kernel's own ARP reply measured in the same run.
 *
 *   npx tsx bench/arp.ts            (about 2.5 minutes; root: creates network namespaces)
 *   npx tsx bench/arp.ts --quick    (200 requests, 2 flood rates, one latency round)
 *   options: --rounds N (latency rounds, default 3), --rates 1000,5000 (flood rates),
 *            --only latency|flood, --profile DIR (the speaker runs with --cpu-prof into DIR),
 *            --no-floor (skip the floor responder)
 *
 * Two namespaces joined by a veth pair: the client (198.51.100.1/24) and the node
 * (198.51.100.2/24), where `l2vip announce -i eth0 198.51.100.200 --no-deliver` runs. A client
 * process (bench/lib/arp-client.ts) sends raw ARP requests from an AF_PACKET socket, so the
 * client's own neighbour cache is never involved, for two targets:
 *   - the VIP 198.51.100.200, answered by our responder (the node's kernel does not own it);
 *   - the node's address 198.51.100.2, answered by the node's kernel (net/ipv4/arp.c).
 *
 * 1. Latency: requests alternate between the targets, one at a time, 1 ms apart, after a
 *    warm-up; round trips from process.hrtime.bigint() before send() to the reply's arrival in
 *    the client's JavaScript. Goal: ours p50 at most 2x the kernel's p50. A second pass does
 *    the same with 198.51.100.201, answered by bench/lib/floor-responder.ts (same socket and
 *    filter, no l2vip code) while the speaker is stopped, so that what the architecture costs (a
 *    process must wake up) and what our code costs are told apart.
 * 2. Flood: paced requests at increasing rates for 2 s each, first for the VIP, then for the
 *    node's address; replies counted by nftables where they enter the client's interface (so a
 *    descheduled client does not count as loss), and where the missing ones were lost (node
 *    backlog, speaker socket). The speaker's CPU from /proc/PID/stat (and schedstat) and its
 *    RSS, next to an idle node process's. The kernel's CPU cannot be attributed to a process:
 *    only its loss is shown.
 */
import { cpus, loadavg, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientEvent, FloodDoneEvent, FloodSentEvent, LatencyEvent } from './lib/arp-client-protocol.js';
import type { JsonLine } from './lib/json-lines.js';
import { createNetnsPair, linkCounters, type LinkCounters, type NetnsPair } from './lib/netns-pair.js';
import { NetnsProcess } from './lib/netns-process.js';
import { summarize, type Summary } from './lib/percentiles.js';
import { cpuPercent, cpuSample, rssMiB } from './lib/proc-stats.js';
import { ReplyCounter } from './lib/reply-counter.js';

const VIP = '198.51.100.200';
/** Answered by bench/lib/floor-responder.ts, the least a Node responder can do. */
const FLOOR_IP = '198.51.100.201';
const CLIENT_CIDR = '198.51.100.1/24';
const NODE_CIDR = '198.51.100.2/24';
const RATIO_GOAL = 2;
/** The rate at which the speaker's CPU and RSS are reported. */
const CPU_RATE = 10_000;

interface Options {
  readonly quick: boolean;
  readonly count: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly rates: readonly number[];
  readonly floodMs: number;
  readonly latency: boolean;
  readonly flood: boolean;
  /** Directory for the speaker's --cpu-prof output, if profiling. */
  readonly profileDir: string | undefined;
  /** Also measure the floor responder's latency (default; --no-floor skips it). */
  readonly floor: boolean;
}

function options(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const rates = value('--rates')?.split(',').map(Number) ?? (quick ? [1_000, 10_000] : [1_000, 2_000, 5_000, 10_000, 20_000, 50_000]);
  const rounds = Number(value('--rounds') ?? (quick ? 1 : 3));
  const only = value('--only');
  if (rates.some((r) => !Number.isInteger(r) || r <= 0) || !Number.isInteger(rounds) || rounds <= 0 || (only !== undefined && only !== 'latency' && only !== 'flood')) {
    throw new Error('usage: npx tsx bench/arp.ts [--quick] [--rounds N] [--rates R1,R2,...] [--only latency|flood] [--profile DIR] [--no-floor]');
  }
  return {
    quick,
    count: quick ? 200 : 2_000,
    warmup: 100,
    rounds,
    rates,
    floodMs: quick ? 1_000 : 2_000,
    latency: only !== 'flood',
    flood: only !== 'latency',
    profileDir: value('--profile'),
    floor: !argv.includes('--no-floor'),
  };
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function us(v: number): string {
  return `${v.toFixed(0)} µs`;
}

/** Waits for the client's `event`, failing at once if it reports an error instead. */
async function clientEvent<E extends ClientEvent>(client: NetnsProcess, event: E['event'], timeoutMs: number): Promise<E> {
  const line: JsonLine = await client.lines.next((l) => l.event === event || l.event === 'error', timeoutMs, `a "${event}" event`);
  if (line.event === 'error') throw new Error(`arp client: ${String(line.message)}`);
  return line as unknown as E;
}

interface SpeakerCounters {
  requestsReceived: number;
  responsesSent: number;
  drops: number;
}

/** The speaker's counters, from the JSON line it logs on SIGUSR1. */
async function speakerCounters(speaker: NetnsProcess): Promise<SpeakerCounters> {
  process.kill(speaker.pid, 'SIGUSR1');
  const line = await speaker.lines.next((l) => l.msg === 'counters', 10_000, 'the counters log line');
  const stats = line.stats as { perIp: Record<string, { requestsReceived: number; responsesSent: number }>; drops: Record<string, number> };
  const vip = stats.perIp[VIP] ?? { requestsReceived: 0, responsesSent: 0 };
  return {
    requestsReceived: vip.requestsReceived,
    responsesSent: vip.responsesSent,
    drops: Object.values(stats.drops).reduce((a, b) => a + b, 0),
  };
}

/** One latency pass: a responder's target and the kernel's, alternating, with only that responder running. */
interface LatencyPass {
  readonly label: 'ours' | 'floor';
  readonly ip: string;
  readonly responder: NetnsProcess;
}

interface PassResult {
  readonly responder: Summary;
  readonly kernel: Summary;
  readonly lost: number;
}

/**
 * Each round runs the passes one after the other. A pass stops (SIGSTOP) the other responder,
 * so that exactly one process wakes for every ARP frame, in every pass, as in production where
 * the speaker sees all of them; frames queued for a stopped process are read when it resumes
 * and are absorbed by the next pass's warm-up.
 */
async function latency(env: { pair: NetnsPair; client: NetnsProcess }, passes: readonly LatencyPass[], o: Options): Promise<Map<string, PassResult>> {
  console.log(
    `\nLatency: ${o.count} requests per target per pass, ${o.rounds} round(s) of ${passes.map((p) => `${p.label}+kernel`).join(', then ')}; ` +
      `${o.warmup} warm-up requests per target; alternating, one at a time, 1 ms apart, timeout 100 ms`,
  );
  const pooled = new Map(passes.map((p) => [p.label, { responder: [] as number[], kernel: [] as number[], lost: 0 }]));
  const setRunning = (run: NetnsProcess): void => {
    for (const p of passes) process.kill(p.responder.pid, p.responder === run ? 'SIGCONT' : 'SIGSTOP');
  };
  try {
    for (let r = 1; r <= o.rounds; r++) {
      const row: string[] = [];
      const loadBefore = load();
      for (const pass of passes) {
        setRunning(pass.responder);
        env.client.send({ cmd: 'latency', targets: [pass.ip, env.pair.node.ip], count: o.count, warmup: o.warmup, timeoutMs: 100, gapMs: 1 });
        const res = await clientEvent<LatencyEvent>(env.client, 'latency', 600_000);
        const acc = pooled.get(pass.label)!;
        const ok = (ip: string): number[] => res.samples[ip]!.filter((v): v is number => v !== null);
        const mine = ok(pass.ip);
        const kernel = ok(env.pair.node.ip);
        acc.responder.push(...mine);
        acc.kernel.push(...kernel);
        acc.lost += 2 * o.count - mine.length - kernel.length;
        const a = summarize(mine);
        const k = summarize(kernel);
        row.push(`${pass.label} ${us(a.p50)} / kernel ${us(k.p50)} = ${(a.p50 / k.p50).toFixed(2)}`);
      }
      console.log(`  round ${r} (p50): ${row.join(' | ')}   (load ${loadBefore} -> ${load()})`);
    }
  } finally {
    for (const p of passes) process.kill(p.responder.pid, 'SIGCONT');
  }
  const results = new Map<string, PassResult>();
  console.log(`  ${'all rounds'.padEnd(40)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)} ${'max'.padStart(10)}`);
  const row = (label: string, x: Summary): void =>
    console.log(`  ${label.padEnd(40)} ${us(x.p50).padStart(9)} ${us(x.p90).padStart(9)} ${us(x.p99).padStart(9)} ${us(x.max).padStart(10)}`);
  for (const pass of passes) {
    const acc = pooled.get(pass.label)!;
    const result = { responder: summarize(acc.responder), kernel: summarize(acc.kernel), lost: acc.lost };
    results.set(pass.label, result);
    row(`${pass.label} (${pass.ip})`, result.responder);
    row(`  kernel (${env.pair.node.ip}), same pass`, result.kernel);
    console.log(`  ${''.padEnd(40)} ratio p50 ${(result.responder.p50 / result.kernel.p50).toFixed(2)}, lost ${result.lost}`);
  }
  const ours = results.get('ours')!;
  const ratio = ours.responder.p50 / ours.kernel.p50;
  console.log(`  ratio ours/kernel p50: ${ratio.toFixed(2)}   goal <= ${RATIO_GOAL}   ${ratio <= RATIO_GOAL ? 'met' : 'MISSED'}`);
  const floor = results.get('floor');
  if (floor !== undefined) {
    console.log(
      `  floor/kernel p50: ${(floor.responder.p50 / floor.kernel.p50).toFixed(2)}: what any Node responder pays (its wake-up, then the client's), ` +
        "where the kernel answers within the client's own sendto()",
    );
    // Each responder against the kernel of its own pass, so that load changing between passes cancels out.
    const oursExtra = ours.responder.p50 - ours.kernel.p50;
    const floorExtra = floor.responder.p50 - floor.kernel.p50;
    console.log(
      `  p50 above the kernel of the same pass: ours ${us(oursExtra)}, floor ${us(floorExtra)}; ` +
        `difference ${us(oursExtra - floorExtra)} = l2vip's own work per request (decoding, checks, counters, the reply), within the noise of the run`,
    );
  }
  return results;
}

interface FloodStep {
  readonly target: 'ours' | 'kernel';
  readonly rate: number;
  readonly sent: number;
  /** Replies that entered the client's interface (nftables counter). */
  readonly delivered: number;
  /** Replies the client process itself read (lower when its socket queue overflowed). */
  readonly counted: number;
  readonly elapsedMs: number;
  readonly maxBatch: number;
  /** Speaker CPU while the requests were sent, % of one core. */
  readonly cpu: { stat: number; sched: number };
  readonly rss: number;
  /** Requests that reached the node (its eth0 rx) and that its input queue dropped (the client veth's tx_dropped). */
  readonly nodeRx: number;
  readonly backlogDrops: number;
  /** Our responder: requests for the VIP that reached JavaScript, and replies sent. */
  readonly speakerRequests: number;
  readonly speakerReplies: number;
  /** Frames the speaker dropped (for the kernel's target: every request it saw). */
  readonly speakerDrops: number;
  readonly load: string;
}

function delta(a: LinkCounters, b: LinkCounters, k: keyof LinkCounters): number {
  return b[k] - a[k];
}

async function floodStep(
  env: { pair: NetnsPair; speaker: NetnsProcess; client: NetnsProcess; replies: ReplyCounter },
  target: 'ours' | 'kernel',
  rate: number,
  o: Options,
): Promise<FloodStep> {
  const { pair, speaker, client, replies } = env;
  const ip = target === 'ours' ? VIP : pair.node.ip;
  const c0 = await speakerCounters(speaker);
  const n0 = linkCounters(pair.node.ns);
  const k0 = linkCounters(pair.client.ns);
  const r0 = replies.read(ip);
  client.send({ cmd: 'flood', target: ip, rate, durationMs: o.floodMs, drainMs: 300 });
  await clientEvent(client, 'flood-start', 10_000);
  const cpuA = cpuSample(speaker.pid);
  const sent = await clientEvent<FloodSentEvent>(client, 'flood-sent', o.floodMs + 30_000);
  const cpuB = cpuSample(speaker.pid);
  const rss = rssMiB(speaker.pid);
  const done = await clientEvent<FloodDoneEvent>(client, 'flood-done', 10_000);
  const c1 = await speakerCounters(speaker);
  const n1 = linkCounters(pair.node.ns);
  const k1 = linkCounters(pair.client.ns);
  return {
    target,
    rate,
    sent: done.sent,
    delivered: replies.read(ip) - r0,
    counted: done.replies,
    elapsedMs: sent.elapsedMs,
    maxBatch: sent.maxBatch,
    cpu: cpuPercent(cpuA, cpuB),
    rss,
    nodeRx: delta(n0, n1, 'rxPackets'),
    backlogDrops: delta(k0, k1, 'txDropped'),
    speakerRequests: c1.requestsReceived - c0.requestsReceived,
    speakerReplies: c1.responsesSent - c0.responsesSent,
    speakerDrops: c1.drops - c0.drops,
    load: load(),
  };
}

function highestLossless(steps: readonly FloodStep[], target: 'ours' | 'kernel'): string {
  let best: number | undefined;
  for (const s of steps.filter((x) => x.target === target).sort((a, b) => a.rate - b.rate)) {
    if (s.delivered < s.sent) break;
    best = s.rate;
  }
  return best === undefined ? 'none' : `${best.toLocaleString('en-US')} req/s`;
}

/** RSS of an idle `node <argv>` in `ns`: what the runtime (and tsx) cost before any l2vip code. */
async function idleNodeRss(ns: string, argv: readonly string[]): Promise<number> {
  const p = NetnsProcess.start(ns, [...argv, '-e', 'console.log("{}"); setInterval(() => {}, 1 << 30);'], 'idle node');
  try {
    await p.lines.next(() => true, 60_000, 'its first line');
    await sleep(1000);
    return rssMiB(p.pid);
  } finally {
    await p.stop();
  }
}

async function flood(env: { pair: NetnsPair; speaker: NetnsProcess; client: NetnsProcess; replies: ReplyCounter }, o: Options): Promise<FloodStep[]> {
  console.log(
    `\nFlood: requests for one target at a time, paced per ms, ${o.floodMs / 1000} s per rate; replies counted by nftables ` +
      'on the client interface until 300 ms after the last request',
  );
  const idleRss = rssMiB(env.speaker.pid);
  const steps: FloodStep[] = [];
  for (const rate of o.rates) {
    for (const target of ['ours', 'kernel'] as const) steps.push(await floodStep(env, target, rate, o));
  }
  const pct = (s: FloodStep): string => `${((100 * (s.sent - s.delivered)) / s.sent).toFixed(2)}%`;
  console.log(
    `  ${'rate/s'.padStart(7)} | ${'ours: replies/sent'.padStart(19)} ${'loss'.padStart(7)} ${'CPU% stat/sched'.padStart(16)} ${'RSS'.padStart(8)} | ` +
      `${'kernel: replies/sent'.padStart(21)} ${'loss'.padStart(7)} ${'speaker CPU%'.padStart(13)} | load`,
  );
  for (const rate of o.rates) {
    const a = steps.find((s) => s.rate === rate && s.target === 'ours')!;
    const b = steps.find((s) => s.rate === rate && s.target === 'kernel')!;
    console.log(
      `  ${String(rate).padStart(7)} | ${`${a.delivered}/${a.sent}`.padStart(19)} ${pct(a).padStart(7)} ` +
        `${`${a.cpu.stat.toFixed(1)}/${a.cpu.sched.toFixed(1)}`.padStart(16)} ${`${a.rss.toFixed(0)} MiB`.padStart(8)} | ` +
        `${`${b.delivered}/${b.sent}`.padStart(21)} ${pct(b).padStart(7)} ${b.cpu.sched.toFixed(1).padStart(13)} | ${a.load}`,
    );
  }
  console.log('  (speaker CPU% under "kernel": what the speaker spends reading and dropping requests for an address it does not own)');
  console.log('  where the requests and replies went: node rx = requests reaching the node; backlog = dropped by its input queue;');
  console.log('  speaker = VIP requests reaching JavaScript / replies it sent; delivered = replies entering the client interface;');
  console.log('  client read = replies the client process read (its own queue overflows when it is descheduled):');
  for (const s of steps) {
    const achieved = s.elapsedMs > 0 ? Math.round((s.sent * 1000) / s.elapsedMs) : 0;
    const speaker = s.target === 'ours' ? `speaker ${s.speakerRequests}/${s.speakerReplies}` : `speaker drops ${s.speakerDrops}`;
    console.log(
      `    ${s.target.padEnd(6)} ${String(s.rate).padStart(6)}/s: sent ${s.sent} (achieved ${achieved}/s, max batch ${s.maxBatch}), node rx ${s.nodeRx}, ` +
        `backlog drops ${s.backlogDrops}, ${speaker}, delivered ${s.delivered}, client read ${s.counted}`,
    );
  }
  const idleTsx = await idleNodeRss(env.pair.node.ns, ['--import', 'tsx']);
  const idlePlain = await idleNodeRss(env.pair.node.ns, []);
  const at = steps.find((s) => s.target === 'ours' && s.rate === CPU_RATE);
  console.log(`  highest rate without loss: ours ${highestLossless(steps, 'ours')}, kernel ${highestLossless(steps, 'kernel')} (of the rates tried)`);
  if (at !== undefined) {
    console.log(
      `  speaker at ${CPU_RATE.toLocaleString('en-US')} req/s: CPU ${at.cpu.stat.toFixed(1)}% (stat, 10 ms ticks) / ${at.cpu.sched.toFixed(1)}% (schedstat) of one core; ` +
        'kernel CPU: not attributable to a process',
    );
    console.log(
      `  speaker RSS: ${at.rss.toFixed(1)} MiB at ${CPU_RATE.toLocaleString('en-US')} req/s, ${idleRss.toFixed(1)} MiB before the flood | baselines, idle node: ` +
        `${idleTsx.toFixed(1)} MiB with --import tsx (as the speaker runs here), ${idlePlain.toFixed(1)} MiB plain`,
    );
  }
  return steps;
}

/**
 * Starts `l2vip announce` in `ns` and waits until it answers. Up to 5 attempts: a start-up can
 * die with "[Error: Invalid argument]" (or exit silently) when a garbage collection runs while
 * LinkWatcher.start() is pending, because a polled native socket is only weakly held (see
 * docs/benchmarks.md, "Known issue").
 */
async function startSpeaker(ns: string, profileDir: string | undefined): Promise<NetnsProcess> {
  // 50 µs sampling: a request costs the speaker tens of µs, so the default 1 ms would miss most of them.
  const prof = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', profileDir];
  for (let attempt = 1; ; attempt++) {
    const argv = [...prof, '--import', 'tsx', 'src/cli/main.ts', 'announce', '-i', 'eth0', VIP, '--no-deliver'];
    const speaker = NetnsProcess.start(ns, argv, 'l2vip announce');
    try {
      await speaker.lines.next((l) => l.msg === 'announce started', 60_000, 'the "announce started" log line');
      speaker.checkIsNode();
      return speaker;
    } catch (err) {
      await speaker.stop();
      const why = `${err instanceof Error ? err.message : String(err)}${speaker.stderrTail()}`;
      if (attempt >= 5) throw new Error(why);
      console.log(`l2vip announce failed to start (attempt ${attempt}), retrying: ${why.split('\n').filter((l) => l.trim() !== '').slice(-2).join(' | ')}`);
    }
  }
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  console.log(
    `bench/arp ${new Date().toISOString()}  ${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), Linux ${release()}, Node ${process.version}` +
      `${o.quick ? '  --quick' : ''}\nload average at start: ${load()}`,
  );
  const pair = createNetnsPair({ clientCidr: CLIENT_CIDR, nodeCidr: NODE_CIDR });
  let speaker: NetnsProcess | undefined;
  let client: NetnsProcess | undefined;
  let floor: NetnsProcess | undefined;
  try {
    const replies = ReplyCounter.install(pair.client.ns, 'eth0', pair.client.mac, [VIP, pair.node.ip]);
    speaker = await startSpeaker(pair.node.ns, o.profileDir);
    const clientArgv = ['--import', 'tsx', 'bench/lib/arp-client.ts', '--iface', 'eth0', '--ip', pair.client.ip, '--mac', pair.client.mac];
    client = NetnsProcess.start(pair.client.ns, clientArgv, 'arp client');
    await clientEvent(client, 'ready', 60_000);
    console.log(`namespaces ${pair.client.ns} / ${pair.node.ns}; speaker pid ${speaker.pid}, client pid ${client.pid}`);

    const passes: LatencyPass[] = [{ label: 'ours', ip: VIP, responder: speaker }];
    if (o.floor && o.latency) {
      const argv = ['--import', 'tsx', 'bench/lib/floor-responder.ts', '--iface', 'eth0', '--ip', FLOOR_IP, '--mac', pair.node.mac];
      floor = NetnsProcess.start(pair.node.ns, argv, 'floor responder');
      await floor.lines.next((l) => l.event === 'ready', 60_000, 'its "ready" line');
      floor.checkIsNode();
      passes.push({ label: 'floor', ip: FLOOR_IP, responder: floor });
    }
    const lat = o.latency ? await latency({ pair, client }, passes, o) : undefined;
    await floor?.stop();
    if (o.flood) await flood({ pair, speaker, client, replies }, o);
    console.log(`\nload average at end: ${load()}`);
    const ours = lat?.get('ours');
    if (ours !== undefined && ours.responder.p50 / ours.kernel.p50 > RATIO_GOAL) process.exitCode = 1;
  } finally {
    client?.send({ cmd: 'quit' });
    await client?.stop();
    await floor?.stop();
    await speaker?.stop();
    pair.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
