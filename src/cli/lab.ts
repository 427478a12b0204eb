import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { FileError, MissingToolError, UsageError } from '../errors.js';
import { spawnRunner } from '../host/command-runner.js';
import { KeepalivedRunner, keepalivedVersion } from '../lab/keepalived-runner.js';
import { Lab, percentile, type Fault, type TrialResult } from '../lab/lab.js';
import type { NodeRunner } from '../lab/node-runner.js';
import { renderLabReport, type ReportRun } from '../lab/report-html.js';
import { StandaloneRunner } from '../lab/standalone-runner.js';
import { parseIntOption } from './options.js';
import { requireNetworkPrivileges } from './privileges.js';

interface LabCliOptions {
  nodes: number;
  fault: Fault;
  loss: number;
  trials: number;
  keep: boolean;
  interval: number;
  compare?: 'keepalived';
  advertInterval: number;
  report?: string;
  virtualMac: boolean;
  clientIgnoresGarp: boolean;
}

export function registerLab(program: Command): void {
  program
    .command('lab')
    .summary('build a throw-away network and measure a failover (root)')
    .description(
      'Builds network namespaces on one bridge, starts N standalone speakers and a client, announces an IPv4 and an ' +
        'IPv6 VIP, shows which node owns them, fails the owner, and prints the outage the client saw (UDP probes ' +
        'through the VIPs every 2 ms) and the new owner. With --compare keepalived it then runs the same faults ' +
        'against a keepalived VRRP cluster in a fresh lab and prints both side by side; it never prints a figure it ' +
        'did not measure in this run. --report writes a self-contained HTML page with a timeline per trial. Removes ' +
        'everything it created, also on Ctrl-C.',
    )
    .option('--nodes <n>', 'number of speaker nodes (2-9)', parseNodes, 3)
    .addOption(new Option('--fault <kind>', 'how the owner fails: link (cable cut), kill (kill -9 every process of the node), stop (planned SIGTERM)').choices(['link', 'kill', 'stop']).default('kill'))
    .option('--loss <percent>', 'random loss of membership traffic between nodes, % (nftables on the bridge)', parsePercent, 0)
    .option('--trials <n>', 'number of failovers', parseIntOption, 3)
    .option('--interval <ms>', 'probe spacing', parseIntOption, 2)
    .addOption(new Option('--compare <software>', 'also measure this software with the same faults, in the same run (needs it installed)').choices(['keepalived']))
    .option('--advert-interval <s>', 'with --compare keepalived: VRRPv3 advert_int, seconds (0.01-40.95)', parseAdvert, 0.1)
    .option('--report <file.html>', 'write a self-contained HTML page: topology, and per trial who answered over time, the outage and the membership events')
    .option('--virtual-mac', 'run l2vip twice, without and then with a virtual MAC for the VIPs (docs/virtual-mac.md), and print both side by side (with --keep: only with it)', false)
    .option('--client-ignores-garp', 'the client drops gratuitous ARP and unsolicited NA (as many routers do) and has short neighbour timers (reachable 2 s)', false)
    .option('--keep', 'leave the lab running after the trials, for exploration, until Ctrl-C (not with --compare)', false)
    .action((o: LabCliOptions, cmd: Command) => {
      if (cmd.getOptionValueSource('advertInterval') === 'cli' && o.compare !== 'keepalived') throw new UsageError('--advert-interval applies to keepalived: add --compare keepalived');
      return runLabCli(o);
    });
}

function parseNodes(v: string): number {
  const n = parseIntOption(v);
  if (n < 2 || n > 9) throw new InvalidArgumentError('must be between 2 and 9');
  return n;
}

function parsePercent(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('must be a number between 0 and 100');
  return n;
}

/** The lab runs VRRPv3, which counts advert_int in centiseconds on 12 bits (RFC 5798 §5.2.7): 0.01 to 40.95 s. */
function parseAdvert(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0.01 || n > 40.95) throw new InvalidArgumentError('must be a number of seconds between 0.01 and 40.95 (VRRPv3)');
  return n;
}

function fmt(r: TrialResult): string {
  const f = (x: TrialResult['ipv4']) => `${String(x.outageMs).padStart(7)} ms (${x.lost} probes lost)`;
  return `  ${String(r.trial).padStart(3)}  ${r.oldOwner} -> ${r.newOwner ?? '?'}   IPv4 ${f(r.ipv4)}   IPv6 ${f(r.ipv6)}`;
}

/** The outages of a run (IPv4 and IPv6 of every trial; IPv4 alone for software that keeps only IPv4). */
function gaps(results: readonly TrialResult[], ipv6: boolean): number[] {
  return results.flatMap((r) => (ipv6 ? [r.ipv4.outageMs, r.ipv6.outageMs] : [r.ipv4.outageMs]));
}

/** Rows of figures measured in this run, one column per software. */
export function sideBySide(runs: readonly { label: string; results: readonly TrialResult[]; ipv6: boolean }[]): string[] {
  const rows: string[][] = [['', ...runs.map((r) => r.label)]];
  const add = (name: string, f: (r: (typeof runs)[number]) => string): void => void rows.push([name, ...runs.map(f)]);
  add('trials', (r) => String(r.results.length));
  add('outage p50', (r) => `${percentile(gaps(r.results, r.ipv6), 50)} ms`);
  add('outage max', (r) => `${Math.max(...gaps(r.results, r.ipv6))} ms`);
  add('probes lost', (r) => String(r.results.reduce((n, t) => n + t.ipv4.lost + (r.ipv6 ? t.ipv6.lost : 0), 0)));
  add('new owner found', (r) => `${r.results.filter((t) => t.newOwner !== undefined).length}/${r.results.length}`);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => '  ' + row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   '));
}

async function runLabCli(o: LabCliOptions): Promise<void> {
  if (o.trials < 1) throw new UsageError('--trials must be at least 1');
  if (o.keep && o.compare !== undefined) throw new UsageError('--keep explores one lab: leave out --compare');
  const report = o.report === undefined ? undefined : resolve(o.report);
  if (report !== undefined && !(existsSync(dirname(report)) && statSync(dirname(report)).isDirectory())) {
    throw new UsageError(`--report: the directory ${dirname(report)} does not exist`);
  }
  let version: string | undefined;
  if (o.compare === 'keepalived') {
    version = keepalivedVersion();
    if (version === undefined) throw new MissingToolError('--compare keepalived: keepalived is not installed (it runs on the lab\'s nodes): install it (apt-get install keepalived) or leave out --compare');
  }
  requireNetworkPrivileges('l2vip lab', true);
  const print = (l: string): void => void process.stdout.write(l + '\n');
  let interrupted: (() => void) | undefined;
  const exitRequested = new Promise<void>((r) => (interrupted = r));
  let current: Lab | undefined;
  let torn = false;
  const onSignal = (): void => {
    if (interrupted) interrupted();
    print('\ninterrupted: removing the lab');
    torn = true;
    (current?.teardown() ?? Promise.resolve()).then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Debug-level speaker logs carry the suspicions the report's timeline shows.
  const withVmac = new StandaloneRunner('virtualMac: true', 'debug', 'l2vip, virtual MAC');
  // A kept lab is one lab: with --virtual-mac, the one with the virtual MAC.
  const software: NodeRunner[] = o.virtualMac && o.keep ? [withVmac] : [new StandaloneRunner('', 'debug'), ...(o.virtualMac ? [withVmac] : [])];
  if (o.compare === 'keepalived') software.push(new KeepalivedRunner({ advertIntS: o.advertInterval, ipv6: true }));
  const runs: (ReportRun & { ipv6: boolean })[] = [];
  const writeReport = async (): Promise<void> => {
    if (report === undefined || runs.length === 0) return;
    const html = renderLabReport({ generatedAt: Date.now(), fault: o.fault, loss: o.loss, intervalMs: o.interval, machine: { loadAverage: loadavg(), cpus: availableParallelism() }, runs });
    await writeFile(report, html).catch((err: unknown) => {
      throw new FileError(`--report: writing ${report}: ${(err as Error).message}`, { cause: err });
    });
    print(`report: ${report}`);
  };
  try {
    for (const nodeRunner of software) {
      if (torn) return;
      const lab = new Lab({ ...o, intervalMs: o.interval, runner: spawnRunner, print, nodeRunner, clientIgnoresGratuitous: o.clientIgnoresGarp });
      current = lab;
      const done = (results: TrialResult[]): Promise<void> => {
        runs.push({ label: nodeRunner.label, results, ipv6: nodeRunner.servesIpv6 !== false, topology: lab.topo });
        // A kept lab ends with Ctrl-C, which exits: its report is written before the wait.
        return o.keep ? writeReport() : Promise.resolve();
      };
      await runOne(lab, nodeRunner, o, print, exitRequested, nodeRunner instanceof KeepalivedRunner ? version : undefined, done);
    }
    if (runs.length > 1) {
      print('');
      print(`side by side (measured in this run, same faults: ${o.fault}, same machine: ${availableParallelism()} CPUs, load averages ${loadavg().map((l) => l.toFixed(2)).join(' ')}):`);
      for (const l of sideBySide(runs)) print(l);
    } else if (o.keep === false) {
      print('(to measure keepalived the same way in the same run: --compare keepalived)');
    }
    if (!o.keep) await writeReport();
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** One lab with one node software: setup, trials, teardown (logs kept on failure). */
async function runOne(
  lab: Lab,
  software: NodeRunner,
  o: LabCliOptions,
  print: (l: string) => void,
  exitRequested: Promise<void>,
  version: string | undefined,
  done: (results: TrialResult[]) => Promise<void>,
): Promise<void> {
  let failed = false;
  try {
    print(`l2vip lab: ${o.nodes} nodes running ${software.label}${version === undefined ? '' : ` (${version})`} and a client on one bridge (namespaces ${lab.topo.switchNs.replace(/-sw$/, '-*')})`);
    await lab.setup();
    print(`VIPs: ${lab.topo.vip4} and ${lab.topo.vip6}; client probes both every ${o.interval} ms (UDP echo on every node)`);
    if (o.loss > 0) print(`injecting ${o.loss}% random loss on the traffic between nodes`);
    const owner = await lab.waitStable();
    print(`owner: ${owner} answers for both VIPs`);
    print(`fault: ${o.fault} of the owner, ${o.trials} trial(s); outage = longest time without an answer, as the client saw it`);
    const results: TrialResult[] = [];
    for (let i = 1; i <= o.trials; i++) {
      const r = await lab.trial(i);
      results.push(r);
      print(fmt(r));
    }
    const g = gaps(results, software.servesIpv6 !== false);
    print(`${software.label}: outage over ${g.length} measurements: p50 ${percentile(g, 50)} ms, max ${Math.max(...g)} ms`);
    await done(results);
    if (o.keep) {
      print(`lab kept: namespaces ${lab.topo.client.netns} (client), ${lab.topo.nodes.map((n) => n.netns).join(', ')}`);
      print(`  try: ip netns exec ${lab.topo.client.netns} ping ${lab.topo.vip4}`);
      print(`       ip netns exec ${lab.topo.nodes[0]?.netns ?? ''} l2vip status     (each node serves its status on 127.0.0.1:7472 in its namespace)`);
      print(`  speaker logs: ${lab.logDir}/n*.log; Ctrl-C removes everything`);
      await exitRequested;
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await lab.teardown(failed);
    if (failed && lab.logDir !== '') print(`node logs kept in ${lab.logDir}`);
  }
}
