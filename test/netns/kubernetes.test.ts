import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rankNodes } from '../../src/election/hash-ranking.js';
import { endpointSlice as slice, K8sCluster, lbService as service } from './helpers/k8s-cluster.js';
import { arpingMacs } from './helpers/neighbours.js';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { arpFrame, gratuitousArp } from '../../src/packet/arp.js';
import { parseMac } from '../../src/packet/mac.js';
import type { StatusDocument } from '../../src/speaker/status.js';

const root = process.getuid?.() === 0;

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
  const cluster = new K8sCluster({ nodes: 3, pool: ['198.51.100.200-198.51.100.220'], speakerArgs: ['--local-delivery'] });
  const { lan, nodes, speakers } = cluster;
  const macs = new Map<string, string>();
  const api = () => cluster.api;
  const startSpeaker = (name: string) => cluster.startSpeaker(name);
  const statusNodes = (svc: string): string[] => cluster.statusNodes(svc);
  const l2Statuses = (svc: string) => cluster.l2Statuses(svc);
  const ingress = (name: string): string | undefined => cluster.ingress(name);
  const arping = async (ip: string, count = 1): Promise<Set<string>> =>
    arpingMacs((await lan.exec(lan.topo.client.netns, 'arping', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip)).stdout);
  const nodeOfMac = (mac: string): string | undefined => [...macs].find(([, m]) => m === mac)?.[0];

  beforeAll(async () => {
    await cluster.start();
    for (const n of nodes) macs.set(n.name, await lan.mac(n.netns));
  }, 120_000);

  afterAll(async () => {
    if (process.env.L2VIP_TEST_DEBUG) for (const [n, p] of speakers) console.log(n, p.stderr, JSON.stringify(p.lines.filter((l) => Number(l.level) >= 40 || /owner|announc|deliver/.test(String(l.msg))), null, 0));
    await cluster.destroy();
  }, 60_000);

  it('gives a Service an IP, announces it from the node MetalLB\'s hash picks, which reaches it, and reports it in ServiceL2Status', async () => {
    api().objects.create(service('web'));
    api().objects.create(slice('web', nodes.map((n) => n.name)));
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
    api().objects.create(service('local', { externalTrafficPolicy: 'Local' }));
    const ip = await until('an IP for the Local Service', () => ingress('local'));
    // Put the endpoint on the node the hash ranks last: only it may announce.
    const last = rankNodes(ip, nodes.map((n) => n.name))[2]!;
    api().objects.create(slice('local', [last]));
    await until('the endpoint node announcing', () => (statusNodes('local').join() === last ? true : undefined));
    expect([...(await arping(ip, 1))].map(nodeOfMac)).toEqual([last]);
    // The endpoint moves: so does the announcement.
    const other = nodes.map((n) => n.name).find((n) => n !== last)!;
    api().objects.update(slice('local', [other]));
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
    const conflictEvents = () => api().objects.list('v1', 'Event', 'default').filter((e) => (e as { reason?: string }).reason === 'ipConflict');
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
    api().faults.refuseConnections(60_000, 'close');
    speakers.get(answering!)!.child.kill('SIGKILL');
    await speakers.get(answering!)!.exited;
    await sleep(1000);
    const now = [...(await arping(ip, 1))].map(nodeOfMac);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(answering);
  }, 60_000);
});
