import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standaloneYaml } from '../../src/lab/standalone-yaml.js';
import { TestLan } from './helpers/lan.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('l2vip standalone command', () => {
  const lan = new TestLan(1);
  const node = lan.topo.nodes[0]!;
  let dir = '';
  const config = (services: string) => standaloneYaml({ node, peers: [node], dir, services: [services] });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-standalone-test-'));
    await writeFile(join(dir, 'secret'), 'a-shared-secret-of-at-least-32-bytes-long\n');
    await lan.create();
  }, 60_000);

  afterAll(async () => {
    await lan.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 2 with one line per problem for a bad file, a short secret or an unknown interface', async () => {
    await writeFile(join(dir, 'bad.yaml'), config('  - { name: web, addresses: [198.51.100.200], nodes: [n1, n9] }'));
    const bad = lan.l2vip(node.netns, ['standalone', '--config', join(dir, 'bad.yaml')]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr).toMatch(/services\[0\]\.nodes\[1\]: "n9" is not a peer/);

    await writeFile(join(dir, 'short'), 'too short\n');
    await writeFile(join(dir, 'short.yaml'), config('  - { name: web, addresses: [198.51.100.200] }').replace(join(dir, 'secret'), join(dir, 'short')));
    const short = lan.l2vip(node.netns, ['standalone', '--config', join(dir, 'short.yaml')]);
    expect((await short.exited).code).toBe(2);
    expect(short.stderr).toMatch(/cluster\.secretFile: .*at least 32/);

    await writeFile(join(dir, 'iface.yaml'), config('  - { name: web, addresses: [198.51.100.200] }').replace('interfaces: [eth0]', 'interfaces: [eth9]'));
    const iface = lan.l2vip(node.netns, ['standalone', '--config', join(dir, 'iface.yaml')]);
    expect((await iface.exited).code).toBe(2);
    expect(iface.stderr).toMatch(/unknown interface: no interface named "eth9"/);
    expect(iface.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('announces, keeps the running config on an invalid reload, applies a valid one, and exits 0 on SIGTERM', async () => {
    const file = join(dir, 'l2vip.yaml');
    const withMetrics = (services: string) => config(services).replace('interfaces: [eth0]', 'interfaces: [eth0]\nmetrics: { listen: "127.0.0.1:9120" }');
    await writeFile(file, withMetrics('  - { name: web, addresses: [198.51.100.200] }'));
    const p = lan.l2vip(node.netns, ['standalone', '--config', file]);
    try {
      await p.waitFor('standalone speaker started');
      const arping = (ip: string) => lan.exec(lan.topo.client.netns, 'arping', '-c', '1', '-w', '2', '-I', 'eth0', ip);
      expect((await arping('198.51.100.200')).stdout).toMatch(/Received 1 response/);
      const scrape = await lan.exec(node.netns, process.execPath, '-e', "fetch('http://127.0.0.1:9120/metrics').then((r) => r.text()).then((t) => console.log(t))");
      expect(scrape.stdout).toMatch(/metallb_layer2_requests_received\{ip="198.51.100.200"\} [1-9]/);
      expect(scrape.stdout).toContain('metallb_speaker_announced{node="n1",service="web",protocol="layer2",ip="198.51.100.200"} 1');
      expect(scrape.stdout).toContain('l2vip_membership_members{state="alive"} 1');

      await writeFile(file, 'services: [');
      p.child.kill('SIGHUP');
      await p.waitFor('config reload failed; keeping the running config');
      expect((await arping('198.51.100.200')).stdout).toMatch(/Received 1 response/);

      await writeFile(file, withMetrics('  - { name: web, addresses: [198.51.100.201] }'));
      p.child.kill('SIGHUP');
      await p.waitFor('config reloaded');
      expect((await arping('198.51.100.201')).stdout).toMatch(/Received 1 response/);
      expect((await arping('198.51.100.200')).stdout).toMatch(/Received 0 response/);
      const after = await lan.exec(node.netns, process.execPath, '-e', "fetch('http://127.0.0.1:9120/metrics').then((r) => r.text()).then((t) => console.log(t))");
      expect(after.stdout).toContain('l2vip_config_reloads_total{result="success"} 1');
      expect(after.stdout).toContain('l2vip_config_reloads_total{result="failure"} 1');
    } finally {
      p.child.kill('SIGTERM');
    }
    expect((await p.exited).code).toBe(0);
  }, 90_000);
});
