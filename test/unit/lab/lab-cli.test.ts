/** `l2vip lab`'s options, as a user meets them: help text and the one-line refusals (exit 2) before anything is built. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'cli', 'main.ts');

function l2vip(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('l2vip lab options', () => {
  // A PATH with node and nothing else: no keepalived, no ip.
  const bin = mkdtempSync(join(tmpdir(), 'l2vip-lab-cli-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it('documents --compare, --advert-interval and --report in --help', async () => {
    const r = await l2vip(['lab', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--compare <software>.*\(choices: "keepalived"\)/s);
    expect(r.stdout).toMatch(/--advert-interval <s>.*advert_int.*\(default: 0\.1\)/s);
    expect(r.stdout).toMatch(/--report <file\.html>.*self-contained HTML/s);
    expect(r.stdout).toMatch(/never prints a figure it did not measure/);
  }, 60_000);

  it('refuses --compare keepalived without keepalived installed: one line, L2VIP_MISSING_TOOL\'s exit code 2, nothing built', async () => {
    const r = await l2vip(['lab', '--compare', 'keepalived', '--trials', '1'], { ...process.env, PATH: bin });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("l2vip: --compare keepalived: keepalived is not installed (it runs on the lab's nodes): install it (apt-get install keepalived) or leave out --compare\n");
    expect(r.stdout).toBe('');
  }, 60_000);

  it('refuses an unknown --compare, a bad or lone --advert-interval, --keep with --compare and a report in a missing directory', async () => {
    const cases: [string[], RegExp][] = [
      [['--compare', 'kube-vip'], /argument 'kube-vip' is invalid/],
      [['--compare', 'keepalived', '--advert-interval', '0'], /--advert-interval.*between 0\.01 and 40\.95/],
      [['--compare', 'keepalived', '--keep'], /--keep explores one lab: leave out --compare/],
      [['--advert-interval', '1'], /--advert-interval applies to keepalived: add --compare keepalived/],
      [['--report', '/nonexistent-l2vip-dir/r.html'], /--report: the directory \/nonexistent-l2vip-dir does not exist/],
    ];
    for (const [args, message] of cases) {
      const r = await l2vip(['lab', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      // The first line says what is wrong (commander adds a hint to its own); never a stack trace.
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  }, 120_000);
});
