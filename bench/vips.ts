/**
 * Thousands of VIPs on one speaker (issue 12), as an operator with many services runs it:
 *
 *   sudo npm run bench:vips                       (N = 300, 2 000, 10 000; a few minutes)
 *   sudo npm run bench:vips -- --vips 300,2000    (other sizes)
 *   sudo npm run bench:vips -- --baseline /path/to/older/checkout
 *   sudo npm run bench:vips -- --built            (bin/l2vip.js with the node flags of its #! line: dist/; `npm run build` first)
 *
 * 3 nodes running `l2vip standalone` in namespaces on one bridge, one service with N IPv4 VIPs on
 * one /16 (198.18.0.0/16), and a client ARPing the first and the last VIP every 20 ms from before
 * the speakers start (bench/lib/vips-lab.ts). After start-up has settled (5 s after both VIPs
 * answered), the client sweeps every VIP once; then kill -9 of every process of the owner.
 *
 * Figures per N, side by side: owner changes the client saw from the start until the kill (every
 * change of the MAC a client learns, from replies or gratuitous ARP), the time from the start
 * until the first and the last VIP answered, how many of the N VIPs answered the sweep (and how
 * many of those the owner did), failover outage (last probe answered by the dead node to first
 * probe answered by another, less one interval), the new owner's first gratuitous ARP after the
 * kill, clients left pointing at the dead node 2 s later, the owner's peak RSS, the lines each
 * node logged until the kill (info level), and the owner's longest event-loop stall
 * (l2vip_event_loop_max_lag_seconds: on a shared machine it also counts time the process was
 * not scheduled), then the same and the owner's RSS after 4 scrapes of /metrics and one of
 * /status. The baseline is the figures of issue 12 (the code before), or `--baseline DIR`
 * runs an older checkout's src/cli/main.ts in the same lab (its dist/ with --built). Through tsx
 * (the default) every speaker also carries the TypeScript transpiler: about 40 MiB more RSS and a
 * slower start than the built CLI that ships.
 *
 * Goals (issue 12): 10 000 VIPs with zero owner changes during start-up, every VIP answered
 * within 5 s; failover outage first VIP <= 150 ms, last <= 300 ms; no stranded client; owner RSS
 * <= 150 MB; start-up log lines independent of N.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binNodeFlags } from '../src/lab/standalone-runner.js';
import { argValue, load, ms, requireRoot, table } from './lib/failover-lab.js';
import { runVips, type VipsResult } from './lib/vips-lab.js';

const USAGE = 'usage: sudo npx tsx bench/vips.ts [--vips 300,2000,10000] [--baseline DIR] [--built]';

/** Issue 12's table: the code before, same lab (owner changes first/last, outage first/last ms, RSS MB, log lines). */
const ISSUE_12: Record<number, string> = {
  300: 'changes 0/0, outage 81/98 ms, RSS 89 MB, logs small',
  2000: 'changes 6/3, outage 86/178 ms, RSS 111 MB, logs ~10 000',
  5000: 'flapping, client stranded for 18 s, RSS 126 MB, logs ~30 000',
  10000: 'changes 68/47, outage 100/346 ms, RSS 193 MB',
};

const REPO = fileURLToPath(new URL('..', import.meta.url));

const print = (l: string): void => void process.stdout.write(l + '\n');

function pair(p: { first: number; last: number }, f: (v: number) => string = (v) => String(Math.round(v))): string {
  return `${Number.isFinite(p.first) ? f(p.first) : '-'} / ${Number.isFinite(p.last) ? f(p.last) : '-'}`;
}

function rows(label: string, results: readonly (VipsResult | Error)[]): (string | number)[][] {
  const get = (f: (r: VipsResult) => string): string[] => results.map((r) => (r instanceof Error ? 'failed' : f(r)));
  return [
    [`${label}: VIPs`, ...results.map((r) => (r instanceof Error ? '?' : String(r.vips)))],
    ['owner changes seen at start-up (first / last VIP)', ...get((r) => pair(r.startupChanges))],
    ['probes answered by two nodes (first / last)', ...get((r) => pair(r.doubleAnswers))],
    ['answered after start, ms (first / last)', ...get((r) => pair(r.answeredMs))],
    ['sweep: VIPs answered (by the owner)', ...get((r) => `${r.sweep.answered} (${r.sweep.byOwner})`)],
    ['failover outage after kill -9, ms (first / last)', ...get((r) => pair(r.outageMs, ms))],
    ['new owner\'s first GARP after the kill, ms (first / last)', ...get((r) => pair(r.announcedMs, ms))],
    ['clients left on the dead node 2 s after', ...get((r) => String(r.stranded))],
    ['owner RSS, peak, MiB', ...get((r) => r.ownerRssMiB.toFixed(0))],
    ['log lines until the kill (owner / most of a node)', ...get((r) => `${r.ownerLogLines} / ${r.maxLogLines}`)],
    ['owner\'s longest event-loop stall, ms', ...get((r) => ms(r.maxStallMs))],
    ['same, after 4 /metrics and 1 /status scrapes, ms', ...get((r) => ms(r.scrapeStallMs))],
    ['owner RSS after those scrapes, MiB', ...get((r) => r.rssAfterScrapesMiB.toFixed(0))],
  ];
}

async function series(sizes: readonly number[], command: readonly string[] | undefined, label: string): Promise<(VipsResult | Error)[]> {
  const out: (VipsResult | Error)[] = [];
  for (const n of sizes) {
    print(`${label}: ${n} VIPs (load average ${load()})`);
    try {
      const r = await runVips({ vips: n, print, command });
      print(`  ${JSON.stringify(r)}`);
      out.push(r);
    } catch (err) {
      print(`  failed: ${(err as Error).message}`);
      out.push(err as Error);
    }
  }
  return out;
}

async function main(): Promise<void> {
  requireRoot('bench:vips');
  const sizes = (argValue(process.argv, '--vips') ?? '300,2000,10000').split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 60_000)) throw new Error(`--vips takes sizes from 2 to 60000\n${USAGE}`);
  const baselineDir = argValue(process.argv, '--baseline');
  const built = process.argv.includes('--built');
  // Built: node with the flags of bin/l2vip.js's #! line, as `l2vip` runs (the lab does the same).
  const command = (root: string): string[] => (built ? [process.execPath, ...binNodeFlags(), join(root, 'bin', 'l2vip.js')] : [process.execPath, '--import', 'tsx', join(root, 'src', 'cli', 'main.ts')]);
  for (const root of [REPO, ...(baselineDir === undefined ? [] : [baselineDir])]) {
    if (built && !existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error(`--built: ${root}/dist is missing: run "npm run build" there first\n${USAGE}`);
  }
  const loadAtStart = load();
  print(`bench:vips, ${new Date().toISOString()}, load average ${loadAtStart} (2 cores, shared), ${built ? 'built CLI (dist/)' : 'sources through tsx'}`);
  const ours = await series(sizes, command(REPO), 'l2vip (this checkout)');
  const base = baselineDir === undefined ? undefined : await series(sizes, command(baselineDir), `baseline (${baselineDir})`);
  print(`\n=== ${sizes.length} sizes, 3 nodes, one service, client ARPing first and last VIP every 20 ms; load average at start ${loadAtStart}, at end ${load()} ===`);
  const all = rows('l2vip', ours);
  if (base !== undefined) all.push([''], ...rows('baseline', base));
  for (const l of table(all)) print(l);
  print('\nbaseline (issue 12, the code before, same lab):');
  for (const n of sizes) print(`  ${n} VIPs: ${ISSUE_12[n] ?? 'not measured'}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
