import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arpFrame, type ArpPacket } from '../../src/packet/arp.js';
import { BROADCAST_MAC, parseMac } from '../../src/packet/mac.js';
import { neighborSolicitationFrame } from '../../src/packet/ndp.js';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { TestLan, type L2vipProcess } from './helpers/lan.js';

const root = process.getuid?.() === 0;
const VIP4 = '198.51.100.200';
const VIP6 = '2001:db8:77::200';

describe.skipIf(!root)('l2vip announce in namespaces', () => {
  const lan = new TestLan(1);
  const node = lan.topo.nodes[0]!;
  const client = lan.topo.client;
  let nodeMac = '';
  let initial = '';

  /** What local delivery may change on the node: must be the same before and after. */
  const hostState = async (): Promise<string> => {
    const parts = await Promise.all([
      lan.exec(node.netns, 'ip', 'route', 'show', 'table', 'local'),
      lan.exec(node.netns, 'ip', '-6', 'route', 'show', 'table', 'local'),
      lan.exec(node.netns, 'ip', 'addr'),
      lan.exec(node.netns, 'nft', 'list', 'ruleset'),
      lan.exec(node.netns, 'sysctl', 'net.ipv4.conf.eth0.arp_announce', 'net.ipv4.conf.eth1.arp_announce'),
    ]);
    return parts.map((p) => p.stdout).join('\n---\n');
  };
  const arping = (ip: string, count = 2) => lan.exec(client.netns, 'arping', '-c', String(count), '-w', '3', '-I', 'eth0', ip);
  const start = async (args: string[]): Promise<L2vipProcess> => {
    const p = lan.l2vip(node.netns, ['announce', ...args]);
    await p.waitFor('announce started');
    return p;
  };
  const stop = async (p: L2vipProcess) => {
    p.child.kill('SIGTERM');
    return p.exited;
  };

  beforeAll(async () => {
    await lan.create();
    nodeMac = (await lan.exec(node.netns, 'cat', '/sys/class/net/eth0/address')).stdout.trim().toUpperCase();
    // A second interface on the node, on a link of its own.
    await lan.exec(node.netns, 'ip', 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p');
    await lan.exec(node.netns, 'ip', 'link', 'set', 'eth1', 'up');
    await lan.exec(node.netns, 'ip', 'link', 'set', 'eth1p', 'up');
    initial = await settledState();
  }, 60_000);

  /** The host state once IPv6 duplicate address detection has finished, so it is a stable one. */
  const settledState = async (): Promise<string> => {
    for (let i = 0; i < 50 && (await lan.exec(node.netns, 'ip', 'addr')).stdout.includes('tentative'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return hostState();
  };

  afterAll(async () => {
    await lan.destroy();
  });

  it('answers arping for an announced IPv4 VIP with the node MAC, and nothing for other IPs', async () => {
    const p = await start(['-i', 'eth0', VIP4, VIP6]);
    try {
      const yes = await arping(VIP4);
      expect(yes.stdout).toContain(`[${nodeMac}]`);
      expect(yes.stdout).toMatch(/Received 2 response/);
      const no = await arping('198.51.100.201', 1);
      expect(no.stdout).toMatch(/Received 0 response/);
      // IPv6: multicast NS (address resolution) and a unicast NS without source link-layer option (NUD).
      const nd = await lan.exec(client.netns, 'ndisc6', '-r', '2', VIP6, 'eth0');
      expect(nd.stdout).toContain(`Target link-layer address: ${nodeMac}`);
      // Joined at the IP level too, so the kernel reports it to MLD-snooping switches.
      expect((await lan.exec(node.netns, 'ip', 'maddr', 'show', 'dev', 'eth0')).stdout).toContain('ff02::1:ff00:200');
      const nud = await lan.script(client.netns, 'raw-frames.ts', ['nud', VIP6, nodeMac]);
      expect(JSON.parse(nud.stdout)).toMatchObject({ answered: true, mac: nodeMac.toLowerCase(), solicited: true });
      // The kernel never uses a VIP as the sender of its own ARP requests on the announcing interface.
      expect((await lan.exec(node.netns, 'sysctl', '-n', 'net.ipv4.conf.eth0.arp_announce')).stdout.trim()).toBe('2');
      // Local delivery: the kernel answers ping through the VIPs, and servers bound to them.
      expect((await lan.exec(client.netns, 'ping', '-c', '2', '-W', '2', VIP4)).code).toBe(0);
      expect((await lan.exec(client.netns, 'ping', '-6', '-c', '2', '-W', '2', VIP6)).code).toBe(0);
      for (const [ip, proto] of [[VIP4, 'tcp'], [VIP6, 'tcp'], [VIP4, 'udp'], [VIP6, 'udp']] as const) {
        const server = lan.script(node.netns, 'echo-once.ts', ['serve', proto, ip]);
        await new Promise((r) => setTimeout(r, 1500));
        const got = await lan.script(client.netns, 'echo-once.ts', ['ask', proto, ip]);
        expect(got.stdout.trim()).toBe(`echo:${proto}`);
        await server;
      }
    } finally {
      const exit = await stop(p);
      expect(exit.code).toBe(0);
    }
    // After SIGTERM nothing answers, and the node is as it was.
    expect((await arping(VIP4, 1)).stdout).toMatch(/Received 0 response/);
    expect((await lan.exec(client.netns, 'ping', '-c', '1', '-W', '1', VIP4)).code).not.toBe(0);
    expect(await hostState()).toBe(initial);
  }, 120_000);

  it('ignores requests for a VIP announced on another interface, and follows that interface when it is re-created', async () => {
    const p = await start(['-i', 'eth1', VIP4]);
    try {
      expect((await arping(VIP4, 1)).stdout).toMatch(/Received 0 response/);
      const before = (await p.counters()).perIp[VIP4]!.gratuitousSent ?? 0;
      await lan.exec(node.netns, 'ip', 'link', 'del', 'eth1');
      await lan.exec(node.netns, 'ip', 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p');
      await lan.exec(node.netns, 'ip', 'link', 'set', 'eth1', 'up');
      await lan.exec(node.netns, 'ip', 'link', 'set', 'eth1p', 'up');
      await new Promise((r) => setTimeout(r, 500));
      expect((await p.counters()).perIp[VIP4]!.gratuitousSent).toBeGreaterThanOrEqual(before + 4);
      expect(p.child.exitCode).toBeNull();
    } finally {
      await stop(p);
      // eth1 is a new device now: the reference state changes with it.
      initial = await settledState();
    }
  }, 60_000);

  it('after kill -9 the node does not answer ARP for the VIP, and the next start cleans up', async () => {
    const p = await start(['-i', 'eth0', VIP4, VIP6]);
    p.child.kill('SIGKILL');
    await p.exited;
    // The kernel still has the local route, but nftables keeps it from answering.
    expect((await arping(VIP4, 1)).stdout).toMatch(/Received 0 response/);
    const again = await start(['-i', 'eth0', VIP4, VIP6]);
    expect((await arping(VIP4, 1)).stdout).toMatch(/Received 1 response/);
    await stop(again);
    expect(await hostState()).toBe(initial);
  }, 60_000);

  it('updates an existing client neighbour entry with a gratuitous ARP, without the client asking', async () => {
    await lan.exec(client.netns, 'ip', 'neigh', 'replace', VIP4, 'lladdr', '02:00:00:00:00:aa', 'dev', 'eth0', 'nud', 'stale');
    const p = await start(['-i', 'eth0', '--no-deliver', VIP4]);
    try {
      let entry = '';
      for (let i = 0; i < 20 && !entry.toUpperCase().includes(nodeMac); i++) {
        entry = (await lan.exec(client.netns, 'ip', 'neigh', 'show', VIP4, 'dev', 'eth0')).stdout;
        if (!entry.toUpperCase().includes(nodeMac)) await new Promise((r) => setTimeout(r, 100));
      }
      expect(entry.toUpperCase()).toContain(nodeMac);
      const c = await p.counters();
      expect(c.perIp[VIP4]!.gratuitousSent).toBeGreaterThanOrEqual(2);
      expect(c.perIp[VIP4]!.requestsReceived).toBe(0);
    } finally {
      await stop(p);
      await lan.exec(client.netns, 'ip', 'neigh', 'del', VIP4, 'dev', 'eth0');
    }
  }, 60_000);

  it('drops and counts malformed frames, and keeps answering', async () => {
    const p = await start(['-i', 'eth0', '--no-deliver', VIP4, VIP6]);
    try {
      const clientMac = parseMac((await lan.exec(client.netns, 'cat', '/sys/class/net/eth0/address')).stdout.trim())!;
      const vip4 = toOwnedIp(VIP4)!.bytes;
      const vip6 = toOwnedIp(VIP6)!.bytes;
      const src6 = toOwnedIp('2001:db8:77::2')!.bytes;
      const req: ArpPacket = { op: 1, senderMac: clientMac, senderIp: toOwnedIp('198.51.100.2')!.bytes, targetMac: new Uint8Array(6), targetIp: vip4 };
      const good = arpFrame(req, { dst: BROADCAST_MAC });
      const badHlen = Uint8Array.from(good);
      badHlen[14 + 4] = 8;
      const badSum = neighborSolicitationFrame({ srcMac: clientMac, srcIp: src6, target: vip6 });
      badSum[badSum.length - 3]! ^= 0x5a;
      const badHop = neighborSolicitationFrame({ srcMac: clientMac, srcIp: src6, target: vip6, hopLimit: 64 });
      // An NS cut after one ICMPv6 byte (IPv6 payload length 1), padded to the 60-byte minimum.
      const cut = new Uint8Array(60);
      cut.set(neighborSolicitationFrame({ srcMac: clientMac, srcIp: src6, target: vip6 }).subarray(0, 14 + 40 + 1));
      cut[14 + 4] = 0;
      cut[14 + 5] = 1;
      const frames = [cut, badHlen, badSum, badHop].map((f) => Buffer.from(f).toString('hex'));
      await lan.script(client.netns, 'raw-frames.ts', ['send', ...frames]);
      await new Promise((r) => setTimeout(r, 300));
      const c = await p.counters();
      expect(c.drops['malformed:truncated']).toBeGreaterThanOrEqual(1);
      expect(c.drops['malformed:bad-length']).toBeGreaterThanOrEqual(1);
      expect(c.drops['malformed:bad-checksum']).toBeGreaterThanOrEqual(1);
      expect(c.drops['malformed:bad-hop-limit']).toBeGreaterThanOrEqual(1);
      expect(p.child.exitCode).toBeNull();
      expect((await arping(VIP4, 1)).stdout).toMatch(/Received 1 response/);
    } finally {
      await stop(p);
    }
  }, 60_000);

  it('rejects bad input with one line and exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['-i', 'eth0', '198.51.100.300'], /is not an IPv4 or IPv6 address/],
      [['-i', 'nosuch0', VIP4], /no interface named "nosuch0"/],
    ];
    for (const [args, msg] of cases) {
      const p = lan.l2vip(node.netns, ['announce', ...args]);
      const exit = await p.exited;
      expect(exit.code).toBe(2);
      expect(p.stderr.trim().split('\n')).toHaveLength(1);
      expect(p.stderr).toMatch(msg);
    }
    // One l2vip per network namespace manages local delivery.
    const first = await start(['-i', 'eth0', VIP4]);
    try {
      const second = lan.l2vip(node.netns, ['announce', '-i', 'eth0', '198.51.100.201']);
      expect((await second.exited).code).toBe(2);
      expect(second.stderr).toMatch(/another l2vip \(pid \d+\) manages local delivery/);
      expect((await arping(VIP4, 1)).stdout).toMatch(/Received 1 response/);
    } finally {
      await stop(first);
    }
    const nobody = await lan.exec(node.netns, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', new URL('../../src/cli/main.ts', import.meta.url).pathname, 'announce', '-i', 'eth0', VIP4);
    expect(nobody.code).toBe(2);
    expect(nobody.stderr).toMatch(/run it as root/);
  }, 60_000);
});
