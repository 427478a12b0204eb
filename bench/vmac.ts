/**
 * Virtual MAC (docs/virtual-mac.md): failover after kill -9 of the owner, as a normal client and
 * as a client that ignores gratuitous ARP/NA sees it, with and without a virtual MAC, side by
 * side, in one run; plus keepalived `use_vmac` (advert_int 0.1 s) when keepalived is installed.
 *
 *   sudo npm run bench:vmac                  (5 trials per row)
 *   sudo npm run bench:vmac -- --trials 2    options: --trials N, --no-baseline
 *
 * The lab of `l2vip lab` (src/lab): a client and 3 nodes in network namespaces on one bridge,
 * UDP probes through an IPv4 and an IPv6 VIP every 2 ms, kill -9 of every process of the
 * owner's namespace. The GARP-ignoring client (src/lab/topology.ts ignoreGratuitous) drops
 * gratuitous ARP and unsolicited NA with nftables, as many routers and firewalls do, and has
 * lowered neighbour timers (reachable 2 s, first probe after 1 s, probes 1 s apart) so its
 * outage without a virtual MAC fits a trial: with a router's defaults it would be 20 s and more.
 */
import { StandaloneRunner } from '../src/lab/standalone-runner.js';
import { KeepalivedRunner, keepalivedVersion } from '../src/lab/keepalived-runner.js';
import type { NodeRunner } from '../src/lab/node-runner.js';
import type { TrialResult } from '../src/lab/lab.js';
import { INTERVAL_MS, load, ms, NODES, numberArg, requireRoot, table, withLab } from './lib/failover-lab.js';
import { summarize } from './lib/percentiles.js';

const USAGE = 'usage: sudo npx tsx bench/vmac.ts [--trials N] [--no-baseline]';
const print = (l: string): void => void process.stdout.write(l + '\n');

interface Row {
  readonly software: NodeRunner;
  readonly ignoresGarp: boolean;
  readonly results: readonly TrialResult[];
  readonly load: string;
}

async function run(software: NodeRunner, ignoresGarp: boolean, trials: number): Promise<Row> {
  print(`\n${software.label}, ${ignoresGarp ? 'client ignoring gratuitous ARP/NA' : 'normal client'}: ${trials} trials (load average ${load()})`);
  const results = await withLab({ nodeRunner: software, fault: 'kill', print, clientIgnoresGratuitous: ignoresGarp }, async (lab) => {
    const out: TrialResult[] = [];
    for (let i = 1; i <= trials; i++) {
      const t = await lab.trial(i);
      out.push(t);
      const fam = (v: 'ipv4' | 'ipv6'): string => `${v === 'ipv4' ? 'IPv4' : 'IPv6'} ${ms(t[v].outageMs).padStart(5)} ms`;
      print(`  #${String(i).padStart(2)} ${t.oldOwner} -> ${t.newOwner ?? '?'}  ${fam('ipv4')}${software.servesIpv6 === false ? '' : `  ${fam('ipv6')}`}`);
    }
    return out;
  });
  return { software, ignoresGarp, results, load: load() };
}

function cell(rs: readonly TrialResult[], v: 'ipv4' | 'ipv6'): string {
  const s = summarize(rs.map((r) => r[v].outageMs));
  return `${ms(s.p50)} / ${ms(s.max)}`;
}

async function main(): Promise<void> {
  requireRoot('bench:vmac');
  const argv = process.argv.slice(2);
  const trials = numberArg(argv, '--trials', 5, USAGE);
  const loadAtStart = load();
  print(`bench:vmac, ${new Date().toISOString()}, load average ${loadAtStart}`);
  const software: NodeRunner[] = [new StandaloneRunner('', 'info', 'l2vip'), new StandaloneRunner('virtualMac: true', 'info', 'l2vip, virtual MAC')];
  if (!argv.includes('--no-baseline')) {
    const version = keepalivedVersion();
    if (version === undefined) print('keepalived is not installed: its use_vmac row is skipped');
    else {
      print(`baseline: ${version}, VRRPv3, use_vmac + vmac_xmit_base, advert_int 0.1 s, IPv4 and IPv6 instances in one sync group, nopreempt`);
      software.push(new KeepalivedRunner({ advertIntS: 0.1, ipv6: true, useVmac: true }));
    }
  }
  const rows: Row[] = [];
  for (const ignoresGarp of [false, true]) for (const s of software) rows.push(await run(s, ignoresGarp, trials));

  print('\n=== Virtual MAC: failover after kill -9 of the owner ===');
  print(`${NODES} nodes and a client on one bridge, UDP probes through each VIP every ${INTERVAL_MS} ms; load average at start ${loadAtStart}, at end ${load()} (2 cores)`);
  print('outage: longest time between the sending of two consecutive probes answered within 200 ms, less one interval (ms), p50 / max');
  print('client ignoring GARP: drops gratuitous ARP and unsolicited NA (nftables), neighbour timers reachable 2 s, first probe after 1 s');
  const out: (string | number)[][] = [['client', 'software', 'trials', 'IPv4 outage p50 / max', 'IPv6 outage p50 / max', 'load at end']];
  for (const [i, r] of rows.entries()) {
    const first = i === 0 || rows[i - 1]!.ignoresGarp !== r.ignoresGarp;
    out.push([
      first ? (r.ignoresGarp ? 'ignores GARP' : 'normal') : '',
      r.software.label,
      r.results.length,
      cell(r.results, 'ipv4'),
      r.software.servesIpv6 === false ? '-' : cell(r.results, 'ipv6'),
      r.load,
    ]);
  }
  for (const l of table(out)) print(l);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
