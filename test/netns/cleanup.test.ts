import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestLan } from './helpers/lan.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('l2vip cleanup', () => {
  const lan = new TestLan(1);
  const node = lan.topo.nodes[0]!;
  const { vip4, vip6 } = lan.topo;

  beforeAll(async () => {
    await lan.create();
  }, 60_000);

  afterAll(async () => {
    await lan.destroy();
  });

  const sysctl = async (name: string) => (await lan.exec(node.netns, 'sysctl', '-n', `net.ipv4.conf.eth0.${name}`)).stdout.trim();

  it('refuses while l2vip runs, and removes everything a killed one left', async () => {
    const before = { ignore: await sysctl('arp_ignore'), announce: await sysctl('arp_announce') };
    const p = lan.l2vip(node.netns, ['announce', '-i', 'eth0', vip4, vip6]);
    await p.waitFor('announce started');

    const refused = lan.l2vip(node.netns, ['cleanup']);
    expect((await refused.exited).code).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/another l2vip \(pid \d+\) manages local delivery in this network namespace; stop it first/);
    expect((await lan.exec(node.netns, 'ip', 'route', 'show', 'table', 'local', 'proto', '250')).stdout).toContain(vip4);

    p.child.kill('SIGKILL');
    await p.exited;
    expect(await sysctl('arp_ignore')).toBe('1');

    const c = lan.l2vip(node.netns, ['cleanup']);
    expect((await c.exited).code).toBe(0);
    const printed = c.lines.map((l) => l.msg).join('\n');
    expect(printed).toContain(`removed route local ${vip4} (table local, proto 250)`);
    expect(printed).toContain(`removed address ${vip6}/128 from lo`);
    expect(printed).toContain('deleted nftables table arp l2vip');
    expect(printed).toContain(`restored net.ipv4.conf.eth0.arp_ignore=${before.ignore}`);
    expect(printed).toContain(`restored net.ipv4.conf.eth0.arp_announce=${before.announce}`);

    expect((await lan.exec(node.netns, 'ip', 'route', 'show', 'table', 'local', 'proto', '250')).stdout).toBe('');
    expect((await lan.exec(node.netns, 'ip', '-6', 'addr', 'show', 'dev', 'lo')).stdout).not.toContain(vip6);
    expect((await lan.exec(node.netns, 'nft', 'list', 'table', 'arp', 'l2vip')).code).not.toBe(0);
    expect(await sysctl('arp_ignore')).toBe(before.ignore);
    expect(await sysctl('arp_announce')).toBe(before.announce);
    // The host's own addresses and routes are untouched.
    expect((await lan.exec(node.netns, 'ip', 'route', 'show', 'table', 'local', node.ipv4)).stdout).toMatch(/proto kernel/);

    const again = lan.l2vip(node.netns, ['cleanup']);
    expect((await again.exited).code).toBe(0);
    expect(again.lines.map((l) => l.msg)).toEqual(['nothing to clean up']);
  }, 60_000);
});
