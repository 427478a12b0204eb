import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface, type Interface } from 'node:readline';
import type { Readable } from 'node:stream';
import { L2vipError, LabError } from '../errors.js';
import type { CommandRunner } from '../host/command-runner.js';
import { ECHO_PORT } from './lab-agent.js';
import type { ProbeReport } from './outage.js';
import type { LabContext, NodeRunner, TimelineEvent } from './node-runner.js';
import { selfCommand, StandaloneRunner } from './standalone-runner.js';
import { buildTopology, destroyTopology, ignoreGratuitous, labId, leftoverNamespaces, lossCounters, planTopology, setLink, setPeerLoss, type LabHost, type LabTopology } from './topology.js';

export type Fault = 'link' | 'kill' | 'stop';

export interface LabOptions {
  readonly nodes: number;
  readonly fault: Fault;
  /** Random loss, %, of the traffic between nodes (the node runner's `peerTraffic`). */
  readonly loss: number;
  readonly trials: number;
  readonly keep: boolean;
  /** Probe spacing, ms. */
  readonly intervalMs: number;
  readonly runner: CommandRunner;
  /** Where human-readable progress goes. */
  readonly print: (line: string) => void;
  /** What keeps the VIPs on the nodes; default: `l2vip standalone` (StandaloneRunner). */
  readonly nodeRunner?: NodeRunner;
  /** With the default node runner: extra YAML merged into every node's config (e.g. membership timing). */
  readonly extraConfig?: string;
  /** The client drops gratuitous ARP and unsolicited NA (topology.ts ignoreGratuitous), as many routers do. */
  readonly clientIgnoresGratuitous?: boolean;
  /** Resolves when the user wants a kept lab torn down (Ctrl-C). */
  readonly waitForExit?: () => Promise<void>;
}

export interface TrialResult {
  readonly trial: number;
  readonly fault: Fault;
  readonly oldOwner: string;
  readonly newOwner: string | undefined;
  readonly ipv4: ProbeReport;
  readonly ipv6: ProbeReport;
  /** When the fault was injected, ms since the epoch. */
  readonly faultAt: number;
  /** When the new owner logged that it took a VIP over (first such line after the fault), ms since the epoch. */
  readonly gainedAt: number | undefined;
  /**
   * The other nodes whose kernel knew the client's MAC (an IPv4 neighbour entry that is not
   * INCOMPLETE or FAILED) just before the fault. A new owner that does not must resolve the
   * client before its first answer can leave.
   */
  readonly clientKnownBy: readonly string[];
  /** The trial's probe window (ms since the epoch): the probes' `timeline` spans lie within it. */
  readonly from: number;
  readonly to: number;
  /** What the nodes logged about membership and ownership in the window (NodeRunner.timelineEvent). */
  readonly events: readonly NodeTimelineEvent[];
}

/** A TimelineEvent and the node that logged it. */
export interface NodeTimelineEvent extends TimelineEvent {
  readonly node: string;
}

/** What the client saw while nothing was failed (`Lab.observe`). */
export interface Observation {
  readonly durationMs: number;
  readonly owner: string;
  readonly ipv4: ProbeReport;
  readonly ipv6: ProbeReport;
  /** Ownership lines the nodes logged in the window (l2vip: `owner elected` on every node). */
  readonly ownerLines: number;
  /** Of those, the lines of a node that took a VIP over. */
  readonly gains: number;
  /** Peer frames that the loss injection matched and dropped in the window. */
  readonly peerFrames: { readonly matched: number; readonly dropped: number };
}

export { selfCommand };

/** Wall-clock time with sub-millisecond resolution, ms since the epoch. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function running(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

function exited(p: ChildProcess): Promise<void> {
  return running(p) ? new Promise((r) => p.once('exit', () => r())) : Promise.resolve();
}

/** Percentile (nearest rank) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

interface NodeProcesses {
  /** The node runner's command (the speaker). */
  readonly software: ChildProcess;
  readonly echo: ChildProcess;
  /** Resolves when the software says it is ready (NodeRunner.isReady) and the echo service is bound; rejects if either exits first. */
  readonly ready: Promise<void>;
}

/** How long a node may take to start: a TypeScript speaker on a busy 2-core machine can take seconds. */
const START_TIMEOUT_MS = 60_000;
/** Starts of a node's software before the lab gives up, and the pause between them. */
const START_ATTEMPTS = 5;
const RESTART_DELAY_MS = 3000;
/** After a node is ready: time for its peers to hear it before anything is measured. */
const SETTLE_MS = 300;

/**
 * The lab: namespaces on a bridge, N nodes that keep an IPv4 and an IPv6 VIP (l2vip standalone
 * by default, or any NodeRunner), a UDP echo service on every node and a client probing both
 * VIPs every few ms; fails the owner and measures what the client saw.
 */
export class Lab {
  readonly topo: LabTopology;
  readonly nodeRunner: NodeRunner;
  private dir = '';
  private readonly procs = new Map<string, NodeProcesses>();
  private probe: { child: ChildProcess; lines: Interface; pending: ((l: string) => void)[] } | undefined;
  private readonly cmd = selfCommand();
  private readonly events: { node: string; at: number; gained: boolean }[] = [];
  private readonly timeline: NodeTimelineEvent[] = [];

  constructor(private readonly o: LabOptions) {
    this.topo = planTopology(labId(), o.nodes);
    this.nodeRunner = o.nodeRunner ?? new StandaloneRunner(o.extraConfig);
  }

  private get ctx(): LabContext {
    return { topo: this.topo, dir: this.dir, runner: this.o.runner };
  }

  async setup(): Promise<void> {
    const old = await leftoverNamespaces(this.o.runner);
    if (old.length > 0) {
      this.o.print(`removing ${old.length} namespaces left by an earlier lab run: ${old.join(', ')}`);
      for (const ns of old) await this.o.runner.run('ip', ['netns', 'del', ns]);
    }
    try {
      this.dir = await mkdtemp(join(tmpdir(), 'l2vip-lab-'));
    } catch (err) {
      throw new LabError(`creating the lab's work directory in ${tmpdir()}: ${(err as Error).message}`, { cause: err });
    }
    await buildTopology(this.o.runner, this.topo);
    if (this.o.clientIgnoresGratuitous === true) await ignoreGratuitous(this.o.runner, this.topo);
    // Also at 0 %: the rules count the peer traffic (Observation.peerFrames).
    await setPeerLoss(this.o.runner, this.topo, this.o.loss, this.nodeRunner.peerTraffic);
    await this.nodeRunner.prepare(this.ctx).catch((err: unknown) => {
      throw labFailure(err, `preparing the nodes (${this.nodeRunner.label})`);
    });
    for (const n of this.topo.nodes) this.startNode(n);
    this.startProbe();
    await Promise.all(this.topo.nodes.map((n) => this.whenReady(n)));
  }

  /**
   * Waits until the node's software says it is ready, then lets its peers hear it. Software that
   * exits before it is ready is started again a few times (a file it needs may be in the middle
   * of being rebuilt, say); its log keeps every attempt.
   */
  private async whenReady(n: LabHost): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LabError(`${n.name} (${this.nodeRunner.label}) was not ready within ${START_TIMEOUT_MS} ms (logs in ${this.dir})`)), START_TIMEOUT_MS);
      });
      try {
        await Promise.race([this.procs.get(n.name)!.ready, timeout]);
        break;
      } catch (err) {
        const { software, echo } = this.procs.get(n.name)!;
        if ((running(software) && running(echo)) || attempt >= START_ATTEMPTS) throw err;
        this.o.print(`${(err as Error).message}; starting it again (${attempt + 1}/${START_ATTEMPTS})`);
        for (const p of [software, echo]) p.kill('SIGKILL');
        await Promise.all([exited(software), exited(echo)]);
        await sleep(RESTART_DELAY_MS);
        this.startNode(n);
      } finally {
        clearTimeout(timer);
      }
    }
    await sleep(SETTLE_MS);
  }

  private startNode(n: LabHost): void {
    const log = createWriteStream(join(this.dir, `${n.name}.log`), { flags: 'a' });
    const software = spawn('ip', ['netns', 'exec', n.netns, ...this.nodeRunner.command(this.ctx, n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let open = 2;
    let isReady: (() => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      isReady = resolve;
      software.once('exit', (code, signal) => reject(new LabError(`${n.name}: ${this.nodeRunner.label} exited (${signal ?? code}) before it was ready (log: ${join(this.dir, `${n.name}.log`)})`)));
    });
    const follow = (stream: Readable): void => {
      createInterface({ input: stream }).on('line', (line) => {
        const at = now();
        log.write(line + '\n');
        if (isReady !== undefined && this.nodeRunner.isReady(line)) {
          isReady();
          isReady = undefined;
        }
        const e = this.nodeRunner.ownerEvent(line, n, at);
        if (e !== undefined) this.events.push({ node: n.name, ...e });
        const t = this.nodeRunner.timelineEvent?.(line, n, at);
        if (t !== undefined) this.timeline.push({ node: n.name, ...t });
      });
      stream.once('close', () => {
        if (--open === 0) log.end();
      });
    };
    follow(software.stdout);
    follow(software.stderr);
    const echo = spawn('ip', ['netns', 'exec', n.netns, ...this.cmd, 'lab-agent', 'echo', n.name, this.topo.vip4, this.topo.vip6], { stdio: ['ignore', 'pipe', 'ignore'] });
    const bound = new Promise<void>((resolve, reject) => {
      createInterface({ input: echo.stdout }).once('line', () => resolve());
      echo.once('exit', (code, signal) => reject(new LabError(`${n.name}: the echo service exited (${signal ?? code}) before it was bound`)));
    });
    const both = Promise.all([ready, bound]).then(() => undefined);
    both.catch(() => undefined);
    this.procs.set(n.name, { software, echo, ready: both });
  }

  private startProbe(): void {
    const child = spawn(
      'ip',
      ['netns', 'exec', this.topo.client.netns, ...this.cmd, 'lab-agent', 'probe', '--interval', String(this.o.intervalMs), this.topo.vip4, this.topo.vip6],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: child.stdout });
    const pending: ((l: string) => void)[] = [];
    lines.on('line', (l) => pending.shift()?.(l));
    this.probe = { child, lines, pending };
  }

  private command(cmd: 'mark'): void;
  private command(cmd: 'report'): Promise<ProbeReport[]>;
  private command(cmd: 'mark' | 'report'): Promise<ProbeReport[]> | undefined {
    const p = this.probe!;
    p.child.stdin!.write(cmd + '\n');
    if (cmd === 'mark') return undefined;
    return new Promise((resolve) => p.pending.push((l) => resolve(JSON.parse(l) as ProbeReport[])));
  }

  /** The reports of the VIPs the node software keeps (IPv4, and IPv6 unless it says otherwise). */
  private served(r: readonly ProbeReport[]): ProbeReport[] {
    return this.nodeRunner.servesIpv6 === false ? r.slice(0, 1) : [...r];
  }

  /** Waits until both VIPs answer without loss for a while; returns their owner. */
  async waitStable(timeoutMs = 60_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      this.command('mark');
      await sleep(600);
      const r = await this.command('report');
      const served = this.served(r);
      const owners = new Set(served.map((x) => x.lastNode));
      if (served.every((x) => x.sent > 0 && x.lost === 0 && x.late === 0 && x.nodes.length === 1) && owners.size === 1) return r[0]!.lastNode!;
    }
    throw new LabError(`the VIPs did not become stable within ${timeoutMs} ms (logs in ${this.dir})`);
  }

  /**
   * Fails the owner once and measures. `forgetClient`: first delete the client's neighbour
   * entries on the other nodes, as if they had never talked to it (the usual case for most
   * clients of a VIP), so the new owner must resolve the client before it can answer.
   */
  async trial(i: number, opts: { forgetClient?: boolean } = {}): Promise<TrialResult> {
    const { owner, host, clientKnownBy, from } = await this.beforeFault(i, opts.forgetClient === true);
    const faultAt = await this.fail(host);
    // Wait for both VIPs to answer from another node, then a little more to see it hold.
    const end = Date.now() + 10_000;
    let r: ProbeReport[] = [];
    while (Date.now() < end) {
      await sleep(100);
      r = await this.command('report');
      if (this.served(r).every((x) => x.lastNode !== undefined && x.lastNode !== owner)) break;
    }
    await sleep(300);
    r = await this.command('report');
    // The report leaves out the probes still in flight: the window ends with the last counted one.
    const to = Math.max(from, ...r.flatMap((x) => x.timeline.slice(-1).map((span) => span.to)));
    await this.restore(host);
    // The node that answered the last counted probes (by sequence), not the last answer read: a
    // stopped owner's echo service may still answer a straggler late.
    const last = r[0]!.timeline.filter((span) => span.node !== null).at(-1)?.node ?? r[0]!.lastNode;
    const newOwner = last !== owner && last !== null ? last : undefined;
    const gainedAt = this.events.find((e) => e.node === newOwner && e.gained && e.at >= faultAt)?.at;
    const events = this.timeline.filter((e) => e.at >= from && e.at <= to);
    return { trial: i, fault: this.o.fault, oldOwner: owner, newOwner, ipv4: r[0]!, ipv6: r[1]!, faultAt, gainedAt, clientKnownBy, from, to, events };
  }

  /**
   * Waits for a stable owner and starts the trial's window. If the VIPs move in the 100 ms
   * before the fault (a repaired node taking its VIPs back once its hold-down is over, say), the
   * fault would hit a node that no longer owns them: wait until they are stable again instead.
   */
  private async beforeFault(i: number, forgetClient: boolean): Promise<{ owner: string; host: LabHost; clientKnownBy: string[]; from: number }> {
    for (let attempt = 1; ; attempt++) {
      const owner = await this.waitStable();
      const host = this.topo.nodes.find((n) => n.name === owner)!;
      if (forgetClient) {
        for (const n of this.topo.nodes) {
          if (n.name === owner) continue;
          for (const ip of [this.topo.client.ipv4, this.topo.client.ipv6]) await this.o.runner.run('ip', ['-n', n.netns, 'neigh', 'del', ip, 'dev', 'eth0']);
        }
      }
      const clientKnownBy = await this.nodesKnowingClient(owner);
      this.command('mark');
      const from = now();
      await sleep(100);
      // The answers of the last 100 ms count for `nodes` even though their probes are still in the grace period.
      const moved = this.served(await this.command('report')).flatMap((x) => x.nodes.filter((n) => n !== owner));
      if (moved.length === 0 || attempt >= START_ATTEMPTS) return { owner, host, clientKnownBy, from };
      this.o.print(`trial ${i}: the VIPs moved from ${owner} to ${moved[0]} just before the fault: waiting until they are stable again`);
    }
  }

  private async nodesKnowingClient(except: string): Promise<string[]> {
    const out: string[] = [];
    for (const n of this.topo.nodes) {
      if (n.name === except) continue;
      const r = await this.o.runner.run('ip', ['-n', n.netns, '-4', 'neigh', 'show', this.topo.client.ipv4, 'dev', 'eth0']);
      if (/lladdr/.test(r.stdout) && !/INCOMPLETE|FAILED/.test(r.stdout)) out.push(n.name);
    }
    return out;
  }

  /** Fails nothing: watches the VIPs for `durationMs` once they are stable (e.g. under loss). */
  async observe(durationMs: number): Promise<Observation> {
    const owner = await this.waitStable();
    const before = await lossCounters(this.o.runner, this.topo);
    this.command('mark');
    const from = now();
    await sleep(durationMs);
    // The report leaves out the probes of the last 250 ms, still in flight.
    const r = await this.command('report');
    const after = await lossCounters(this.o.runner, this.topo);
    const events = this.events.filter((e) => e.at >= from);
    return {
      durationMs,
      owner,
      ipv4: r[0]!,
      ipv6: r[1]!,
      ownerLines: events.length,
      gains: events.filter((e) => e.gained).length,
      peerFrames: { matched: after.matched - before.matched, dropped: after.dropped - before.dropped },
    };
  }

  /** Fails the node; returns when the fault took effect, ms since the epoch. */
  private async fail(n: LabHost): Promise<number> {
    if (this.o.fault === 'link') {
      await setLink(this.o.runner, this.topo, n, false);
      return now();
    }
    if (this.o.fault === 'stop') {
      const at = now();
      this.procs.get(n.name)!.software.kill('SIGTERM');
      return at;
    }
    // Every process of the node, as a crash of the whole host would.
    const r = await this.o.runner.run('ip', ['netns', 'pids', n.netns]);
    const at = now();
    killAll(r.stdout);
    return at;
  }

  private async restore(n: LabHost): Promise<void> {
    if (this.o.fault === 'link') {
      await setLink(this.o.runner, this.topo, n, true);
      await sleep(SETTLE_MS);
      return;
    }
    const { software, echo } = this.procs.get(n.name)!;
    await exited(software);
    echo.kill('SIGKILL');
    await exited(echo);
    if (this.o.fault === 'kill') await this.nodeRunner.beforeRestart?.(this.ctx, n);
    this.startNode(n);
    await this.whenReady(n);
  }

  /** Kills every process and deletes every namespace, and the files unless `keepLogs`. Safe to call twice. */
  async teardown(keepLogs = false): Promise<void> {
    this.stopChildren();
    for (const n of [this.topo.client, ...this.topo.nodes]) {
      const r = await this.o.runner.run('ip', ['netns', 'pids', n.netns]).catch(() => undefined);
      killAll(r?.stdout ?? '');
    }
    this.nodeRunner.cleanupSync?.(this.ctx);
    await destroyTopology(this.o.runner, this.topo);
    if (this.dir !== '' && existsSync(this.dir) && !this.o.keep && !keepLogs) await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * The same as `teardown`, synchronously, for process exit and signal handlers (where nothing
   * asynchronous runs to completion). Never throws.
   */
  teardownSync(keepLogs = false): void {
    this.stopChildren();
    for (const ns of [this.topo.client.netns, ...this.topo.nodes.map((n) => n.netns), this.topo.switchNs]) {
      try {
        killAll(execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
      } catch {
        // not created, or already deleted
      }
    }
    try {
      this.nodeRunner.cleanupSync?.(this.ctx);
    } catch {
      // best effort
    }
    for (const ns of [this.topo.client.netns, ...this.topo.nodes.map((n) => n.netns), this.topo.switchNs]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // not created, or already deleted
      }
    }
    if (this.dir !== '' && !this.o.keep && !keepLogs) rmSync(this.dir, { recursive: true, force: true });
  }

  private stopChildren(): void {
    if (this.probe) {
      this.probe.child.stdin!.end();
      this.probe.child.kill('SIGKILL');
      this.probe = undefined;
    }
    for (const { software, echo } of this.procs.values()) {
      software.kill('SIGKILL');
      echo.kill('SIGKILL');
    }
    this.procs.clear();
  }

  /** Process id of each node's software (`ip netns exec` execs in place: the speaker itself), by node name. */
  softwarePids(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const [name, p] of this.procs) if (p.software.pid !== undefined) out.set(name, p.software.pid);
    return out;
  }

  get logDir(): string {
    return this.dir;
  }
}

/** A failed system call (a file that cannot be written, say) becomes a LabError saying what was being done; anything else is a bug and stays as it is. */
function labFailure(err: unknown, what: string): unknown {
  if (err instanceof L2vipError || !(err instanceof Error) || typeof (err as NodeJS.ErrnoException).code !== 'string') return err;
  return new LabError(`${what}: ${err.message}`, { cause: err });
}

/**
 * Kills every process of a node as a crash would: first all are stopped, then all are killed.
 * Killed one by one, a parent could die before its child's SIGKILL was sent, and a child that
 * asked for a signal on its parent's death (PR_SET_PDEATHSIG: keepalived's VRRP process) would
 * shut down cleanly in between: a goodbye advert that no crashed host sends.
 */
function killAll(pids: string): void {
  const list = pids.split('\n').filter((x) => x.trim() !== '').map(Number);
  for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
    for (const pid of list) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

export { ECHO_PORT };
