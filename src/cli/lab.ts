import { type Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../errors.js';
import { spawnRunner } from '../host/command-runner.js';
import { Lab, percentile, type Fault, type TrialResult } from '../lab/lab.js';
import { parseIntOption } from './options.js';
import { requireNetworkPrivileges } from './privileges.js';

interface LabCliOptions {
  nodes: number;
  fault: Fault;
  loss: number;
  trials: number;
  keep: boolean;
  interval: number;
}

export function registerLab(program: Command): void {
  program
    .command('lab')
    .summary('build a throw-away network and measure a failover (root)')
    .description(
      'Builds network namespaces on one bridge, starts N standalone speakers and a client, announces an IPv4 and an ' +
        'IPv6 VIP, shows which node owns them, fails the owner, and prints the outage the client saw (UDP probes ' +
        'through the VIPs every 2 ms) and the new owner. Removes everything it created, also on Ctrl-C.',
    )
    .option('--nodes <n>', 'number of speaker nodes (2-9)', parseNodes, 3)
    .addOption(new Option('--fault <kind>', 'how the owner fails: link (cable cut), kill (kill -9 every process of the node), stop (planned SIGTERM)').choices(['link', 'kill', 'stop']).default('kill'))
    .option('--loss <percent>', 'random loss of membership traffic between nodes, % (nftables on the bridge)', parsePercent, 0)
    .option('--trials <n>', 'number of failovers', parseIntOption, 3)
    .option('--interval <ms>', 'probe spacing', parseIntOption, 2)
    .option('--keep', 'leave the lab running after the trials, for exploration, until Ctrl-C', false)
    .action((o: LabCliOptions) => runLabCli(o));
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

function fmt(r: TrialResult): string {
  const f = (x: TrialResult['ipv4']) => `${String(x.outageMs).padStart(7)} ms (${x.lost} probes lost)`;
  return `  ${String(r.trial).padStart(3)}  ${r.oldOwner} -> ${r.newOwner ?? '?'}   IPv4 ${f(r.ipv4)}   IPv6 ${f(r.ipv6)}`;
}

async function runLabCli(o: LabCliOptions): Promise<void> {
  if (o.trials < 1) throw new UsageError('--trials must be at least 1');
  requireNetworkPrivileges('l2vip lab', true);
  const print = (l: string): void => void process.stdout.write(l + '\n');
  let interrupted: (() => void) | undefined;
  const exitRequested = new Promise<void>((r) => (interrupted = r));
  const lab = new Lab({ ...o, intervalMs: o.interval, runner: spawnRunner, print });
  let torn = false;
  let failed = false;
  const teardown = async (): Promise<void> => {
    if (torn) return;
    torn = true;
    await lab.teardown(failed);
    if (failed && lab.logDir !== '') print(`speaker logs kept in ${lab.logDir}`);
  };
  const onSignal = (): void => {
    if (interrupted) interrupted();
    print('\ninterrupted: removing the lab');
    teardown().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    print(`l2vip lab: ${o.nodes} nodes and a client on one bridge (namespaces ${lab.topo.switchNs.replace(/-sw$/, '-*')})`);
    await lab.setup();
    print(`VIPs: ${lab.topo.vip4} and ${lab.topo.vip6}; client probes both every ${o.interval} ms (UDP echo on every node)`);
    if (o.loss > 0) print(`injecting ${o.loss}% random loss on membership traffic between nodes`);
    const owner = await lab.waitStable();
    print(`owner: ${owner} answers for both VIPs`);
    print(`fault: ${o.fault} of the owner, ${o.trials} trial(s); outage = longest time without an answer, as the client saw it`);
    const results: TrialResult[] = [];
    for (let i = 1; i <= o.trials; i++) {
      const r = await lab.trial(i);
      results.push(r);
      print(fmt(r));
    }
    const gaps = results.flatMap((r) => [r.ipv4.outageMs, r.ipv6.outageMs]);
    print(`outage over ${gaps.length} measurements: p50 ${percentile(gaps, 50)} ms, max ${Math.max(...gaps)} ms`);
    print(`(MetalLB: seconds with memberlist, up to minutes without; keepalived at its defaults: about 3 s)`);
    if (o.keep) {
      print(`lab kept: namespaces ${lab.topo.client.netns} (client), ${lab.topo.nodes.map((n) => n.netns).join(', ')}`);
      print(`  try: sudo ip netns exec ${lab.topo.client.netns} ping ${lab.topo.vip4}`);
      print(`  speaker logs: ${lab.logDir}/n*.log; Ctrl-C removes everything`);
      await exitRequested;
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await teardown();
  }
}

