import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './program.js';
import { jitTierFromArgv } from './jit.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs applyJit(tier) in a fresh node, then a hot function; whether TurboFan optimized it. */
function turbofanned(tier: string): boolean {
  const script = `
    import { applyJit } from './src/cli/jit.ts';
    applyJit(${JSON.stringify(tier)});
    const status = new Function('f', 'return %GetOptimizationStatus(f)');
    function hot(x) { let s = 0; for (let i = 0; i < 1000; i++) s += i * x; return s; }
    for (let i = 0; i < 100000; i++) hot(i);
    console.log(JSON.stringify({ turbofan: (status(hot) & 64) !== 0 }));
  `;
  const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as { turbofan: boolean }).turbofan;
}

describe('--jit', () => {
  it("'baseline' keeps V8's optimizing compiler off for the rest of the process; 'full' leaves it on", () => {
    expect(turbofanned('baseline')).toBe(false);
    expect(turbofanned('full')).toBe(true);
  }, 90_000);

  it('is read from the command line before commander parses it (so it is set before the command loads), for the speaker commands only', () => {
    const argv = (...args: string[]): string[] => ['node', 'l2vip', ...args];
    expect(jitTierFromArgv(argv('standalone', '-c', 'x.yaml'), {})).toBe('baseline');
    expect(jitTierFromArgv(argv('standalone', '-c', 'x.yaml', '--jit', 'full'))).toBe('full');
    expect(jitTierFromArgv(argv('speaker', '--jit=full', '--log-level', 'debug'))).toBe('full');
    expect(jitTierFromArgv(argv('announce', '--jit', 'full', '--jit', 'baseline', '-i', 'eth0', '192.0.2.1'))).toBe('baseline');
    // Not an option after '--'; anything but 'full' is 'baseline' until commander refuses it.
    expect(jitTierFromArgv(argv('standalone', '--', '--jit', 'full'), {})).toBe('baseline');
    expect(jitTierFromArgv(argv('standalone', '--jit', 'turbo'))).toBe('baseline');
    for (const other of ['controller', 'lab', 'config', 'status', '--help']) expect(jitTierFromArgv(argv(other, '--jit', 'full'))).toBeUndefined();
    // Heartbeats from JavaScript (no beat engine): TurboFan by default; --jit still decides.
    expect(jitTierFromArgv(argv('standalone'), { L2VIP_MEMBERSHIP_SOCKET: 'polled' })).toBe('full');
    expect(jitTierFromArgv(argv('speaker'), { L2VIP_MEMBERSHIP_SOCKET: 'dgram' })).toBe('full');
    expect(jitTierFromArgv(argv('standalone', '--jit', 'baseline'), { L2VIP_MEMBERSHIP_SOCKET: 'polled' })).toBe('baseline');
    expect(jitTierFromArgv(argv('standalone'), { L2VIP_MEMBERSHIP_SOCKET: 'engine' })).toBe('baseline');
  });

  it("the speaker commands take it, 'baseline' by default, and refuse anything else", async () => {
    for (const command of ['standalone', 'speaker', 'announce']) {
      const program = await buildProgram(['node', 'l2vip', command]);
      const sub = program.commands[0]!;
      expect(sub.options.find((o) => o.long === '--jit')?.defaultValue).toBe('baseline');
      sub.exitOverride();
      sub.configureOutput({ writeErr: () => undefined });
      await expect(program.parseAsync(['node', 'l2vip', command, '--jit', 'turbo'])).rejects.toMatchObject({ code: 'commander.invalidArgument' });
    }
  });
});
