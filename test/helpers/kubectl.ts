import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The kubectl on PATH, or undefined (tests that need it skip and say so). */
export const kubectlPath = (process.env.PATH ?? '')
  .split(delimiter)
  .map((d) => join(d, 'kubectl'))
  .find((p) => existsSync(p));

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real kubectl against a test's kubeconfig, with its own cache and HOME in the test's
 * directory (discovery is never cached across servers on reused ports). `killAll` ends every
 * process it started (watches included).
 */
export class Kubectl {
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly where: () => { kubeconfig: string; dir: string }) {}

  spawn(args: readonly string[]): ChildProcess {
    const { kubeconfig, dir } = this.where();
    const child = spawn(kubectlPath ?? 'kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: dir, KUBECONFIG: kubeconfig },
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  run(args: readonly string[], timeoutMs = 10_000): Promise<KubectlResult> {
    const child = this.spawn(args);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    return new Promise((resolve) => {
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** Runs it and returns stdout; a non-zero exit throws with stderr. */
  async ok(args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${String(r.code)}): ${r.stderr}`);
    return r.stdout;
  }

  /** Writes `text` to `name` in the test's directory; returns the path. */
  file(name: string, text: string): string {
    const p = join(this.where().dir, name);
    writeFileSync(p, text);
    return p;
  }

  killAll(): void {
    for (const c of this.children) c.kill('SIGKILL');
    this.children.clear();
  }
}

/** Polls `cond` every 20 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
