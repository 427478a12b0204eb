import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labService, standaloneYaml } from '../../src/lab/standalone-yaml.js';
import { TestLan, type L2vipProcess } from './helpers/lan.js';
import { arpingMacs, ndiscMacs } from './helpers/neighbours.js';

const root = process.getuid?.() === 0;


describe.skipIf(!root)('local delivery hardening', () => {
  const lan = new TestLan(3);
  const nodes = lan.topo.nodes;
  let dir = '';
  const procs: L2vipProcess[] = [];

  const config = (self: string, bindIp: string, addresses: readonly string[]) =>
    standaloneYaml({ node: { name: self, ipv4: bindIp }, peers: nodes, dir, services: [labService('web', addresses)] });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-hardening-test-'));
    await writeFile(join(dir, 'secret'), 'a-shared-secret-of-at-least-32-bytes-long\n');
    await lan.create();
  }, 60_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await lan.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a VIP that is the node\'s own address (exit 2, one line), and unusable addresses', async () => {
    const n1 = nodes[0]!;
    await writeFile(join(dir, 'own.yaml'), config(n1.name, n1.ipv4, [lan.topo.vip4, n1.ipv4]));
    const own = lan.l2vip(n1.netns, ['standalone', '--config', join(dir, 'own.yaml')]);
    expect((await own.exited).code).toBe(2);
    expect(own.stderr.trim().split('\n')).toEqual([`l2vip: VIP ${n1.ipv4} (on eth0) is an address of this host: remove it from the config or from the host`]);
    // Its kernel route is still there, untouched.
    expect((await lan.exec(n1.netns, 'ip', 'route', 'show', 'table', 'local', n1.ipv4)).stdout).toMatch(/proto kernel/);

    await writeFile(join(dir, 'mcast.yaml'), config(n1.name, n1.ipv4, ['224.0.0.5']));
    const mcast = lan.l2vip(n1.netns, ['standalone', '--config', join(dir, 'mcast.yaml')]);
    expect((await mcast.exited).code).toBe(2);
    expect(mcast.stderr).toMatch(/services\[0\]\.addresses\[0\]: 224\.0\.0\.5 is a multicast address/);

    for (const bad of ['127.0.0.1', 'fe80::1', '0.0.0.0']) {
      const a = lan.l2vip(n1.netns, ['announce', '-i', 'eth0', bad]);
      expect((await a.exited).code).toBe(2);
      expect(a.stderr).toMatch(/cannot be announced/);
    }
    const ownAnnounce = lan.l2vip(n1.netns, ['announce', '-i', 'eth0', n1.ipv6]);
    expect((await ownAnnounce.exited).code).toBe(2);
    expect(ownAnnounce.stderr).toMatch(/is an address of this host/);
    expect((await lan.exec(n1.netns, 'ip', '-6', 'addr', 'show', 'dev', 'eth0')).stdout).toContain(n1.ipv6);
  }, 60_000);

  it('leaves a local route it did not add in place when it stops', async () => {
    const n1 = nodes[0]!;
    const vip = '198.51.100.77';
    await lan.exec(n1.netns, 'ip', 'route', 'add', 'local', `${vip}/32`, 'dev', 'lo', 'table', 'local', 'proto', 'static');
    const p = lan.l2vip(n1.netns, ['announce', '-i', 'eth0', vip, '198.51.100.78']);
    await p.waitFor('announce started');
    p.child.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
    const routes = (await lan.exec(n1.netns, 'ip', 'route', 'show', 'table', 'local')).stdout;
    expect(routes).toMatch(new RegExp(`local ${vip.replace(/\./g, '\\.')} dev lo proto static`));
    expect(routes).not.toContain('198.51.100.78');
    await lan.exec(n1.netns, 'ip', 'route', 'del', 'local', `${vip}/32`, 'dev', 'lo', 'table', 'local');
  }, 30_000);

  it('after `nft flush ruleset` on the backups only the owner answers ARP and NDP for the VIPs', async () => {
    for (const n of nodes) {
      const file = join(dir, `${n.name}.yaml`);
      await writeFile(file, config(n.name, n.ipv4, [lan.topo.vip4, lan.topo.vip6]));
      procs.push(lan.l2vip(n.netns, ['standalone', '--config', file]));
    }
    await Promise.all(procs.map((p) => p.waitFor('standalone speaker started')));
    const macs = await Promise.all(nodes.map((n) => lan.mac(n.netns)));
    const client = lan.topo.client.netns;
    // iputils arping probes once a second.
    const arping = async (count: number) => arpingMacs((await lan.exec(client, 'arping', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', lan.topo.vip4)).stdout);
    // Settle the election (every node has seen the others), then find the owner.
    let owners = new Set<string>();
    for (let i = 0; i < 10 && owners.size !== 1; i++) owners = await arping(1);
    expect(owners.size).toBe(1);
    const ownerMac = [...owners][0]!;
    const ownerIndex = macs.indexOf(ownerMac);
    expect(ownerIndex).toBeGreaterThanOrEqual(0);
    const backups = nodes.filter((_, i) => i !== ownerIndex);

    const repairMs: number[] = [];
    for (const b of backups) {
      expect((await lan.exec(b.netns, 'nft', 'list', 'table', 'arp', 'l2vip')).code).toBe(0);
      const flushed = performance.now();
      const flush = await lan.exec(b.netns, 'nft', 'flush', 'ruleset');
      expect(flush.code).toBe(0);
      // Restored on the flush's own event (nft monitor), not by a periodic listing (every 30 s).
      while ((await lan.exec(b.netns, 'nft', 'list', 'table', 'arp', 'l2vip')).code !== 0 && performance.now() - flushed < 2000);
      repairMs.push(performance.now() - flushed);
      expect((await lan.exec(b.netns, 'sysctl', '-n', 'net.ipv4.conf.eth0.arp_ignore')).stdout.trim()).toBe('1');
    }
    if (process.env['L2VIP_TEST_VERBOSE'] !== undefined) console.log(`table restored ${repairMs.map((x) => x.toFixed(0)).join(', ')} ms after the flush`);
    expect(Math.max(...repairMs)).toBeLessThan(1000);
    // Probes at 0, 0.3, 1, 1.3, 2 and 2.3 s after the flush: two arpings, 300 ms apart.
    const later = new Promise((r) => setTimeout(r, 300)).then(() => arping(3));
    const answered = new Set([...(await arping(3)), ...(await later)]);
    expect([...answered]).toEqual([ownerMac]);

    const ns = await lan.exec(client, 'ndisc6', '-m', '-n', '-r', '3', '-w', '600', lan.topo.vip6, 'eth0');
    expect([...ndiscMacs(ns.stdout)]).toEqual([ownerMac]);

    // And the table is back on the backups.
    for (const b of backups) expect((await lan.exec(b.netns, 'nft', 'list', 'table', 'arp', 'l2vip')).code).toBe(0);
  }, 90_000);
});
