import { setFlagsFromString } from 'node:v8';
import { Option } from 'commander';

/** Which of V8's compilers a long-running speaker uses (docs/standalone.md#javascript-compilers---jit). */
export type JitTier = 'baseline' | 'full';

/**
 * `--jit` of the speaker commands (standalone, speaker, announce). 'baseline' (the default):
 * the interpreter and Sparkplug, V8's non-optimizing compiler. An idle speaker's JavaScript is
 * light (the beats, the frames and the MACs run in the addon), and TurboFan, once it has
 * optimized that code, keeps about 7 MB more resident: its own code pages in the node binary,
 * the optimized code and its compile zones. 'full' adds TurboFan: for bulk work such as
 * thousands of VIPs (10 000 VIPs started 0.2 to 0.5 s sooner and failed over about 20 ms
 * sooner in bench:vips).
 */
export function jitOption(): Option {
  return new Option(
    '--jit <tier>',
    "V8 compilers: 'baseline' (no optimizing compiler: about 7 MB less memory for an idle speaker) or 'full' (TurboFan too: faster bulk work, e.g. thousands of VIPs); default baseline, full when L2VIP_MEMBERSHIP_SOCKET=polled or dgram",
  )
    .choices(['baseline', 'full'])
    .default(defaultJitTier(process.env));
}

/** The commands that take --jit. */
export const JIT_COMMANDS: readonly string[] = ['standalone', 'speaker', 'announce'];

/**
 * The tier asked for on a command line (process.argv's shape), undefined for a command without
 * --jit. Read from argv before commander parses it, so that the flag is set before the command's
 * modules load: loading them runs Node's module loader hot enough for TurboFan. A value other
 * than 'full' is 'baseline' here; commander then refuses it with the choices.
 */
export function jitTierFromArgv(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): JitTier | undefined {
  if (!JIT_COMMANDS.includes(argv[2] ?? '')) return undefined;
  let value: string | undefined;
  for (let i = 3; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--jit') value = argv[++i];
    else if (a.startsWith('--jit=')) value = a.slice('--jit='.length);
  }
  if (value === undefined) return defaultJitTier(env);
  return value === 'full' ? 'full' : 'baseline';
}

/**
 * Without --jit: 'baseline', unless L2VIP_MEMBERSHIP_SOCKET=polled or dgram (docs/membership.md#which-thread)
 * sends the heartbeats from JavaScript instead of the addon's engine: 100 ticks a second of
 * protocol code, which without TurboFan cost an idle 3-node speaker about 1.7 times the CPU.
 */
export function defaultJitTier(env: NodeJS.ProcessEnv): JitTier {
  const socket = env['L2VIP_MEMBERSHIP_SOCKET'];
  return socket === 'polled' || socket === 'dgram' ? 'full' : 'baseline';
}

/** Applies the tier to this process's V8 (`--max-opt=1` for 'baseline'; V8 reads it at each tiering decision). */
export function applyJit(tier: JitTier): void {
  if (tier === 'baseline') setFlagsFromString('--max-opt=1');
}
