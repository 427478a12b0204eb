import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControllerProcess, type RunningController } from '../../src/cli/controller.js';
import { rankNodes } from '../../src/election/hash-ranking.js';
import { silentLogger } from '../../src/observability/logger.js';
import { startFakeApiServer, type FakeApi, type KubeObject } from '../fakes/api-server/index.js';
import { TestLan, type L2vipProcess } from './helpers/lan.js';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { arpFrame, gratuitousArp } from '../../src/packet/arp.js';
import { parseMac } from '../../src/packet/mac.js';
import type { StatusDocument } from '../../src/speaker/status.js';
import { arpingMacs } from './helpers/neighbours.js';

const root = process.getuid?.() === 0;
const NS = 'metallb-system';
/** Where the speakers reach the API server inside their namespaces (a forwarder to a Unix socket). */
const API_PORT = 6443;
const SPEAKER_LABELS = { 'app.kubernetes.io/name': 'l2vip', 'app.kubernetes.io/component': 'speaker' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!root)('Kubernetes mode end to end: fake API server, controller, 3 speakers in namespaces', () => {
  const lan = new TestLan(3);
  const nodes = lan.topo.nodes;
  let dir = '';
  let api: FakeApi;
  let bridge: Server;
  let controller: RunningController;
  const speakers = new Map<string, L2vipProcess>();
  const macs = new Map<string, string>();

  const startSpeaker = async (name: string): Promise<L2vipProcess> => {
    const n = nodes.find((x) => x.name === name)!;
    const p = lan.l2vip(n.netns, [
      'speaker',
      '--node-name',
      n.name,
      '--kubeconfig',
      join(dir, 'node-kubeconfig'),
      '--namespace',
      NS,
      '--secret-file',
      join(dir, 'secret'),
      '--local-delivery',
      '--metrics-listen',
      '127.0.0.1:7472',
    ]);
    speakers.set(name, p);
    await p.waitFor('kubernetes speaker started', 45_000);
    return p;
  };

  const l2Statuses = (service: string): KubeObject[] =>
    api.objects.list('metallb.io/v1beta1', 'ServiceL2Status', NS).filter((o) => (o.status as { serviceName?: string } | undefined)?.serviceName === service);
  const statusNodes = (service: string): string[] => l2Statuses(service).map((o) => String((o.status as { node?: string }).node)).sort();
  const ingress = (name: string): string | undefined =>
    (api.objects.get('v1', 'Service', 'default', name)?.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer?.ingress?.[0]?.ip;
  const arping = async (ip: string, count = 1): Promise<Set<string>> =>
    arpingMacs((await lan.exec(lan.topo.client.netns, 'arping', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip)).stdout);
  const nodeOfMac = (mac: string): string | undefined => [...macs].find(([, m]) => m === mac)?.[0];

  const service = (name: string, extra: Record<string, unknown> = {}): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }], ...extra },
  });
  const slice = (name: string, onNodes: readonly string[]): KubeObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-abc`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: onNodes.map((node, i) => ({ addresses: [`10.244.${i}.10`], nodeName: node, conditions: { ready: true } })),
    ports: [{ port: 8080, protocol: 'TCP' }],
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-k8s-e2e-'));
    await writeFile(join(dir, 'secret'), 'a-membership-key-of-at-least-32-bytes\n', { mode: 0o600 });
    await lan.create();
    for (const n of nodes) macs.set(n.name, await lan.mac(n.netns));
    api = await startFakeApiServer({ metallb: true });
    const kubeconfig = api.writeKubeconfig(dir);
    // Speakers in node namespaces reach loopback here through a Unix socket and a forwarder.
    const sock = join(dir, 'api.sock');
    bridge = createNetServer((c) => {
      const up = connect(api.port, '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => bridge.listen(sock, r));
    await writeFile(join(dir, 'node-kubeconfig'), (await readFile(kubeconfig, 'utf8')).replace(`127.0.0.1:${api.port}`, `127.0.0.1:${API_PORT}`));
    for (const n of nodes) {
      const fwd = lan.spawnScript(n.netns, 'tcp-to-unix.ts', [String(API_PORT), sock]);
      await new Promise<void>((resolve, reject) => {
        fwd.stdout!.once('data', () => resolve());
        fwd.once('exit', (code) => reject(new Error(`forwarder exited with ${code}`)));
      });
    }
    // The cluster: Nodes with their InternalIP, a speaker pod on each, MetalLB's config.
    for (const n of nodes) {
      api.objects.create({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
        status: { addresses: [{ type: 'InternalIP', address: n.ipv4 }], conditions: [{ type: 'Ready', status: 'True' }] },
      });
      api.objects.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `speaker-${n.name}`, namespace: NS, labels: SPEAKER_LABELS },
        spec: { nodeName: n.name, hostNetwork: true, containers: [{ name: 'speaker', image: 'l2vip' }] },
        status: { phase: 'Running', podIP: n.ipv4 },
      });
    }
    api.objects.create({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'lan', namespace: NS },
      spec: { addresses: ['198.51.100.200-198.51.100.220'] },
    });
    api.objects.create({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: NS }, spec: { ipAddressPools: ['lan'] } });
    controller = await startControllerProcess(
      { kubeconfig, namespace: NS, metricsListen: '127.0.0.1:0', logLevel: 'silent', leaseDuration: 15 },
      {},
      { log: silentLogger(), identity: 'controller-0' },
    );
    await Promise.all(nodes.map((n) => startSpeaker(n.name)));
  }, 120_000);

  afterAll(async () => {
    if (process.env.L2VIP_TEST_DEBUG) for (const [n, p] of speakers) console.log(n, p.stderr, JSON.stringify(p.lines.filter((l) => Number(l.level) >= 40 || /owner|announc|deliver/.test(String(l.msg))), null, 0));
    await controller?.stop().catch(() => undefined);
    await lan.destroy();
    bridge?.close();
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('gives a Service an IP, announces it from the node MetalLB\'s hash picks, which reaches it, and reports it in ServiceL2Status', async () => {
    api.objects.create(service('web'));
    api.objects.create(slice('web', nodes.map((n) => n.name)));
    const ip = await until('an IP in the Service status', () => ingress('web'));
    const expected = rankNodes(ip, nodes.map((n) => n.name))[0]!;
    await until('a ServiceL2Status from the owner', () => (statusNodes('web').join() === expected ? true : undefined));
    expect([...(await arping(ip, 2))]).toEqual([macs.get(expected)]);
    const ping = await lan.exec(lan.topo.client.netns, 'ping', '-c', '1', '-W', '2', ip);
    expect(ping.code).toBe(0);
    const st = l2Statuses('web')[0]!;
    expect(st.metadata?.labels).toMatchObject({ 'metallb.io/node': expected, 'metallb.io/service-name': 'web', 'metallb.io/service-namespace': 'default' });
  }, 60_000);

  it('after kill -9 of the owner\'s speaker another node answers within 1 s, and its ServiceL2Status says so', async () => {
    const ip = ingress('web')!;
    const [owner, next] = rankNodes(ip, nodes.map((n) => n.name)) as [string, string];
    speakers.get(owner)!.child.kill('SIGKILL');
    await speakers.get(owner)!.exited;
    const killedAt = Date.now();
    await sleep(1000 - (Date.now() - killedAt));
    expect([...(await arping(ip, 1))].map(nodeOfMac)).toEqual([next]);
    await until('the new owner in ServiceL2Status', () => (statusNodes('web').join() === next ? true : undefined), 15_000);
    // Bring the killed node back for the next tests (its speaker restarts, as a DaemonSet would).
    await startSpeaker(owner);
  }, 90_000);

  it('announces an externalTrafficPolicy: Local Service only from a node with a serving endpoint, and follows the endpoints', async () => {
    api.objects.create(service('local', { externalTrafficPolicy: 'Local' }));
    const ip = await until('an IP for the Local Service', () => ingress('local'));
    // Put the endpoint on the node the hash ranks last: only it may announce.
    const last = rankNodes(ip, nodes.map((n) => n.name))[2]!;
    api.objects.create(slice('local', [last]));
    await until('the endpoint node announcing', () => (statusNodes('local').join() === last ? true : undefined));
    expect([...(await arping(ip, 1))].map(nodeOfMac)).toEqual([last]);
    // The endpoint moves: so does the announcement.
    const other = nodes.map((n) => n.name).find((n) => n !== last)!;
    api.objects.update(slice('local', [other]));
    await until('the new endpoint node announcing', () => (statusNodes('local').join() === other ? true : undefined));
    expect([...(await arping(ip, 1))].map(nodeOfMac)).toEqual([other]);
  }, 60_000);

  it('reports another host claiming a Service IP as a Warning Event, and l2vip status on the owner (default endpoint) shows it', async () => {
    const ip = ingress('web')!;
    // The node the hash ranks first, once a restarted speaker's hold-down is over.
    const owner = rankNodes(ip, nodes.map((n) => n.name))[0]!;
    await until('the first-ranked node answering', async () => ([...(await arping(ip, 1))].map(nodeOfMac).join() === owner ? true : undefined));
    const rogue = '0e:11:22:33:44:66';
    const garp = arpFrame(gratuitousArp(parseMac(rogue)!, toOwnedIp(ip)!.bytes, 'request'));
    await lan.script(lan.topo.client.netns, 'raw-frames.ts', ['send', Buffer.from(garp).toString('hex')]);
    const conflictEvents = () => api.objects.list('v1', 'Event', 'default').filter((e) => (e as { reason?: string }).reason === 'ipConflict');
    if (process.env.L2VIP_TEST_DEBUG) console.log(JSON.stringify(conflictEvents().map((e) => (e as { message?: string }).message)));
    const event = await until('an ipConflict Event naming the rogue MAC', () => conflictEvents().find((e) => (e as { message?: string }).message?.includes(rogue)));
    expect(event).toMatchObject({ type: 'Warning', involvedObject: { kind: 'Service', name: 'web', namespace: 'default' } });
    expect((event as { message?: string }).message).toContain(`another host with MAC ${rogue} claims ${ip} on eth0 of node ${owner}`);
    const n = nodes.find((x) => x.name === owner)!;
    const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
    const out = await lan.exec(n.netns, process.execPath, '--import', 'tsx', main, 'status', '--output', 'json');
    expect(out.code, out.stderr).toBe(0);
    const doc = JSON.parse(out.stdout) as StatusDocument;
    expect(doc).toMatchObject({ schemaVersion: 1, node: owner, mode: 'kubernetes' });
    expect(doc.services.find((s) => s.name === 'default/web')).toMatchObject({ owner, interfaces: ['eth0'] });
    expect(doc.conflicts).toContainEqual(expect.objectContaining({ ip, iface: 'eth0', otherMac: rogue, service: 'default/web', action: 'defend', count: 1 }));
    expect(doc.peers.map((p) => p.name).sort()).toEqual(nodes.map((x) => x.name).filter((x) => x !== owner).sort());
  }, 60_000);

  it('fails over without the API server: it stops answering, the owner dies, another node takes over', async () => {
    const ip = ingress('web')!;
    const answering = nodeOfMac([...(await arping(ip, 1))][0] ?? '');
    expect(answering).toBeDefined();
    api.faults.refuseConnections(60_000, 'close');
    speakers.get(answering!)!.child.kill('SIGKILL');
    await speakers.get(answering!)!.exited;
    await sleep(1000);
    const now = [...(await arping(ip, 1))].map(nodeOfMac);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(answering);
  }, 60_000);
});
