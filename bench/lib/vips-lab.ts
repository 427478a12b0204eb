/**
 * Many VIPs on one speaker, as an operator with many services runs it (bench/vips.ts and
 * test/netns/many-vips.test.ts): 3 nodes running `l2vip standalone` in namespaces on one bridge
 * (src/lab/topology.ts), one service with N IPv4 VIPs on one /16, and a client (vip-watch.ts)
 * ARPing the first and the last VIP every 20 ms from before the speakers start. Then kill -9 of
 * every process of the owner. What the client saw is reduced by vips-trace.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnRunner } from '../../src/host/command-runner.js';
import { selfCommand } from '../../src/lab/standalone-runner.js';
import { labService, standaloneYaml } from '../../src/lab/standalone-yaml.js';
import { buildTopology, destroyTopology, labId, planTopology, type LabHost, type LabTopology } from '../../src/lab/topology.js';
import { onCleanup } from './cleanup.js';
import { rssMiB } from './proc-stats.js';
import type { ReplyLine, SweepLine, WatchLine } from './vip-watch.js';
import { cachedMac, doubleAnswers, failoverOutage, firstAnnouncement, firstAnswer, ownerChanges, type VipTrace } from './vips-trace.js';

export const PROBE_INTERVAL_MS = 20;
const METRICS_PORT = 9477;
/** After both watched VIPs answered: how long start-up is watched for owner changes. */
const STEADY_MS = 5_000;
const TIMEOUT_MS = 60_000;

/** VIP number i (0-based) of the /16: 198.18.0.0/15 is RFC 2544's benchmarking range. */
export function vipAt(i: number): string {
  return `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export interface VipsRunOptions {
  readonly vips: number;
  readonly print: (line: string) => void;
  /** Keep the lab's logs: undefined on failure only, true always, false never (their directory is printed). */
  readonly keepLogs?: boolean;
  /** The l2vip to run (default this checkout): e.g. a checkout of the code before, for a baseline. */
  readonly command?: readonly string[];
}

export interface PerVip {
  readonly first: number;
  readonly last: number;
}

export interface VipsResult {
  readonly vips: number;
  readonly owner: string;
  /** Changes of the MAC a client learns for the VIP, from the start until the kill. */
  readonly startupChanges: PerVip;
  /** Probes answered by two nodes at once, from the start until the kill. */
  readonly doubleAnswers: PerVip;
  /** From the start of the speakers until the VIP first answered, ms. */
  readonly answeredMs: PerVip;
  /** VIPs that answered a sweep of all of them after start-up, and how many of those the owner answered. */
  readonly sweep: { readonly answered: number; readonly byOwner: number };
  /** Failover outage after kill -9 of the owner, ms. */
  readonly outageMs: PerVip;
  /** From the kill to the new owner's first gratuitous announcement of the VIP, ms. */
  readonly announcedMs: PerVip;
  /** VIPs (of first and last) whose client cache still points at the killed node 2 s after the kill. */
  readonly stranded: number;
  /** Peak resident set of the owner's speaker from its start until the sweep (before the one /metrics scrape), MiB. */
  readonly ownerRssMiB: number;
  /** Lines the owner logged from its start until the kill (at info). */
  readonly ownerLogLines: number;
  /** The most lines any node logged in that time. */
  readonly maxLogLines: number;
  /** Longest event-loop stall of the owner (l2vip_event_loop_max_lag_seconds), ms. */
  readonly maxStallMs: number;
  /** The same after 4 scrapes of /metrics and one of /status (the longest of all so far), ms. */
  readonly scrapeStallMs: number;
  /** The owner's resident set after those scrapes, MiB. */
  readonly rssAfterScrapesMiB: number;
  readonly logDir: string;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface Node {
  readonly host: LabHost;
  readonly proc: ChildProcess;
  mac: string;
  lines: number;
  rss: number;
}

/** Runs one start-up and one kill -9 with `vips` VIPs; always removes the namespaces. */
export async function runVips(o: VipsRunOptions): Promise<VipsResult> {
  const topo = planTopology(labId(), 3);
  const dir = await mkdtemp(join(tmpdir(), 'l2vip-vips-'));
  const procs: ChildProcess[] = [];
  const stateFiles: string[] = [];
  const teardownSync = (): void => {
    for (const p of procs) p.kill('SIGKILL');
    for (const f of stateFiles) {
      rmSync(f, { force: true });
      rmSync(f.replace(/\.json$/, '.pid'), { force: true });
    }
  };
  const unregister = onCleanup(() => {
    teardownSync();
    for (const ns of [topo.client.netns, ...topo.nodes.map((n) => n.netns), topo.switchNs]) spawnSyncQuiet('ip', ['netns', 'del', ns]);
  });
  let failed = false;
  try {
    return await run(o, topo, dir, procs, stateFiles);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    teardownSync();
    for (const n of [topo.client, ...topo.nodes]) {
      const r = await spawnRunner.run('ip', ['netns', 'pids', n.netns]).catch(() => undefined);
      for (const pid of (r?.stdout ?? '').split('\n').filter((x) => x.trim() !== '')) killQuiet(Number(pid));
    }
    teardownSync();
    await destroyTopology(spawnRunner, topo);
    unregister();
    if ((failed && o.keepLogs !== false) || o.keepLogs === true) o.print(`logs kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

async function run(o: VipsRunOptions, topo: LabTopology, dir: string, procs: ChildProcess[], stateFiles: string[]): Promise<VipsResult> {
  const vips = Array.from({ length: o.vips }, (_, i) => vipAt(i));
  const watched = [vips[0]!, vips.at(-1)!];
  await buildTopology(spawnRunner, topo);
  await writeFile(join(dir, 'secret'), randomBytes(48).toString('base64') + '\n', { mode: 0o600 });
  for (const n of topo.nodes) {
    await writeFile(join(dir, `${n.name}.yaml`), config(topo, n, dir, vips));
    stateFiles.push(join('/run/l2vip', `delivery-${statSync(join('/run/netns', n.netns)).ino}.json`));
  }
  const macOf = async (h: LabHost): Promise<string> => {
    const r = await spawnRunner.run('ip', ['-n', h.netns, '-j', 'link', 'show', 'eth0']);
    return (JSON.parse(r.stdout) as { address: string }[])[0]!.address;
  };

  // The client first: it watches from before the start.
  const traces = new Map<string, { probes: number[]; replies: ReplyLine[] }>(watched.map((ip) => [ip, { probes: [], replies: [] }]));
  const client = spawn('ip', ['netns', 'exec', topo.client.netns, process.execPath, '--import', 'tsx', join(REPO, 'bench/lib/vip-watch.ts'), '--ip', topo.client.ipv4, '--mac', await macOf(topo.client), '--interval', String(PROBE_INTERVAL_MS), '--watch', watched.join(',')], {
    cwd: REPO,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  procs.push(client);
  let onSweep: ((s: SweepLine) => void) | undefined;
  let clientReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (clientReady = r));
  createInterface({ input: client.stdout }).on('line', (line) => {
    const l = JSON.parse(line) as WatchLine;
    if (l.e === 'ready') clientReady();
    else if (l.e === 'probe') traces.get(l.ip)?.probes.push(l.at);
    else if (l.e === 'reply') traces.get(l.ip)?.replies.push(l);
    else if (l.e === 'sweep') onSweep?.(l);
    else if (l.e === 'error') o.print(`client: ${l.message}`);
  });
  await withTimeout(ready, 30_000, 'the client did not start');
  await sleep(200);

  const startAt = now();
  const nodes: Node[] = [];
  const started: Promise<void>[] = [];
  for (const h of topo.nodes) {
    const proc = spawn('ip', ['netns', 'exec', h.netns, ...(o.command ?? selfCommand()), 'standalone', '--config', join(dir, `${h.name}.yaml`)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, L2VIP_LOG_LEVEL: 'info' } });
    procs.push(proc);
    const node: Node = { host: h, proc, mac: await macOf(h), lines: 0, rss: 0 };
    nodes.push(node);
    const log = createWriteStream(join(dir, `${h.name}.log`));
    let isUp: () => void = () => undefined;
    started.push(new Promise<void>((r) => (isUp = r)));
    for (const s of [proc.stdout, proc.stderr]) {
      createInterface({ input: s }).on('line', (line) => {
        node.lines++;
        log.write(line + '\n');
        if (line.includes('"standalone speaker started"')) isUp();
      });
    }
  }
  const sampler = setInterval(() => {
    for (const n of nodes) {
      try {
        if (n.proc.pid !== undefined) n.rss = Math.max(n.rss, rssMiB(n.proc.pid));
      } catch {
        // exited
      }
    }
  }, 200);
  try {
    await withTimeout(Promise.all(started), TIMEOUT_MS, `the speakers did not start (logs in ${dir})`);
    await waitFor(() => watched.every((ip) => firstAnswer(traces.get(ip)!, startAt) !== undefined), TIMEOUT_MS, `the VIPs did not answer within ${TIMEOUT_MS} ms (logs in ${dir})`);
    await sleep(STEADY_MS);
    const sweep = await new Promise<SweepLine>((resolve) => {
      onSweep = resolve;
      client.stdin.write(JSON.stringify({ cmd: 'sweep', ips: vips, perMs: 5 }) + '\n');
    });
    const ownerMac = cachedMac(traces.get(watched[0]!)!, now());
    const owner = nodes.find((n) => n.mac === ownerMac);
    if (owner === undefined) throw new Error(`the first VIP is answered by ${ownerMac ?? 'nobody'}, not by a node`);
    // Before the scrape: /metrics of 10 000 VIPs builds megabytes of text (its own figure, not start-up's).
    clearInterval(sampler);
    const maxStallMs = await maxLag(owner.host);
    const lines = nodes.map((n) => n.lines);
    // Then what scrapes cost: 3 of /metrics and one of /status (the lag gauge is read before the
    // per-VIP series are written, so the last scrape's is read by one more).
    for (let k = 0; k < 3; k++) await maxLag(owner.host);
    await scrape(owner.host, '/status');
    const scrapeStallMs = await maxLag(owner.host);
    const rssAfterScrapesMiB = owner.proc.pid === undefined ? NaN : rssMiB(owner.proc.pid);

    // kill -9 of every process of the owner's namespace, as a crash of the host would.
    const pids = await spawnRunner.run('ip', ['netns', 'pids', owner.host.netns]);
    const killAt = now();
    for (const pid of pids.stdout.split('\n').filter((x) => x.trim() !== '')) killQuiet(Number(pid));
    const tookOver = (): boolean => watched.every((ip) => traces.get(ip)!.replies.some((r) => !r.garp && r.at >= killAt && r.mac !== owner.mac));
    await waitFor(tookOver, 20_000, `no node took over within 20 s (logs in ${dir})`);
    await sleep(2_000);
    const end = now();
    const per = (f: (t: VipTrace) => number): PerVip => ({ first: f(traces.get(watched[0]!)!), last: f(traces.get(watched[1]!)!) });
    return {
      vips: o.vips,
      owner: owner.host.name,
      startupChanges: per((t) => ownerChanges(t, startAt, killAt)),
      doubleAnswers: per((t) => doubleAnswers(t, startAt, killAt)),
      answeredMs: per((t) => (firstAnswer(t, startAt) ?? NaN) - startAt),
      sweep: { answered: sweep.answered, byOwner: sweep.byMac[owner.mac] ?? 0 },
      outageMs: per((t) => failoverOutage(t, killAt, owner.mac, PROBE_INTERVAL_MS)),
      announcedMs: per((t) => firstAnnouncement(t, killAt, owner.mac)),
      stranded: watched.filter((ip) => cachedMac(traces.get(ip)!, end) === owner.mac).length,
      ownerRssMiB: owner.rss,
      ownerLogLines: lines[nodes.indexOf(owner)]!,
      maxLogLines: Math.max(...lines),
      maxStallMs,
      scrapeStallMs,
      rssAfterScrapesMiB,
      logDir: dir,
    };
  } finally {
    clearInterval(sampler);
    client.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
  }
}

function config(topo: LabTopology, n: LabHost, dir: string, vips: readonly string[]): string {
  return standaloneYaml({ node: n, peers: topo.nodes, dir, metricsListen: `${n.ipv4}:${METRICS_PORT}`, services: [labService('many', vips)] });
}

/** The owner's longest event-loop stall so far, from its metrics; NaN if it has none. */
async function maxLag(h: LabHost): Promise<number> {
  const m = /^l2vip_event_loop_max_lag_seconds (\S+)$/m.exec(await scrape(h, '/metrics'));
  return m === null ? NaN : Number(m[1]) * 1000;
}

async function scrape(h: LabHost, path: string): Promise<string> {
  const r = await spawnRunner.run('ip', ['netns', 'exec', h.netns, 'curl', '-s', '--max-time', '5', `http://${h.ipv4}:${METRICS_PORT}${path}`]);
  return r.stdout;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]).finally(() => clearTimeout(timer));
}

function killQuiet(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Exit handlers run nothing asynchronous. */
function spawnSyncQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // not created, or already deleted
  }
}

/** Polls `done` every 50 ms; throws `what` after `ms`. */
async function waitFor(done: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(what);
    await sleep(50);
  }
}
