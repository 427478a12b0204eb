import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { silentLogger } from '../observability/logger.js';
import { FakeHost } from '../../test/fakes/fake-host.js';
import { FakeRulesetWatcher } from '../../test/fakes/fake-ruleset-watcher.js';
import { LocalDelivery, NFT_CHECK_MS, nftRulesIntact, nftRuleset, nftSetElements, planDelivery, VERIFY_MS } from './local-delivery.js';

const none = new Set<string>();

describe('local delivery plan', () => {
  it('silences the kernel for a new IPv4 VIP before routing it, and adds (never replaces) a tagged local route', () => {
    const p = planDelivery(none, new Set(['192.0.2.10']));
    expect(p.nftBefore).toBe('add element arp l2vip vips { 192.0.2.10 }');
    expect(p.ip).toEqual(['route add local 192.0.2.10/32 dev lo table local proto 250 scope host']);
    expect(p.nftAfter).toBe('');
  });

  it('puts an IPv6 VIP on lo, deprecated and without DAD', () => {
    const p = planDelivery(none, new Set(['2001:db8::10']));
    expect(p.ip).toEqual(['address add 2001:db8::10/128 dev lo nodad preferred_lft 0']);
    expect(p.nftBefore).toBe('');
  });

  it('removes the route before it stops dropping ARP for the VIP', () => {
    const p = planDelivery(new Set(['192.0.2.10', '2001:db8::10']), none);
    expect(p.ip).toEqual(['route del local 192.0.2.10/32 dev lo table local proto 250', 'address del 2001:db8::10/128 dev lo']);
    expect(p.nftAfter).toBe('delete element arp l2vip vips { 192.0.2.10 }');
  });

  it('changes nothing when nothing changes', () => {
    const s = new Set(['192.0.2.10', '2001:db8::10']);
    expect(planDelivery(s, s)).toEqual({ nftBefore: '', ip: [], nftAfter: '' });
  });

  it('drops ARP requests for VIPs and ARP from other hosts claiming one, and nothing the kernel sends', () => {
    const r = nftRuleset();
    expect(r).toContain('arp operation request arp daddr ip @vips drop');
    expect(r).toContain('arp saddr ip @vips drop');
    expect(r).not.toContain('hook output');
  });

  it('reads the elements of `nft list set`', () => {
    expect([...nftSetElements('set vips {\n type ipv4_addr\n elements = { 192.0.2.1, 192.0.2.20 }\n}')]).toEqual(['192.0.2.1', '192.0.2.20']);
    expect(nftSetElements('set vips {\n type ipv4_addr\n}').size).toBe(0);
  });

  it('tells a table with both drop rules from one whose chain was flushed', () => {
    const table = 'table arp l2vip {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tarp operation request arp daddr ip @vips drop\n\t\tarp saddr ip @vips drop\n\t}\n}';
    expect(nftRulesIntact(table)).toBe(true);
    expect(nftRulesIntact(table.replace(/\t\tarp .*\n/g, ''))).toBe(false);
  });
});

describe('local delivery on a host', () => {
  let dir = '';
  let host: FakeHost;
  let clock: VirtualClock;
  let d: LocalDelivery;
  let watcher: FakeRulesetWatcher;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2vip-delivery-'));
    host = new FakeHost();
    host.addAddress('192.0.2.1', 'eth0');
    host.sysctls.set('eth0.arp_announce', '0');
    host.sysctls.set('eth0.arp_ignore', '0');
    clock = new VirtualClock();
    watcher = new FakeRulesetWatcher();
    d = new LocalDelivery({ runner: host, logger: silentLogger(), stateDir: dir, clock, sysctl: host.sysctl, watcher });
  });

  afterEach(async () => {
    await d.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Lets queued command promises settle after the virtual clock fired timers. */
  const settle = (): Promise<void> => d.whenIdle();

  it('sets arp_ignore=1 and arp_announce=2 on announcing interfaces and restores both at stop', async () => {
    await d.start(['eth0']);
    expect(host.sysctls.get('eth0.arp_ignore')).toBe('1');
    expect(host.sysctls.get('eth0.arp_announce')).toBe('2');
    const state = JSON.parse(await readFile(join(dir, (await import('node:fs')).readdirSync(dir).find((f) => f.endsWith('.json'))!), 'utf8')) as { sysctls: unknown };
    expect(state.sysctls).toEqual({ eth0: { arp_announce: '0', arp_ignore: '0' } });
    await d.stop();
    expect(host.sysctls.get('eth0.arp_ignore')).toBe('0');
    expect(host.sysctls.get('eth0.arp_announce')).toBe('0');
  });

  it('never replaces nor deletes a local route it did not add (the host address as a VIP)', async () => {
    await d.start(['eth0']);
    await d.set(['192.0.2.1', '192.0.2.10']);
    expect(host.routes.get('192.0.2.1')).toBe('kernel');
    expect(host.routes.get('192.0.2.10')).toBe('250');
    // Not silenced either: the kernel must go on answering for its own address.
    expect([...(host.nftVips ?? [])]).toEqual(['192.0.2.10']);
    expect(host.calls.join('\n')).not.toMatch(/route replace/);
    await d.set([]);
    await d.stop();
    expect(host.routes.get('192.0.2.1')).toBe('kernel');
    expect(host.routes.has('192.0.2.10')).toBe(false);
  });

  it('never deletes an IPv6 address it did not add', async () => {
    host.addAddress('2001:db8::1', 'lo');
    await d.start(['eth0']);
    await d.set(['2001:db8::1', '2001:db8::10']);
    await d.stop();
    expect(host.addresses.get('2001:db8::1')).toBe('lo');
    expect(host.addresses.has('2001:db8::10')).toBe(false);
  });

  it('after a partial failure knows exactly what it added, and retries with backoff until it succeeds', async () => {
    await d.start(['eth0']);
    host.failLine = (l) => l.includes('192.0.2.11');
    await expect(d.set(['192.0.2.10', '192.0.2.11', '2001:db8::10'])).rejects.toThrow(/ip failed/);
    expect([...d.addedVips()].sort()).toEqual(['192.0.2.10', '2001:db8::10']);
    expect([...(host.nftVips ?? [])]).toEqual(['192.0.2.10']);
    expect(d.stats.failing).toBe(true);
    expect(d.stats.failures.get('ip')).toBe(1);

    // Backoff: 250 ms, 500 ms, 1 s, ...
    clock.advance(250);
    await settle();
    expect(d.stats.failures.get('ip')).toBe(2);
    clock.advance(499);
    await settle();
    expect(d.stats.failures.get('ip')).toBe(2);
    clock.advance(1);
    await settle();
    expect(d.stats.failures.get('ip')).toBe(3);

    host.failLine = () => false;
    clock.advance(1000);
    await settle();
    expect(d.stats.failing).toBe(false);
    expect(host.routes.get('192.0.2.11')).toBe('250');
    expect([...(host.nftVips ?? [])].sort()).toEqual(['192.0.2.10', '192.0.2.11']);
  });

  it('caps the retry delay at 10 s', async () => {
    await d.start(['eth0']);
    host.failNft = true;
    await expect(d.set(['192.0.2.10'])).rejects.toThrow(/nft failed/);
    for (let t = 0; t < 60_000; t += 250) {
      clock.advance(250);
      await settle();
    }
    // 250 500 1000 2000 4000 8000 (15.75 s) then every 10 s: 4 more by 60 s, plus the first try.
    expect(d.stats.failures.get('nft')).toBe(11);
    expect(host.routes.has('192.0.2.10')).toBe(false);
  });

  it('restores its nftables table within milliseconds when nft monitor reports a ruleset flush', async () => {
    await d.start(['eth0']);
    await d.set(['192.0.2.10']);
    expect(watcher.starts).toBe(1);
    host.nftVips = undefined; // nft flush ruleset
    watcher.fire();
    clock.advance(5);
    await settle();
    expect([...(host.nftVips ?? [])]).toEqual(['192.0.2.10']);
    expect(d.stats.repairs).toBe(1);
    expect(d.stats.failing).toBe(false);
  });

  it('restores the drop rules when only the chain was flushed', async () => {
    await d.start(['eth0']);
    await d.set(['192.0.2.10']);
    host.nftRulesFlushed = true; // nft flush chain arp l2vip input
    watcher.fire();
    clock.advance(5);
    await settle();
    expect(host.nftRulesFlushed).toBe(false);
    expect([...(host.nftVips ?? [])]).toEqual(['192.0.2.10']);
    expect(d.stats.repairs).toBe(1);
  });

  it('spawns no nft while idle: the table is listed only every 30 s, and a missed flush is repaired then', async () => {
    await d.start(['eth0']);
    await d.set(['192.0.2.10']);
    await settle();
    const lists = (): number => host.calls.filter((c) => c.startsWith('nft list')).length;
    const before = lists();
    // The first listing, a moment after the monitor started; then none for 30 s.
    for (let t = 0; t < NFT_CHECK_MS; t += VERIFY_MS) {
      clock.advance(VERIFY_MS);
      await settle();
    }
    expect(lists() - before).toBe(1);
    host.nftVips = undefined; // a flush the monitor did not report
    clock.advance(VERIFY_MS);
    await settle();
    expect(host.nftVips).toBeUndefined();
    for (let t = 0; t < NFT_CHECK_MS; t += VERIFY_MS) {
      clock.advance(VERIFY_MS);
      await settle();
    }
    expect([...(host.nftVips ?? [])]).toEqual(['192.0.2.10']);
    expect(lists() - before).toBe(2);
  });

  it('repairs at most once a second when its own repair keeps reporting a change (a table that never reads back right)', async () => {
    await d.start(['eth0']);
    await d.set(['192.0.2.10']);
    // Every `nft -f` is reported (as the real monitor reports our own restore's deletions) and the rules never read back.
    const run = host.run.bind(host);
    host.run = (cmd, args, input) =>
      run(cmd, args, input).then((r) => {
        if (cmd === 'nft' && args[0] === '-f') {
          host.nftRulesFlushed = true;
          watcher.fire();
        }
        return r;
      });
    host.nftRulesFlushed = true;
    watcher.fire();
    for (let t = 0; t < 10_000; t += 5) {
      clock.advance(5);
      await settle();
    }
    expect(d.stats.repairs).toBeGreaterThanOrEqual(9);
    expect(d.stats.repairs).toBeLessThanOrEqual(11);
  });

  it('stops the monitor at stop()', async () => {
    await d.start(['eth0']);
    expect(watcher.watching).toBe(true);
    await d.stop();
    expect(watcher.watching).toBe(false);
  });

  it('raises arp_ignore again when someone lowers it', async () => {
    await d.start(['eth0']);
    host.sysctls.set('eth0.arp_ignore', '0');
    clock.advance(VERIFY_MS);
    await settle();
    expect(host.sysctls.get('eth0.arp_ignore')).toBe('1');
    await d.stop();
    expect(host.sysctls.get('eth0.arp_ignore')).toBe('0');
  });

  it('a restart after a crash removes the leftovers, but not the host routes', async () => {
    await d.start(['eth0']);
    await d.set(['192.0.2.10', '2001:db8::10']);
    // kill -9: no stop(); the lock's pid is ours, which counts as not running.
    const next = new LocalDelivery({ runner: host, logger: silentLogger(), stateDir: dir, clock, sysctl: host.sysctl, watcher: null });
    await next.start([]);
    expect(host.routes.has('192.0.2.10')).toBe(false);
    expect(host.addresses.has('2001:db8::10')).toBe(false);
    expect(host.routes.get('192.0.2.1')).toBe('kernel');
    expect(host.sysctls.get('eth0.arp_ignore')).toBe('0');
    await next.stop();
  });
});
