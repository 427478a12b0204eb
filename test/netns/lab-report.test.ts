/**
 * `l2vip lab --report` (and `--compare keepalived` when keepalived is installed) end to end:
 * one short run (2 nodes, 2 trials each: the second starts after the first owner's repair), the side-by-side figures, the HTML page's timelines,
 * and nothing left behind.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = process.getuid?.() === 0;
const keepalived = spawnSync('keepalived', ['--version'], { stdio: 'ignore' }).error === undefined;
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.ts');
if (root && !keepalived) process.stderr.write('lab report test: keepalived not installed, --compare keepalived is not exercised (apt-get install keepalived)\n');

function l2vip(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.skipIf(!root)(`l2vip lab --report${keepalived ? ' --compare keepalived' : ' (keepalived not installed: l2vip only)'}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2vip-lab-report-'));
  const report = join(dir, 'report.html');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures every software it prints, writes a timeline per trial, and removes its namespaces', async () => {
    const r = await l2vip(['lab', '--nodes', '2', '--trials', '2', '--report', report, ...(keepalived ? ['--compare', 'keepalived'] : [])]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // No figure from elsewhere (the lab once printed MetalLB's and keepalived's from their docs).
    expect(r.stdout).not.toMatch(/MetalLB|about 3 s/);
    const trialLines = r.stdout.split('\n').filter((l) => /^\s+[12] {2}n\d -> n\d {3}IPv4/.test(l));
    if (keepalived) {
      expect(trialLines).toHaveLength(4);
      expect(r.stdout).toMatch(/side by side \(measured in this run, same faults: kill/);
      expect(r.stdout).toMatch(/^\s+l2vip\s+keepalived \(advert_int 0\.1 s\)$/m);
      expect(r.stdout).toMatch(/^\s+outage p50\s+[\d.]+ ms\s+[\d.]+ ms$/m);
    } else {
      expect(trialLines).toHaveLength(2);
      expect(r.stdout).not.toMatch(/keepalived.*\d+(\.\d+)? ?m?s\b/);
    }
    expect(r.stdout).toContain(`report: ${report}`);

    const html = readFileSync(report, 'utf8');
    const timelines = [...html.matchAll(/<svg class="timeline"[^>]*data-software="([^"]*)" data-trial="(\d)"[^>]*data-old-owner="(n\d)" data-new-owner="(n\d)">([\s\S]*?)<\/svg>/g)];
    expect(timelines.map((m) => `${m[1]} ${m[2]}`)).toEqual(keepalived ? ['l2vip 1', 'l2vip 2', 'keepalived (advert_int 0.1 s) 1', 'keepalived (advert_int 0.1 s) 2'] : ['l2vip 1', 'l2vip 2']);
    for (const [, software, trial, oldOwner, newOwner, inner] of timelines) {
      const what = `${software} trial ${trial}`;
      // The node failed is the one that answered until the fault, and another answered after it.
      const answered = [...inner!.matchAll(/<rect class="span answered" data-node="(n\d)"/g)].map((m) => m[1]);
      expect(answered[0], what).toBe(oldOwner);
      expect(answered[answered.length - 1], what).toBe(newOwner);
      expect(newOwner, what).not.toBe(oldOwner);
      expect(inner, what).toMatch(/<rect class="outage"/);
      // The survivor declared the owner dead (l2vip: membership; keepalived: advert timeout), took over and announced.
      for (const kind of ['dead', 'elected', 'garp']) expect(inner, `${what}: ${kind}`).toMatch(new RegExp(`<g class="event" data-kind="${kind}"`));
    }

    const ids = [...r.stdout.matchAll(/namespaces (l2vlab-[^-]+)-\*/g)].map((m) => m[1]!);
    expect(ids).toHaveLength(keepalived ? 2 : 1);
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const id of ids) expect(left).not.toContain(id);
  }, 240_000);
});
