import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unsolicitedAdvertisement } from '../../src/announcer/ndp-responder.js';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { arpFrame, gratuitousArp } from '../../src/packet/arp.js';
import { parseMac } from '../../src/packet/mac.js';
import type { StatusDocument } from '../../src/speaker/status.js';
import { labService, standaloneYaml } from '../../src/lab/standalone-yaml.js';
import { TestLan } from './helpers/lan.js';

const root = process.getuid?.() === 0;
const VIP4 = '198.51.100.200';
const VIP6 = '2001:db8:77::200';
const ROGUE_MAC = '0e:11:22:33:44:55';
const METRICS = '127.0.0.1:9121';

/**
 * A standalone node owns a VIP pair; a rogue host on the LAN (the second node's namespace,
 * running no l2vip) claims both: a gratuitous ARP for the IPv4 VIP and an unsolicited NA for
 * the IPv6 one, from a MAC of its own.
 */
describe.skipIf(!root)('conflict detection in namespaces', () => {
  const lan = new TestLan(2);
  const node = lan.topo.nodes[0]!;
  const rogue = lan.topo.nodes[1]!;
  const client = lan.topo.client;
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-conflict-test-'));
    await writeFile(join(dir, 'secret'), 'a-shared-secret-of-at-least-32-bytes-long\n', { mode: 0o600 });
    await writeFile(join(dir, 'l2vip.yaml'), standaloneYaml({ node, peers: [node], dir, metricsListen: METRICS, services: [labService('web', [VIP4, VIP6])] }));
    await lan.create();
  }, 60_000);

  afterAll(async () => {
    await lan.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (path: string): Promise<string> =>
    (await lan.exec(node.netns, process.execPath, '-e', `fetch('http://${METRICS}${path}').then((r) => r.text()).then((t) => process.stdout.write(t))`)).stdout;
  const clientNeigh = async (ip: string): Promise<string> => (await lan.exec(client.netns, 'ip', 'neigh', 'show', ip, 'dev', 'eth0')).stdout.toLowerCase();
  const until = async (what: string, test: () => Promise<boolean>, ms = 5_000): Promise<void> => {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      if (await test()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  it('logs each claim once per episode with both MACs and the interface, counts it, defends, and shows it in l2vip status', async () => {
    const p = lan.l2vip(node.netns, ['standalone', '--config', join(dir, 'l2vip.yaml')]);
    try {
      await p.waitFor('standalone speaker started');
      const nodeMac = (await lan.exec(node.netns, 'cat', '/sys/class/net/eth0/address')).stdout.trim().toLowerCase();
      // The client's kernel knows the VIP at the owner's MAC.
      await lan.exec(client.netns, 'ping', '-c', '1', '-W', '2', VIP4);
      expect(await clientNeigh(VIP4)).toContain(nodeMac);

      const mac = parseMac(ROGUE_MAC)!;
      const garp = arpFrame(gratuitousArp(mac, toOwnedIp(VIP4)!.bytes, 'request'));
      const na = unsolicitedAdvertisement(mac, toOwnedIp(VIP6)!.bytes);
      const hex = (f: Uint8Array) => Buffer.from(f).toString('hex');
      // Two claims of the IPv4 VIP (one episode) and one of the IPv6 VIP.
      const sent = await lan.script(rogue.netns, 'raw-frames.ts', ['send', hex(garp), hex(na)]);
      expect(sent.stdout).toContain('"sent":2');
      await new Promise((r) => setTimeout(r, 300));
      expect((await lan.script(rogue.netns, 'raw-frames.ts', ['send', hex(garp)])).stdout).toContain('"sent":1');

      await until('both conflicts counted', async () => /l2vip_conflicts_total 2\b/.test(await get('/metrics')));
      const metrics = await get('/metrics');
      expect(metrics).toContain(`l2vip_layer2_conflicts_total{ip="${VIP4}"} 2`);
      expect(metrics).toContain(`l2vip_layer2_conflicts_total{ip="${VIP6}"} 1`);
      // One defence per IP: RFC 5227 defends at most once per 10 s.
      expect(metrics).toContain('l2vip_conflict_actions_total{action="defend"} 2');

      // Logged once per episode, with both MACs and the interface.
      const warnings = p.lines.filter((l) => l.msg === 'another host claims an IP this node announces');
      expect(warnings).toHaveLength(2);
      for (const [ip, w] of [[VIP4, warnings.find((x) => x.ip === VIP4)], [VIP6, warnings.find((x) => x.ip === VIP6)]] as const) {
        expect(w, ip).toMatchObject({ ip, iface: 'eth0', ourMac: nodeMac, otherMac: ROGUE_MAC, service: 'web', action: 'defend' });
      }

      // Defended: the client, whose cache the rogue's gratuitous ARP rewrote, is back at the owner's MAC.
      await until('the client to point at the owner again', async () => (await clientNeigh(VIP4)).includes(nodeMac));
      expect(await clientNeigh(VIP4)).not.toContain(ROGUE_MAC);

      // l2vip status shows both episodes.
      const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
      const json = await lan.exec(node.netns, process.execPath, '--import', 'tsx', main, 'status', '--endpoint', `http://${METRICS}`, '--output', 'json');
      const doc = JSON.parse(json.stdout) as StatusDocument;
      expect(doc.conflicts).toHaveLength(2);
      expect(doc.conflicts.find((c) => c.ip === VIP4)).toMatchObject({ iface: 'eth0', ourMac: nodeMac, otherMac: ROGUE_MAC, count: 2, action: 'defend', ongoing: true, service: 'web' });
      expect(doc.conflicts.find((c) => c.ip === VIP6)).toMatchObject({ iface: 'eth0', otherMac: ROGUE_MAC, count: 1, action: 'defend' });
      const table = await lan.exec(node.netns, process.execPath, '--import', 'tsx', main, 'status', '--endpoint', `http://${METRICS}`);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(new RegExp(`^${VIP4.replace(/\./g, '\\.')}\\s+eth0\\s+${nodeMac}\\s+${ROGUE_MAC}\\s+2\\s+defend`, 'm'));
    } finally {
      p.child.kill('SIGTERM');
    }
    expect((await p.exited).code).toBe(0);
  }, 90_000);
});
