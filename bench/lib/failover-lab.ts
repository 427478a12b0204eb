/**
 * What bench:failover and bench:loss share: running a Lab (src/lab) with cleanup on exit and
 * signals, the node runners they compare (l2vip, keepalived), options, load averages, and
 * table formatting.
 */
import { loadavg } from 'node:os';
import { spawnRunner } from '../../src/host/command-runner.js';
import { Lab, type Fault } from '../../src/lab/lab.js';
import type { NodeRunner } from '../../src/lab/node-runner.js';
import { onCleanup } from './cleanup.js';

export const NODES = 3;
export const INTERVAL_MS = 2;

/** The three load averages, as `uptime` prints them. */
export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Value of `--name V` in argv, if present. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** A positive number from `--name V`, or `fallback`; throws a usage error otherwise. */
export function numberArg(argv: readonly string[], name: string, fallback: number, usage: string): number {
  const v = argValue(argv, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number\n${usage}`);
  return n;
}

export function requireRoot(name: string): void {
  if (process.getuid?.() !== 0) {
    console.error(`${name} needs root: it creates network namespaces (sudo npm run ${name})`);
    process.exit(2);
  }
}

/**
 * Builds a lab with `nodeRunner` (NODES nodes and a probe every INTERVAL_MS unless given), runs `body`, and removes everything: on return, on error
 * (the logs are kept and their directory printed), and on SIGINT/SIGTERM/exit (synchronously).
 */
export async function withLab<T>(
  o: { nodeRunner: NodeRunner; fault: Fault; loss?: number; print: (l: string) => void; clientIgnoresGratuitous?: boolean; nodes?: number; intervalMs?: number },
  body: (lab: Lab) => Promise<T>,
): Promise<T> {
  const lab = new Lab({
    nodes: o.nodes ?? NODES,
    fault: o.fault,
    loss: o.loss ?? 0,
    trials: 0,
    keep: false,
    intervalMs: o.intervalMs ?? INTERVAL_MS,
    runner: spawnRunner,
    print: o.print,
    nodeRunner: o.nodeRunner,
    clientIgnoresGratuitous: o.clientIgnoresGratuitous ?? false,
  });
  const unregister = onCleanup(() => lab.teardownSync());
  let failed = false;
  try {
    await lab.setup();
    return await body(lab);
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await lab.teardown(failed);
    unregister();
    if (failed && lab.logDir !== '') o.print(`logs of the failed run kept in ${lab.logDir}`);
  }
}

/** Left-aligned (strings) or right-aligned (numbers) columns, two spaces apart. */
export function table(rows: readonly (readonly (string | number)[])[]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  return rows.map((r) =>
    r
      .map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** A millisecond figure for a table: one decimal below 10, none above. */
export function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v < 10 ? v.toFixed(1) : v.toFixed(0);
}
