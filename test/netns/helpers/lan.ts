import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnRunner, type CommandResult } from '../../../src/host/command-runner.js';
import { buildTopology, destroyTopology, planTopology, type LabTopology } from '../../../src/lab/topology.js';

/**
 * A client and N nodes on one bridge, in namespaces of their own (the lab's topology), for the
 * data-path tests. Everything is deleted by `destroy()`, which the tests call in afterAll.
 */
export class TestLan {
  readonly topo: LabTopology;
  private readonly children = new Set<ChildProcess>();

  constructor(nodes = 1) {
    this.topo = planTopology(`t${randomBytes(2).toString('hex')}`, nodes);
  }

  async create(): Promise<void> {
    await buildTopology(spawnRunner, this.topo);
  }

  /** Runs a command in a namespace and returns its output (never throws on a non-zero exit). */
  exec(netns: string, cmd: string, ...args: string[]): Promise<CommandResult> {
    return spawnRunner.run('ip', ['netns', 'exec', netns, cmd, ...args]);
  }

  /**
   * Starts `l2vip <args>` in a namespace, from the TypeScript sources, or from a built entry
   * point (`main`: a dist/cli/main.js, run by plain node, e.g. for honest RSS figures);
   * `nodeArgs` go to node itself (e.g. --cpu-prof).
   */
  l2vip(netns: string, args: readonly string[], main?: string, nodeArgs: readonly string[] = []): L2vipProcess {
    const entry = main === undefined ? ['--import', 'tsx', fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url))] : [main];
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...nodeArgs, ...entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return new L2vipProcess(child);
  }

  /** The MAC of `iface` in a namespace, lower case. */
  async mac(netns: string, iface = 'eth0'): Promise<string> {
    const r = await this.exec(netns, 'ip', '-j', 'link', 'show', iface);
    return ((JSON.parse(r.stdout || '[]') as { address?: string }[])[0]?.address ?? '').toLowerCase();
  }

  /** Starts a helper script of test/netns/helpers in a namespace and leaves it running (killed by destroy()). */
  spawnScript(netns: string, name: string, args: readonly string[]): ChildProcess {
    const path = fileURLToPath(new URL(`./${name}`, import.meta.url));
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', path, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a helper script of test/netns/helpers in a namespace; resolves with its stdout. */
  script(netns: string, name: string, args: readonly string[]): Promise<CommandResult> {
    const path = fileURLToPath(new URL(`./${name}`, import.meta.url));
    return spawnRunner.run('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', path, ...args]);
  }

  /** SIGKILL to every process started here (synchronous: usable from an exit handler). */
  killChildren(): void {
    for (const c of this.children) c.kill('SIGKILL');
  }

  async destroy(): Promise<void> {
    this.killChildren();
    await destroyTopology(spawnRunner, this.topo);
  }
}

/** A running l2vip process with its JSON log lines. */
export class L2vipProcess {
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  private readonly waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let l: Record<string, unknown>;
      try {
        l = JSON.parse(text) as Record<string, unknown>;
      } catch {
        l = { msg: text };
      }
      this.lines.push(l);
      for (const w of [...this.waiters]) {
        if (w.test(l)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves with the first log line (past or future) whose msg is `msg`. */
  waitFor(msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const seen = this.lines.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.waiters.push({
        test: (l) => l.msg === msg,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }

  /** Sends SIGUSR1 and returns the counters it logs. */
  async counters(): Promise<{ perIp: Record<string, Record<string, number>>; drops: Record<string, number> }> {
    const before = this.lines.length;
    this.child.kill('SIGUSR1');
    for (let i = 0; i < 100; i++) {
      const l = this.lines.slice(before).find((x) => x.msg === 'counters');
      if (l) return l.stats as { perIp: Record<string, Record<string, number>>; drops: Record<string, number> };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no counters logged after SIGUSR1');
  }
}
