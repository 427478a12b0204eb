/**
 * A Kubernetes cluster in namespaces, for the end-to-end tests and bench:k8s: the fake API
 * server (in this process, on loopback), N node namespaces on one bridge with a client (the
 * lab's topology, TestLan), a forwarder in each node namespace that takes 127.0.0.1:6443 to the
 * fake through a Unix socket (a path socket is reachable from every namespace), the Node objects
 * with their InternalIP, a speaker Pod per node, MetalLB's IPAddressPool and L2Advertisement,
 * the controller (in this process, or as its own `l2vip controller` process on loopback), and
 * one `l2vip speaker` process per node namespace.
 *
 *   const cluster = new K8sCluster({ nodes: 3, pool: ['198.51.100.200-198.51.100.220'], speakerArgs: ['--local-delivery'] });
 *   await cluster.start();            // everything up, speakers logged 'kubernetes speaker started'
 *   cluster.api.objects.create(service('web'));
 *   await cluster.destroy();          // in afterAll: kills every process, deletes the namespaces
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControllerProcess, type RunningController } from '../../../src/cli/controller.js';
import type { LabHost } from '../../../src/lab/topology.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeApiServer, type FakeApi, type KubeObject } from '../../fakes/api-server/index.js';
import { L2vipProcess, TestLan } from './lan.js';

export const CLUSTER_NAMESPACE = 'metallb-system';
/** Where the speakers reach the API server inside their namespaces (a forwarder to a Unix socket). */
export const NODE_API_PORT = 6443;
export const SPEAKER_LABELS = Object.freeze({ 'app.kubernetes.io/name': 'l2vip', 'app.kubernetes.io/component': 'speaker' });
/** Each speaker's /metrics inside its namespace. */
export const SPEAKER_METRICS = '127.0.0.1:7472';

export interface K8sClusterOptions {
  /** Node namespaces (default 3). */
  readonly nodes?: number;
  /** spec.addresses of the IPAddressPool "lan" (default 198.51.100.200-198.51.100.220, on the lab's subnet). */
  readonly pool?: readonly string[];
  /** Extra `l2vip speaker` arguments (e.g. --local-delivery, --log-level warn). */
  readonly speakerArgs?: readonly string[];
  /**
   * 'in-process' (default): startControllerProcess here, silent; 'process': `l2vip controller` as
   * a child process in this namespace (for its own RSS and CPU); 'none'.
   */
  readonly controller?: 'in-process' | 'process' | 'none';
  /** Extra `l2vip controller` arguments in 'process' mode. */
  readonly controllerArgs?: readonly string[];
  /**
   * The l2vip entry point of the controller process and the speakers: a built dist/cli/main.js
   * run by plain node (tsx doubles the memory of loading @kubernetes/client-node); default: the
   * TypeScript sources through tsx.
   */
  readonly main?: string;
  /** Arguments for node itself in the controller process and the speakers (e.g. --cpu-prof). */
  readonly nodeArgs?: readonly string[];
  /** Watch history of the fake API server (events a resumed watch can replay). */
  readonly apiHistoryLimit?: number;
}

/** The fake's Service with an allocated IP, or undefined. */
export function ingressOf(obj: KubeObject | undefined): string | undefined {
  return (obj?.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer?.ingress?.[0]?.ip;
}

/** A LoadBalancer Service without NodePorts, selecting `app: name`. */
export function lbService(name: string, extra: Record<string, unknown> = {}, namespace = 'default'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }], ...extra },
  };
}

/** An EndpointSlice of `name` with one ready endpoint on each of `onNodes`. */
export function endpointSlice(name: string, onNodes: readonly string[], namespace = 'default'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-abc`, namespace, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: onNodes.map((node, i) => ({ addresses: [`10.244.${i}.10`], nodeName: node, conditions: { ready: true } })),
    ports: [{ port: 8080, protocol: 'TCP' }],
  };
}

export class K8sCluster {
  readonly lan: TestLan;
  readonly nodes: readonly LabHost[];
  readonly speakers = new Map<string, L2vipProcess>();
  dir = '';
  /** The controller's kubeconfig (127.0.0.1:<fake port>, this namespace). */
  kubeconfig = '';
  /** The speakers' kubeconfig (127.0.0.1:6443 in their namespace). */
  nodeKubeconfig = '';
  secretFile = '';
  private fake: FakeApi | undefined;
  private bridge: Server | undefined;
  private inProcess: RunningController | undefined;
  private controllerChild: L2vipProcess | undefined;

  constructor(private readonly o: K8sClusterOptions = {}) {
    this.lan = new TestLan(o.nodes ?? 3);
    this.nodes = this.lan.topo.nodes;
  }

  get api(): FakeApi {
    if (this.fake === undefined) throw new Error('K8sCluster: start() first');
    return this.fake;
  }

  /** The in-process controller ('in-process' mode). */
  get controller(): RunningController | undefined {
    return this.inProcess;
  }

  /** The controller process ('process' mode). */
  get controllerProcess(): L2vipProcess | undefined {
    return this.controllerChild;
  }

  /** Namespaces, fake API server, forwarders, cluster objects, controller, then the speakers. */
  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'l2vip-k8s-cluster-'));
    this.secretFile = join(this.dir, 'secret');
    await writeFile(this.secretFile, 'a-membership-key-of-at-least-32-bytes\n', { mode: 0o600 });
    await this.lan.create();
    this.fake = await startFakeApiServer({ metallb: true, ...(this.o.apiHistoryLimit !== undefined ? { historyLimit: this.o.apiHistoryLimit } : {}) });
    this.kubeconfig = this.fake.writeKubeconfig(this.dir);
    await this.bridgeNodes();
    this.createClusterObjects();
    await this.startController();
    await Promise.all(this.nodes.map((n) => this.startSpeaker(n.name)));
  }

  /** Starts (or restarts) the speaker of node `name` and waits until it has started. */
  async startSpeaker(name: string, timeoutMs = 45_000): Promise<L2vipProcess> {
    const n = this.node(name);
    const p = this.lan.l2vip(n.netns, [
      'speaker',
      '--node-name',
      n.name,
      '--kubeconfig',
      this.nodeKubeconfig,
      '--namespace',
      CLUSTER_NAMESPACE,
      '--secret-file',
      this.secretFile,
      '--metrics-listen',
      SPEAKER_METRICS,
      ...(this.o.speakerArgs ?? []),
    ], this.o.main, this.o.nodeArgs);
    this.speakers.set(name, p);
    const args = this.o.speakerArgs ?? [];
    const level = args[args.indexOf('--log-level') + 1];
    if (!args.includes('--log-level') || level === 'info' || level === 'debug' || level === 'trace') {
      await p.waitFor('kubernetes speaker started', timeoutMs);
      return p;
    }
    // Quieter than info: started once its metrics server listens (the last step of the start).
    const deadline = Date.now() + timeoutMs;
    const [host, port] = SPEAKER_METRICS.split(':') as [string, string];
    for (;;) {
      const r = await this.lan.exec(n.netns, 'ss', '-Hltn', 'src', host, 'sport', '=', `:${port}`);
      if (r.stdout.trim() !== '') return p;
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`speaker ${name} did not start: ${p.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  node(name: string): LabHost {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`K8sCluster: no node ${name}`);
    return n;
  }

  /** The first ingress IP of a Service, as the fake stores it. */
  ingress(name: string, namespace = 'default'): string | undefined {
    return ingressOf(this.api.objects.get('v1', 'Service', namespace, name));
  }

  /** The ServiceL2Status objects for a Service (by status.serviceName). */
  l2Statuses(service: string): KubeObject[] {
    return this.api.objects.list('metallb.io/v1beta1', 'ServiceL2Status', CLUSTER_NAMESPACE).filter((o) => (o.status as { serviceName?: string } | undefined)?.serviceName === service);
  }

  /** The nodes that say they announce a Service, sorted. */
  statusNodes(service: string): string[] {
    return this.l2Statuses(service)
      .map((o) => String((o.status as { node?: string }).node))
      .sort();
  }

  /**
   * Stops every process (SIGTERM, then SIGKILL after `graceMs`: a clean exit lets
   * `node --cpu-prof` write its profile), deletes the namespaces, closes the fake. Never throws.
   */
  async destroy(graceMs = 0): Promise<void> {
    await this.inProcess?.stop().catch(() => undefined);
    const running = [...this.speakers.values(), ...(this.controllerChild !== undefined ? [this.controllerChild] : [])].filter(
      (p) => p.child.exitCode === null && p.child.signalCode === null,
    );
    if (graceMs > 0) {
      const alive = (p: L2vipProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;
      for (const p of running) p.child.kill('SIGTERM');
      await Promise.race([Promise.all(running.map((p) => p.exited)), new Promise((r) => setTimeout(r, graceMs / 2))]);
      // A second signal during a slow stop exits at once (process.exit: profiles are written).
      for (const p of running) if (alive(p)) p.child.kill('SIGTERM');
      await Promise.race([Promise.all(running.map((p) => p.exited)), new Promise((r) => setTimeout(r, graceMs / 2))]);
    }
    for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    await this.lan.destroy().catch(() => undefined);
    this.bridge?.close();
    await this.fake?.close().catch(() => undefined);
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
  }

  private async bridgeNodes(): Promise<void> {
    const api = this.api;
    const sock = join(this.dir, 'api.sock');
    const bridge = createNetServer((c) => {
      const up = connect(api.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    this.bridge = bridge;
    await new Promise<void>((r) => bridge.listen(sock, r));
    this.nodeKubeconfig = join(this.dir, 'node-kubeconfig');
    await writeFile(this.nodeKubeconfig, (await readFile(this.kubeconfig, 'utf8')).replace(`127.0.0.1:${api.port}`, `127.0.0.1:${NODE_API_PORT}`));
    for (const n of this.nodes) {
      const fwd = this.lan.spawnScript(n.netns, 'tcp-to-unix.ts', [String(NODE_API_PORT), sock]);
      await new Promise<void>((resolve, reject) => {
        fwd.stdout?.once('data', () => resolve());
        fwd.once('exit', (code) => reject(new Error(`forwarder exited with ${code}`)));
      });
    }
  }

  /** Nodes with their InternalIP, a speaker pod on each, MetalLB's config. */
  private createClusterObjects(): void {
    const objects = this.api.objects;
    for (const n of this.nodes) {
      objects.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
        status: { addresses: [{ type: 'InternalIP', address: n.ipv4 }], conditions: [{ type: 'Ready', status: 'True' }] },
      });
      objects.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `speaker-${n.name}`, namespace: CLUSTER_NAMESPACE, labels: { ...SPEAKER_LABELS } },
        spec: { nodeName: n.name, hostNetwork: true, containers: [{ name: 'speaker', image: 'l2vip' }] },
        status: { phase: 'Running', podIP: n.ipv4 },
      });
    }
    objects.create({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'lan', namespace: CLUSTER_NAMESPACE },
      spec: { addresses: [...(this.o.pool ?? ['198.51.100.200-198.51.100.220'])] },
    });
    objects.create({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: CLUSTER_NAMESPACE }, spec: { ipAddressPools: ['lan'] } });
  }

  private async startController(): Promise<void> {
    const mode = this.o.controller ?? 'in-process';
    if (mode === 'none') return;
    if (mode === 'in-process') {
      this.inProcess = await startControllerProcess(
        { kubeconfig: this.kubeconfig, namespace: CLUSTER_NAMESPACE, metricsListen: '127.0.0.1:0', logLevel: 'silent', leaseDuration: 15 },
        {},
        { log: silentLogger(), identity: 'controller-0' },
      );
      return;
    }
    const entry = this.o.main === undefined ? ['--import', 'tsx', fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url))] : [this.o.main];
    const args = ['controller', '--kubeconfig', this.kubeconfig, '--namespace', CLUSTER_NAMESPACE, '--metrics-listen', '127.0.0.1:0', ...(this.o.controllerArgs ?? [])];
    const child = spawn(process.execPath, [...(this.o.nodeArgs ?? []), ...entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POD_NAME: 'controller-0' } });
    this.controllerChild = new L2vipProcess(child);
    // It holds the Lease once it allocates (whatever its log level).
    await this.api.objects.waitFor('coordination.k8s.io/v1', 'Lease', CLUSTER_NAMESPACE, 'l2vip-controller', (l) => l !== undefined, 45_000);
  }
}
