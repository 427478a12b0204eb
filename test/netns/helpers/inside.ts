/**
 * Runs a vitest file inside a namespace: for suites that open AF_PACKET or rtnetlink sockets
 * in-process (a socket lives in the namespace of the process that opens it, and a vitest worker
 * cannot enter another namespace). The outer test makes the namespace and its links, this runs
 * `ip netns exec NS vitest run` on one file of test/netns/inside/ and reads the JSON report.
 * L2VIP_TEST_NETNS tells the file which namespace it must be in (inside/guard.ts checks).
 *
 *   const r = await runInside(ns, 'test/netns/inside/frame-socket.inside.ts', { L2VIP_TEST_VETH: 'a0,b0' });
 *   expect(r.failures, r.output).toEqual([]);
 *   expect(r.passed).toBeGreaterThan(0);
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './netns.js';

export interface InsideResult {
  readonly passed: number;
  readonly skipped: number;
  /** `full test name: first failure message`, one per failed test. */
  readonly failures: readonly string[];
  /** vitest's console output, for the assertion message. */
  readonly output: string;
}

interface JsonReport {
  readonly numPassedTests: number;
  readonly numPendingTests: number;
  readonly numTodoTests: number;
  readonly testResults: readonly {
    readonly message?: string;
    readonly assertionResults: readonly { readonly fullName: string; readonly status: string; readonly failureMessages: readonly string[] }[];
  }[];
}

export async function runInside(ns: string, file: string, env: Record<string, string>, timeoutMs = 120_000): Promise<InsideResult> {
  const dir = await mkdtemp(join(tmpdir(), 'l2vip-inside-'));
  const report = join(dir, 'report.json');
  // The outer worker's VITEST_* variables would make the inner vitest think it is a worker.
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'));
  const args = [
    'netns', 'exec', ns,
    process.execPath, join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run',
    '--config', 'test/netns/inside/vitest.config.ts',
    '--reporter=verbose', '--reporter=json', `--outputFile.json=${report}`,
    file,
  ];
  try {
    const output = await new Promise<string>((resolve) => {
      execFile('ip', args, { cwd: REPO_ROOT, env: { ...cleanEnv, ...env, L2VIP_TEST_NETNS: ns, NO_COLOR: '1' }, timeout: timeoutMs, maxBuffer: 16 << 20 }, (_err, stdout, stderr) =>
        resolve(`${stdout}\n${stderr}`),
      );
    });
    let json: JsonReport;
    try {
      json = JSON.parse(await readFile(report, 'utf8')) as JsonReport;
    } catch {
      return { passed: 0, skipped: 0, failures: [`no report from the inner vitest run`], output };
    }
    const failures = json.testResults.flatMap((f) => [
      ...(f.message ? [`(file) ${f.message}`] : []),
      ...f.assertionResults.filter((a) => a.status === 'failed').map((a) => `${a.fullName}: ${a.failureMessages[0]?.split('\n')[0] ?? ''}`),
    ]);
    return { passed: json.numPassedTests, skipped: json.numPendingTests + json.numTodoTests, failures, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
