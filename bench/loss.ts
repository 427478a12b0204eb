/**
 * False failovers under packet loss between the nodes: l2vip next to keepalived, in the same
 * lab, in one run.
 *
 *   sudo npm run bench:loss                  (60 s per row, about 8 minutes)
 *   sudo npm run bench:loss -- --quick       (10 s per row)
 *   options: --duration S (per row, default 60), --losses 0,5,20 (%),
 *            --adverts 0.1 (keepalived advert_int values, s), --no-baseline,
 *            --only l2vip|keepalived
 *
 * The lab of `l2vip lab` (src/lab), 3 nodes, nothing failed: the switch drops a random share of
 * the frames between the nodes that carry the software's own peer traffic (nftables in the
 * bridge family, `numgen random`; l2vip: membership datagrams, UDP 7946; keepalived: VRRP, IP
 * protocol 112 over IPv4 and IPv6, multicast to 224.0.0.18 / ff02::12; each receiver of a
 * multicast frame loses its copy independently). The client probes both VIPs every 2 ms.
 * Counted over the window: ownership changes as the client saw them (answers from a different
 * node than the previous answer, per VIP), probes lost (or answered later than 200 ms), the
 * ownership lines the nodes logged (l2vip: "owner elected" on every node, and those where a node
 * elected itself; keepalived: state changes, and entries into MASTER), and the peer frames the
 * switch matched and dropped (the loss really applied). 0 % is the control: what the machine's
 * load alone does. Goal (l2vip): zero ownership changes at 5 % and 20 %.
 */
import type { Observation } from '../src/lab/lab.js';
import type { NodeRunner } from '../src/lab/node-runner.js';
import { StandaloneRunner } from '../src/lab/standalone-runner.js';
import { argValue, INTERVAL_MS, load, NODES, numberArg, requireRoot, table, withLab } from './lib/failover-lab.js';
import { KeepalivedRunner } from '../src/lab/keepalived-runner.js';
import { ensureKeepalived } from './lib/keepalived.js';

const USAGE = 'usage: sudo npx tsx bench/loss.ts [--quick] [--duration S] [--losses 0,5,20] [--adverts 0.1] [--no-baseline] [--only l2vip|keepalived]';

interface Options {
  readonly durationS: number;
  readonly losses: readonly number[];
  readonly adverts: readonly number[];
  readonly baseline: boolean;
  /** Run l2vip's rows (`--only keepalived` skips them). */
  readonly ours: boolean;
}

function list(v: string, name: string): number[] {
  const out = v.split(',').map(Number);
  if (out.some((x) => !Number.isFinite(x) || x < 0 || x > 100)) throw new Error(`${name}: comma-separated numbers\n${USAGE}`);
  return out;
}

function options(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  return {
    durationS: numberArg(argv, '--duration', quick ? 10 : 60, USAGE),
    losses: list(argValue(argv, '--losses') ?? '0,5,20', '--losses'),
    adverts: list(argValue(argv, '--adverts') ?? '0.1', '--adverts').filter((a) => a > 0),
    baseline: !argv.includes('--no-baseline') && argValue(argv, '--only') !== 'l2vip',
    ours: argValue(argv, '--only') !== 'keepalived',
  };
}

interface Row {
  readonly software: NodeRunner;
  readonly loss: number;
  readonly obs: Observation;
  readonly loadAtEnd: string;
}

const print = (l: string): void => void process.stdout.write(l + '\n');

function describe(o: Observation, ipv6: boolean): string {
  const v = (x: Observation['ipv4']): string => `${x.changes} changes, ${x.lost + x.late} lost`;
  const rate = o.peerFrames.matched === 0 ? '-' : ((100 * o.peerFrames.dropped) / o.peerFrames.matched).toFixed(1);
  return `  IPv4: ${v(o.ipv4)}; IPv6: ${ipv6 ? v(o.ipv6) : 'not kept'}; ownership lines logged ${o.ownerLines} (${o.gains} takeovers); peer frames dropped ${o.peerFrames.dropped} of ${o.peerFrames.matched} (${rate} %)`;
}

async function observe(software: NodeRunner, loss: number, durationS: number): Promise<Row> {
  print(`\n${software.label}, ${loss} % loss on peer traffic (${software.peerTraffic.join(', ')}), ${durationS} s (load average ${load()})`);
  const obs = await withLab({ nodeRunner: software, fault: 'kill', loss, print }, (lab) => lab.observe(durationS * 1000));
  print(describe(obs, software.servesIpv6 !== false));
  return { software, loss, obs, loadAtEnd: load() };
}

function report(rows: readonly Row[], durationS: number, loadAtStart: string): boolean {
  print('\n=== Loss: false failovers, l2vip and keepalived in the same lab ===');
  print(`${NODES} nodes, nothing failed, ${durationS} s per row, probes every ${INTERVAL_MS} ms; load average at start ${loadAtStart}, at end ${load()} (2 cores)`);
  print('changes: answers from a different node than the previous answer (per VIP); lost: never answered or later than 200 ms');
  const out: (string | number)[][] = [['software', 'loss', 'changes v4', 'changes v6', 'lost v4', 'lost v6', 'lines logged', 'takeovers logged', 'peer frames dropped', 'goal']];
  let met = true;
  for (const r of rows) {
    const ours = r.software instanceof StandaloneRunner;
    const v6 = r.software.servesIpv6 !== false;
    let goal = '';
    if (ours && r.loss > 0) {
      const changes = r.obs.ipv4.changes + r.obs.ipv6.changes + r.obs.gains;
      goal = changes === 0 ? 'met (0 changes)' : 'missed';
      if (changes > 0) met = false;
    }
    out.push([
      r.software.label,
      `${r.loss} %`,
      r.obs.ipv4.changes,
      v6 ? r.obs.ipv6.changes : '-',
      r.obs.ipv4.lost + r.obs.ipv4.late,
      v6 ? r.obs.ipv6.lost + r.obs.ipv6.late : '-',
      r.obs.ownerLines,
      r.obs.gains,
      `${r.obs.peerFrames.dropped} / ${r.obs.peerFrames.matched}`,
      goal,
    ]);
  }
  for (const l of table(out)) print(l);
  return met;
}

async function main(): Promise<void> {
  requireRoot('bench:loss');
  const o = options(process.argv.slice(2));
  const loadAtStart = load();
  print(`bench:loss, ${new Date().toISOString()}, load average ${loadAtStart}`);
  const plan: { software: NodeRunner; loss: number }[] = o.ours ? o.losses.map((loss) => ({ software: new StandaloneRunner(), loss })) : [];
  if (o.baseline) {
    const version = ensureKeepalived(print);
    if (version === undefined) print('keepalived could not be installed: the keepalived comparison is skipped');
    else {
      print(`baseline: ${version}, VRRPv3, nopreempt; one IPv4 instance (the usual setup), then IPv4 and IPv6 instances in one sync group`);
      for (const advertIntS of o.adverts) {
        for (const ipv6 of [false, true]) {
          const ka = new KeepalivedRunner({ advertIntS, ipv6 });
          for (const loss of o.losses) plan.push({ software: ka, loss });
        }
      }
    }
  }
  const rows: Row[] = [];
  for (const p of plan) rows.push(await observe(p.software, p.loss, o.durationS));
  if (!report(rows, o.durationS, loadAtStart)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
