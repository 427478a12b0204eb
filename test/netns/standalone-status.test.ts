import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatusDocument } from '../../src/speaker/status.js';
import { labService, standaloneYaml } from '../../src/lab/standalone-yaml.js';
import { TestLan, type L2vipProcess } from './helpers/lan.js';

const root = process.getuid?.() === 0;
const VIP4 = '198.51.100.210';
const VIP6 = '2001:db8:77::210';
const METRICS = '127.0.0.1:9122';
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** Two standalone nodes; `l2vip status` on each, before and after the owner is killed with SIGKILL. */
describe.skipIf(!root)('l2vip status against running standalone nodes', () => {
  const lan = new TestLan(2);
  const [a, b] = lan.topo.nodes as [(typeof lan.topo.nodes)[0], (typeof lan.topo.nodes)[0]];
  let dir = '';
  const procs = new Map<string, L2vipProcess>();

  const configFor = (name: string, ipv4: string) =>
    standaloneYaml({ node: { name, ipv4 }, peers: [a, b], dir, metricsListen: METRICS, services: [labService('web', [VIP4, VIP6])] });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-status-test-'));
    await writeFile(join(dir, 'secret'), 'a-shared-secret-of-at-least-32-bytes-long\n', { mode: 0o600 });
    await lan.create();
  }, 60_000);

  afterAll(async () => {
    await lan.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const status = async (netns: string, args: string[] = ['--output', 'json']) => lan.exec(netns, process.execPath, '--import', 'tsx', MAIN, 'status', '--endpoint', `http://${METRICS}`, ...args);
  const doc = async (netns: string): Promise<StatusDocument> => {
    const r = await status(netns);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as StatusDocument;
  };
  const metrics = async (netns: string): Promise<string> =>
    (await lan.exec(netns, process.execPath, '-e', `fetch('http://${METRICS}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`)).stdout;

  it('exits 3 with one line when no speaker runs', async () => {
    const r = await status(a.netns, []);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no l2vip speaker answers at http:\/\/127\.0\.0\.1:9122\/status \(ECONNREFUSED\)/);
  }, 30_000);

  it('shows owner, interfaces, peers; after the owner is killed the survivor shows the failover it measured', async () => {
    for (const [name, n] of [['n1', a], ['n2', b]] as const) {
      await writeFile(join(dir, `${name}.yaml`), configFor(name, n.ipv4));
      procs.set(name, lan.l2vip(n.netns, ['standalone', '--config', join(dir, `${name}.yaml`)]));
    }
    await Promise.all([...procs.values()].map((p) => p.waitFor('standalone speaker started')));
    // Both see each other alive and agree on the owner.
    let docs: StatusDocument[] = [];
    for (let i = 0; i < 50; i++) {
      docs = await Promise.all([doc(a.netns), doc(b.netns)]);
      if (docs.every((d) => d.peers[0]?.state === 'alive' && d.services[0]?.owner !== null) && docs[0]!.services[0]!.owner === docs[1]!.services[0]!.owner) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const [da, db] = docs as [StatusDocument, StatusDocument];
    expect(da).toMatchObject({ schemaVersion: 1, node: 'n1', mode: 'standalone', health: { healthy: true, ready: true } });
    expect(da.peers).toEqual([{ name: 'n2', address: `${b.ipv4}:7946`, state: 'alive', incarnation: expect.any(Number) as number, lastHeardMsAgo: expect.any(Number) as number }]);
    expect(da.peers[0]!.lastHeardMsAgo).toBeLessThan(1000);
    const owner = da.services[0]!.owner!;
    expect(db.services[0]!.owner).toBe(owner);
    const [ownerNs, survivorNs, survivor] = owner === 'n1' ? [a.netns, b.netns, 'n2'] : [b.netns, a.netns, 'n1'];
    const ownerDoc = owner === 'n1' ? da : db;
    // (lastFailover may already be set: on a loaded machine a peer that starts slowly is declared dead once.)
    expect(ownerDoc.services[0]).toMatchObject({ name: 'web', addresses: [VIP4, VIP6], owner, interfaces: ['eth0'] });
    expect(Date.parse(ownerDoc.services[0]!.ownedSince!)).toBeLessThanOrEqual(Date.parse(ownerDoc.generatedAt));
    const table = await status(ownerNs, []);
    expect(table.stdout).toMatch(new RegExp(`^web\\s+${VIP4.replace(/\./g, '\\.')},${VIP6}\\s+${owner} \\(this node\\)\\s+eth0\\s+\\d{4}-`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${survivor}\\s+\\S+:7946\\s+alive\\s+\\d+\\s+\\d`, 'm'));

    procs.get(owner)!.child.kill('SIGKILL');
    let after: StatusDocument | undefined;
    for (let i = 0; i < 50; i++) {
      after = await doc(survivorNs);
      if (after.services[0]?.owner === survivor && after.services[0].lastFailover?.durationMs !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const web = after!.services[0]!;
    expect(web).toMatchObject({ owner: survivor, interfaces: ['eth0'], lastFailover: { from: owner, to: survivor, cause: 'death' } });
    expect(web.lastFailover!.durationMs).toBeGreaterThanOrEqual(0);
    expect(web.lastFailover!.durationMs).toBeLessThan(1000);
    expect(web.ownedSince).toBe(web.lastFailover!.at);
    expect(after!.peers[0]).toMatchObject({ name: owner, state: 'dead' });
    const m = await metrics(survivorNs);
    expect(m).toMatch(/^l2vip_takeovers_total\{cause="death"\} [1-9]/m);
    expect(m).toMatch(/^l2vip_failover_duration_seconds_count\{cause="death"\} [1-9]/m);
    const shown = await status(survivorNs, []);
    expect(shown.stdout).toMatch(new RegExp(`${owner} -> ${survivor} \\(death, took [\\d.]+ m?s\\)`));
    if (process.env.L2VIP_PRINT_STATUS === '1') process.stdout.write(`${shown.stdout}\n${JSON.stringify(after, null, 2)}\n${m.split('\n').filter((l) => /failover|takeover|conflicts_total|members\{/.test(l)).join('\n')}\n`);
    const p = procs.get(survivor)!;
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  }, 90_000);
});
