import { describe, expect, it } from 'vitest';
import { nftRuleset, planDelivery } from './local-delivery.js';

const none = new Set<string>();

describe('local delivery plan', () => {
  it('silences the kernel for a new IPv4 VIP before routing it, and uses a tagged local route', () => {
    const p = planDelivery(none, new Set(['192.0.2.10']));
    expect(p.nftBefore).toBe('add element arp l2vip vips { 192.0.2.10 }');
    expect(p.ip).toEqual(['route replace local 192.0.2.10/32 dev lo table local proto 250 scope host']);
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

  it('never adds or removes an IPv6 address the operator configured', () => {
    const pre = new Set(['2001:db8::10']);
    expect(planDelivery(none, pre, pre).ip).toEqual([]);
    expect(planDelivery(pre, none, pre).ip).toEqual([]);
  });

  it('drops ARP requests for VIPs and ARP from other hosts claiming one, and nothing the kernel sends', () => {
    const r = nftRuleset();
    expect(r).toContain('arp operation request arp daddr ip @vips drop');
    expect(r).toContain('arp saddr ip @vips drop');
    expect(r).not.toContain('hook output');
  });
});
