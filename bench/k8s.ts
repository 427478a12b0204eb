/**
 * Kubernetes mode at scale: `sudo npm run bench:k8s` (about 2 minutes on a busy 2-core machine).
 *   options: --services N (default 5000), --nodes N (default 3), --timeout SECONDS (default 120),
 *            --scrape-ms N (speaker /metrics poll interval, default 500),
 *            --tsx (run the processes from the TypeScript sources instead of building dist/),
 *            --speaker-log-level LEVEL (default info),
 *            --cpu-prof DIR (V8's CPU profiler in the controller and the speakers: DIR/*.cpuprofile,
 *            written at their exit; open in Chrome DevTools, or summarise with
 *            `npx tsx bench/lib/cpuprofile-top.ts FILE`),
 *            --node-arg ARG (repeatable: an option for node itself in the controller and the speakers, after
 *            the flags of bin/l2vip.js's #! line, which they always get,
 *            e.g. --node-arg --trace-gc; with L2VIP_BENCH_DEBUG set their stderr goes to /tmp too)
 *
 * The cluster of the end-to-end test (test/netns/helpers/k8s-cluster.ts): the fake API server in
 * this process, `l2vip controller` as its own process on loopback, one `l2vip speaker` process per
 * node namespace (no --local-delivery: in a cluster kube-proxy takes the traffic). Every Service
 * gets an EndpointSlice with a ready endpoint on every node first (no serving endpoint: nobody
 * announces); then N LoadBalancer Services (`allocateLoadBalancerNodePorts: false`) are created
 * at once, straight into the fake's store, and the clock starts. Figures:
 *   - allocated: every Service has an IP in status.loadBalancer.ingress (watched in the store);
 *   - announced: each speaker's own `metallb_speaker_announced` samples (one per IP owned AND
 *     answered by the announcer) number exactly the Services MetalLB's hash gives that node (each
 *     speaker's /metrics is polled from inside its namespace by test/netns/helpers/metrics-poll.ts);
 *   - ServiceL2Status: every Service has a ServiceL2Status naming the node MetalLB's hash ranks
 *     first (all nodes are live), and no other;
 *   - RSS (VmRSS at the end, VmHWM: the peak) and CPU (utime + stime from the creation until
 *     everything is announced and reported) of the controller and of each speaker.
 * Goals (issue 7): all allocated < 10 s, all announced < 15 s, speaker RSS < 150 MB.
 * The processes run from dist/ (built first with tsconfig.build.json), as in the image: through
 * tsx (the tests' way, --tsx) loading @kubernetes/client-node alone costs about 100 MB more RSS.
 * The pool is 198.18.0.0/19 (RFC 2544's range for benchmarks); the VIPs need not be reachable.
 */
import { readFileSync, rmSync } from 'node:fs';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { rankNodes } from '../src/election/hash-ranking.js';
import { CLUSTER_NAMESPACE, endpointSlice, ingressOf, K8sCluster, lbService, SPEAKER_METRICS } from '../test/netns/helpers/k8s-cluster.js';
import { argValue, load, numberArg, requireRoot, table } from './lib/failover-lab.js';
import { binNodeFlags } from '../src/lab/standalone-runner.js';
import { onCleanup } from './lib/cleanup.js';
import { cpuSample, rssMiB, type CpuSample } from './lib/proc-stats.js';

const USAGE =
  'usage: sudo npx tsx bench/k8s.ts [--services N] [--nodes N] [--timeout SECONDS] [--scrape-ms N] [--tsx] [--cpu-prof DIR] [--node-arg ARG]... [--speaker-log-level LEVEL]';
const GOAL = { allocatedS: 10, announcedS: 15, speakerRssMB: 150 };
const POOL = '198.18.0.0/19';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VmHWM (peak RSS) of /proc/PID/status, MiB. */
function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const s = (ms: number | undefined): string => (ms === undefined ? 'not reached' : `${(ms / 1000).toFixed(2)} s`);
const mb = (v: number): string => `${v.toFixed(0)} MB`;

interface KubeLike {
  readonly metadata?: { readonly name?: string; readonly creationTimestamp?: string; readonly labels?: Record<string, string> };
  readonly status?: unknown;
}

interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly cpu0: CpuSample;
  /** RSS before the Services are created (started, EndpointSlices listed), MiB. */
  readonly rss0: number;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(USAGE);
    return;
  }
  requireRoot('bench:k8s');
  const n = numberArg(argv, '--services', 5000, USAGE);
  const nodeCount = numberArg(argv, '--nodes', 3, USAGE);
  const timeoutS = numberArg(argv, '--timeout', 120, USAGE);
  const scrapeMs = numberArg(argv, '--scrape-ms', 500, USAGE);
  const loadBefore = load();
  console.log(`bench:k8s: ${n} LoadBalancer Services, ${nodeCount} speakers, controller process; load average ${loadBefore}`);

  const main = argv.includes('--tsx') ? undefined : build();
  const profDir = argValue(argv, '--cpu-prof');
  // The flags `l2vip` itself runs node with (the #! line of bin/l2vip.js), then the user's.
  const nodeArgs = [...binNodeFlags(), ...argv.flatMap((a, i) => (a === '--node-arg' && argv[i + 1] !== undefined ? [argv[i + 1]!] : []))];
  if (profDir !== undefined) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`);
  const cluster = new K8sCluster({
    nodes: nodeCount,
    pool: [POOL],
    controller: 'process',
    apiHistoryLimit: 200_000,
    speakerArgs: ['--log-level', argValue(argv, '--speaker-log-level') ?? 'info'],
    ...(main !== undefined ? { main } : {}),
    // Profiles are written at exit: destroy() below gives the processes time to stop cleanly.
    ...(nodeArgs.length > 0 ? { nodeArgs } : {}),
  });
  const pollers: ChildProcess[] = [];
  // An interrupted run leaves no namespaces behind (destroy() is idempotent enough: it never throws).
  const unhook = onCleanup(() => {
    for (const p of pollers) p.kill('SIGKILL');
    // Processes outlive their namespace: kill them first (speakers, forwarders, pollers).
    cluster.lan.killChildren();
    for (const ns of [cluster.lan.topo.client.netns, ...cluster.nodes.map((x) => x.netns), cluster.lan.topo.switchNs]) spawnSync('ip', ['netns', 'del', ns]);
    cluster.controllerProcess?.child.kill('SIGKILL');
    if (cluster.dir !== '') rmSync(cluster.dir, { recursive: true, force: true });
  });
  try {
    await cluster.start();
    const api = cluster.api;
    const nodeNames = cluster.nodes.map((x) => x.name);
    const controllerPid = cluster.controllerProcess?.child.pid;
    if (controllerPid === undefined) throw new Error('no controller process');

    // The speakers' own count of what they announce.
    const announced = new Map<string, number>();
    const scrapes: number[] = [];
    let scrapeErrors = 0;
    for (const node of cluster.nodes) {
      const p = cluster.lan.spawnScript(node.netns, 'metrics-poll.ts', [`http://${SPEAKER_METRICS}/metrics`, 'metallb_speaker_announced', String(scrapeMs)]);
      pollers.push(p);
      createInterface({ input: p.stdout! }).on('line', (line) => {
        const r = JSON.parse(line) as { count?: number; ms?: number; error?: string };
        if (r.count !== undefined) announced.set(node.name, r.count);
        if (r.ms !== undefined) scrapes.push(r.ms);
        if (r.error !== undefined) scrapeErrors++;
      });
    }

    // Endpoints first: every Service can be served from every node.
    const names = Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(5, '0')}`);
    for (const name of names) api.objects.create(endpointSlice(name, nodeNames));
    await sleep(3000);

    // Follow the store: IPs in status, and ServiceL2Status objects.
    const ips = new Map<string, string>();
    const expected = new Map<string, string>();
    const statuses = new Map<string, { service: string; node: string }>();
    let allocatedAt: number | undefined;
    let t0 = 0;
    const unsubscribe = api.objects.onEvent((e) => {
      if (e.kind.kind === 'Service' && e.type !== 'DELETED') {
        const ip = ingressOf(e.object);
        const name = e.object.metadata?.name ?? '';
        if (ip !== undefined && !ips.has(name)) {
          ips.set(name, ip);
          expected.set(name, rankNodes(ip, nodeNames)[0] ?? '');
          if (ips.size === n) allocatedAt = performance.now() - t0;
        }
      } else if (e.kind.kind === 'ServiceL2Status') {
        const key = e.object.metadata?.name ?? '';
        const st = e.object.status as { serviceName?: string; node?: string } | undefined;
        if (e.type === 'DELETED') statuses.delete(key);
        else if (st?.serviceName !== undefined && st.node !== undefined) statuses.set(key, { service: st.serviceName, node: st.node });
      }
    });
    const statusesRight = (): boolean => {
      if (ips.size < n) return false;
      const by = new Map<string, string[]>();
      for (const st of statuses.values()) by.set(st.service, [...(by.get(st.service) ?? []), st.node]);
      return names.every((name) => {
        const nodes = by.get(name);
        return nodes !== undefined && nodes.length === 1 && nodes[0] === expected.get(name);
      });
    };

    const speakerPids = [...cluster.speakers].map(([name, p]) => ({ name, pid: p.child.pid ?? 0 }));
    await sleep(scrapeMs * 2);
    const procs: Proc[] = [
      { name: 'controller', pid: controllerPid, cpu0: cpuSample(controllerPid), rss0: rssMiB(controllerPid) },
      ...speakerPids.map((x) => ({ ...x, cpu0: cpuSample(x.pid), rss0: rssMiB(x.pid) })),
    ];

    const benchCpu0 = process.cpuUsage();
    t0 = performance.now();
    const wallT0 = Date.now();
    for (const name of names) api.objects.create(lbService(name));
    const createdMs = performance.now() - t0;

    let announcedAt: number | undefined;
    let statusAt: number | undefined;
    const deadline = t0 + timeoutS * 1000;
    let lastCheck = 0;
    while (performance.now() < deadline && (announcedAt === undefined || statusAt === undefined || allocatedAt === undefined)) {
      await sleep(50);
      const now = performance.now() - t0;
      // Each node announces exactly the Services MetalLB's hash gives it (all nodes live): a
      // split brain (two nodes answering for one VIP) does not count.
      if (announcedAt === undefined && ips.size === n) {
        const share = new Map<string, number>();
        for (const owner of expected.values()) share.set(owner, (share.get(owner) ?? 0) + 1);
        if (nodeNames.every((node) => announced.get(node) === (share.get(node) ?? 0))) announcedAt = now;
      }
      if (statusAt === undefined && now - lastCheck >= 250) {
        lastCheck = now;
        if (statusesRight()) statusAt = now;
      }
    }
    const endMs = performance.now() - t0;
    const cpu = procs.map((p) => {
      const c = cpuSample(p.pid);
      return { ...p, cpuS: c.statSeconds - p.cpu0.statSeconds, rss: rssMiB(p.pid), peak: peakRssMiB(p.pid) };
    });
    unsubscribe();
    const benchCpu = process.cpuUsage(benchCpu0);
    cpu.push({ name: 'fake API server + bench', pid: process.pid, cpu0: procs[0]!.cpu0, rss0: NaN, cpuS: (benchCpu.user + benchCpu.system) / 1e6, rss: process.memoryUsage().rss / 2 ** 20, peak: peakRssMiB(process.pid) });

    const speakers = cpu.filter((c) => c.name !== 'controller' && c.pid !== process.pid);
    const maxSpeakerPeak = Math.max(...speakers.map((c) => c.peak));
    const ok = (pass: boolean): string => (pass ? 'ok' : 'MISSED');
    console.log('');
    console.log(`created ${n} Services in the store in ${s(createdMs)}; load average before ${loadBefore}, now ${load()}`);
    console.log('');
    for (const line of table([
      ['figure', 'l2vip', 'goal', ''],
      ['all allocated (IP in status)', s(allocatedAt), `< ${GOAL.allocatedS} s`, ok(allocatedAt !== undefined && allocatedAt < GOAL.allocatedS * 1000)],
      ['all announced (metallb_speaker_announced)', s(announcedAt), `< ${GOAL.announcedS} s`, ok(announcedAt !== undefined && announcedAt < GOAL.announcedS * 1000)],
      ['all ServiceL2Status right', s(statusAt), '-', ''],
      ['speaker peak RSS (max)', mb(maxSpeakerPeak), `< ${GOAL.speakerRssMB} MB`, ok(maxSpeakerPeak < GOAL.speakerRssMB)],
    ])) {
      console.log(line);
    }
    console.log('');
    const share = new Map<string, number>();
    for (const owner of expected.values()) share.set(owner, (share.get(owner) ?? 0) + 1);
    for (const line of table([
      ['process', 'RSS before', 'RSS now', 'peak RSS', 'CPU s', `% of a core over ${s(endMs)}`],
      ...cpu.map((c) => [c.name, Number.isNaN(c.rss0) ? '-' : mb(c.rss0), mb(c.rss), mb(c.peak), c.cpuS.toFixed(1), `${((100 * c.cpuS * 1000) / endMs).toFixed(0)} %`]),
    ])) {
      console.log(line);
    }
    console.log('');
    console.log(
      `announced per node (expected): ${[...announced].map(([k, v]) => `${k} ${v} (${share.get(k) ?? 0})`).join(', ')}; ServiceL2Status objects ${statuses.size}; ` +
        `speaker scrapes every ${scrapeMs} ms, median ${median(scrapes)} ms, ${scrapeErrors} failed`,
    );
    const events = api.objects.list('v1', 'Event').length;
    console.log(`Events in the fake: ${events}; ServiceL2Status in ${CLUSTER_NAMESPACE}: ${api.objects.list('metallb.io/v1beta1', 'ServiceL2Status', CLUSTER_NAMESPACE).length}`);
    if (process.env.L2VIP_BENCH_DEBUG) {
      const { writeFileSync } = await import('node:fs');
      // Services whose ServiceL2Status objects are not exactly one naming the expected node.
      const objs = api.objects.list('metallb.io/v1beta1', 'ServiceL2Status', CLUSTER_NAMESPACE);
      const bySvc = new Map<string, KubeLike[]>();
      for (const o of objs as KubeLike[]) {
        const svc = o.metadata?.labels?.['metallb.io/service-name'] ?? '?';
        bySvc.set(svc, [...(bySvc.get(svc) ?? []), o]);
      }
      const wrong = names.filter((nm) => {
        const l = bySvc.get(nm) ?? [];
        return l.length !== 1 || l[0]?.metadata?.labels?.['metallb.io/node'] !== expected.get(nm);
      });
      console.log(`ServiceL2Status wrong for ${wrong.length} Services; first ones:`);
      for (const nm of wrong.slice(0, 8)) {
        const l = (bySvc.get(nm) ?? []).map((o) => `${o.metadata?.name} node=${o.metadata?.labels?.['metallb.io/node']} created=${o.metadata?.creationTimestamp} status=${JSON.stringify(o.status)}`);
        console.log(`  ${nm} expected ${expected.get(nm)}: ${l.join(' | ') || 'none'}`);
      }
      for (const [name, p] of cluster.speakers) {
        writeFileSync(`/tmp/bench-k8s-${name}.log`, p.lines.map((l) => JSON.stringify({ ...l, t: Number(l.time) - wallT0 })).join('\n'));
        writeFileSync(`/tmp/bench-k8s-${name}.stderr`, p.stderr);
      }
    }
    for (const [name, p] of cluster.speakers) {
      const warnings = p.lines.filter((l) => Number(l.level) >= 40);
      if (warnings.length === 0 && p.stderr === '') continue;
      const byMsg = new Map<string, number>();
      for (const l of warnings) byMsg.set(String(l.msg), (byMsg.get(String(l.msg)) ?? 0) + 1);
      const top = [...byMsg].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([m, c]) => `${c}× "${m}"`);
      console.log(`${name}: ${warnings.length} warning/error log lines (${top.join(', ')})${p.stderr !== '' ? `; stderr: ${p.stderr.slice(0, 300)}` : ''}`);
      if (process.env.L2VIP_BENCH_DEBUG) for (const l of warnings.slice(0, 5)) console.log(JSON.stringify(l));
    }
  } finally {
    for (const p of pollers) p.kill('SIGTERM');
    // A clean exit, so that NODE_OPTIONS=--cpu-prof writes the processes' profiles.
    await cluster.destroy(profDir !== undefined ? 120_000 : 0);
    unhook();
  }
}

/** Builds dist/ (as `npm run build`) and returns its CLI entry point. */
function build(): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('building dist/ failed');
  return join(root, 'dist/cli/main.js');
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
