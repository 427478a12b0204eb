/**
 * Network namespaces for tests that need a real kernel: create namespaces, veth pairs and
 * bridges under names unique to this run, run commands and long-lived processes inside them,
 * and remove everything afterwards, even when a test fails.
 *
 *   const lab = new NetnsLab();                       // skip the suite unless NetnsLab.supported()
 *   afterAll(() => lab.cleanup());
 *   const a = await lab.namespace('a');               // 'l2t-<pid>-<rand>-a'
 *   const b = await lab.namespace('b');
 *   await lab.veth([a, 'eth0'], [b, 'eth0']);         // both ends up
 *   await lab.run(a, 'ip', 'addr', 'add', '10.0.0.1/24', 'dev', 'eth0');
 *   const agent = lab.spawnNode(b, 'test/netns/helpers/frame-agent.ts', ['eth0']);
 *   await agent.waitFor((m) => m.event === 'ready');
 *
 * Interfaces are created directly inside their namespace (`ip link add ... netns NS`), so
 * their short names ('eth0') never meet the host's or another run's. Namespace names carry
 * the pid, so a later run deletes what a killed run left behind.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The repository root, where `node --import tsx` resolves tsx. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const STALE_PATTERN = /^l2t-(\d+)-[0-9a-f]+-/;

export class NetnsLab {
  /** Prefix of every namespace this lab creates. */
  readonly prefix = `l2t-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<NetnsProcess>();
  private readonly onExit = (): void => this.cleanupSync();

  constructor() {
    removeStaleNamespaces();
    process.once('exit', this.onExit);
  }

  /** True when namespaces can be made here: root on Linux with iproute2. */
  static supported(): boolean {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
    try {
      execFileSync('ip', ['-V'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  /** Creates `<prefix>-<name>` with its loopback up; returns the full name. */
  async namespace(name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`;
    await execFileAsync('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await this.run(ns, 'ip', 'link', 'set', 'lo', 'up');
    return ns;
  }

  /** A veth pair between two (namespace, interface name) ends, both set up unless `up: false`. */
  async veth(a: readonly [ns: string, name: string], b: readonly [ns: string, name: string], options: { up?: boolean } = {}): Promise<void> {
    await execFileAsync('ip', ['link', 'add', a[1], 'netns', a[0], 'type', 'veth', 'peer', 'name', b[1], 'netns', b[0]]);
    if (options.up !== false) {
      await this.run(a[0], 'ip', 'link', 'set', a[1], 'up');
      await this.run(b[0], 'ip', 'link', 'set', b[1], 'up');
    }
  }

  /** A bridge in `ns`, up, with the given interfaces of `ns` as ports. */
  async bridge(ns: string, name: string, ports: readonly string[] = []): Promise<void> {
    await this.run(ns, 'ip', 'link', 'add', name, 'type', 'bridge');
    await this.run(ns, 'ip', 'link', 'set', name, 'up');
    for (const port of ports) await this.run(ns, 'ip', 'link', 'set', port, 'master', name);
  }

  /** Runs a command inside `ns`; resolves with its stdout, rejects with its stderr in the message. */
  async run(ns: string, command: string, ...args: string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync('ip', ['netns', 'exec', ns, command, ...args], { cwd: REPO_ROOT });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`in ${ns}: ${command} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: err });
    }
  }

  /** Starts a long-running command inside `ns`; killed by cleanup() if still running. */
  spawn(ns: string, argv: readonly string[]): NetnsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const proc = new NetnsProcess(child, `${ns}: ${argv.join(' ')}`);
    this.processes.add(proc);
    void proc.exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** Runs a TypeScript file (path relative to the repo root) with node --import tsx inside `ns`. */
  spawnNode(ns: string, script: string, args: readonly string[] = [], wrapper: readonly string[] = []): NetnsProcess {
    return this.spawn(ns, [...wrapper, process.execPath, '--import', 'tsx', script, ...args]);
  }

  /** Kills the processes, then deletes the namespaces with everything in them. Idempotent. */
  async cleanup(): Promise<void> {
    await Promise.all([...this.processes].map((p) => p.kill()));
    for (const ns of this.namespaces.splice(0)) {
      await execFileAsync('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    process.removeListener('exit', this.onExit);
  }

  private cleanupSync(): void {
    for (const p of this.processes) p.child.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

/** Deletes namespaces left by runs whose process no longer exists. */
function removeStaleNamespaces(): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0] ?? '';
    const pid = STALE_PATTERN.exec(ns)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // another run got there first
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A process running in a namespace. Its stdout is read as lines; lines that parse as JSON
 * objects are messages, which `waitFor` matches. `send` writes one JSON line to its stdin.
 */
export class NetnsProcess {
  readonly messages: Record<string, unknown>[] = [];
  readonly exited: Promise<number | null>;
  private stderr = '';
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly child: ChildProcess,
    private readonly label: string,
  ) {
    let partial = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          const value: unknown = JSON.parse(line);
          if (typeof value === 'object' && value !== null) this.messages.push(value as Record<string, unknown>);
        } catch {
          // not a message
        }
      }
      for (const w of this.waiters) w();
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const w of this.waiters) w();
    });
  }

  /** The first message (already received or still to come) that matches; rejects after timeoutMs or if the process exits first. */
  waitFor(match: (message: Record<string, unknown>) => boolean, timeoutMs = 5000, from = 0): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.messages.slice(from).find(match);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) without the awaited message; stderr: ${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label}: no matching message within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  send(message: unknown): void {
    this.child.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async kill(graceMs = 2000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
