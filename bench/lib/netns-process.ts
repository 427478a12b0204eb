/**
 * A Node program from this repository run inside a network namespace:
 * `ip netns exec NS node --import tsx FILE ARGS...` (or any other node arguments). `ip netns exec` execs the command in place
 * (iproute2 netns_exec: no fork outside batch mode), so the spawned PID is node's own, which a
 * bench needs to read /proc/PID/stat; `start` checks it via /proc/PID/comm.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.js';
import { JsonLines } from './json-lines.js';

/** The repository root (bench/lib is two levels down): the working directory of every child. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export class NetnsProcess {
  readonly lines: JsonLines;
  private stderr = '';
  private readonly exited: Promise<void>;
  private readonly unregister: () => void;

  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    readonly label: string,
  ) {
    this.lines = new JsonLines(child.stdout, label);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const off = onCleanup(() => this.child.kill('SIGKILL'));
    this.unregister = () => void off();
  }

  /** Starts `node <nodeArgv>` in `ns` (e.g. ['--import', 'tsx', 'src/cli/main.ts', ...]), with the repository as working directory. */
  static start(ns: string, nodeArgv: readonly string[], label: string): NetnsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, 'node', ...nodeArgv], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new NetnsProcess(child, label);
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${this.label} did not start${this.stderrTail()}`);
    return pid;
  }

  /** Throws unless /proc/PID/comm says node: the PID we hold must be the one doing the work. */
  checkIsNode(): void {
    const comm = readFileSync(`/proc/${this.pid}/comm`, 'utf8').trim();
    if (comm !== 'node' && !comm.startsWith('node')) throw new Error(`${this.label}: pid ${this.pid} is "${comm}", not node`);
  }

  send(line: object): void {
    this.child.stdin.write(`${JSON.stringify(line)}\n`);
  }

  stderrTail(): string {
    return this.stderr === '' ? '' : `; stderr:\n${this.stderr}`;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.unregister();
  }
}
