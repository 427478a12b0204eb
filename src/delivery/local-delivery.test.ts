import { describe, expect, it } from 'vitest';
import { nftRuleset, planDelivery } from './local-delivery.js';

const none = { delivered: new Set<string>(), standby: new Set<string>() };

describe('local delivery plan', () => {
  it('silences the kernel for a new IPv4 VIP before routing it, and uses a tagged local route', () => {
    const p = planDelivery(none, { delivered: new Set(['192.0.2.10']), standby: new Set() });
    expect(p.nftBefore).toBe('add element arp l2vip vips { 192.0.2.10 }');
    expect(p.ip).toEqual(['route replace local 192.0.2.10/32 dev lo table local proto 250 scope host']);
    expect(p.nftAfter).toBe('');
  });

  it('puts an IPv6 VIP on lo, deprecated and without DAD', () => {
    const p = planDelivery(none, { delivered: new Set(['2001:db8::10']), standby: new Set() });
    expect(p.ip).toEqual(['address add 2001:db8::10/128 dev lo nodad preferred_lft 0']);
    expect(p.nftBefore).toBe('');
  });

  it('removes the route before it stops dropping ARP for the VIP', () => {
    const from = { delivered: new Set(['192.0.2.10', '2001:db8::10']), standby: new Set<string>() };
    const p = planDelivery(from, none);
    expect(p.ip).toEqual([
      'route del local 192.0.2.10/32 dev lo table local proto 250',
      'address del 2001:db8::10/128 dev lo',
    ]);
    expect(p.nftAfter).toBe('delete element arp l2vip vips { 192.0.2.10 }');
  });

  it('moves VIPs between standby and announced without touching routes', () => {
    const a = { delivered: new Set(['192.0.2.10']), standby: new Set(['192.0.2.10']) };
    const b = { delivered: new Set(['192.0.2.10']), standby: new Set<string>() };
    expect(planDelivery(a, b)).toEqual({ nftBefore: 'delete element arp l2vip standby { 192.0.2.10 }', ip: [], nftAfter: '' });
    expect(planDelivery(b, a)).toEqual({ nftBefore: 'add element arp l2vip standby { 192.0.2.10 }', ip: [], nftAfter: '' });
  });

  it('never adds or removes an IPv6 address the operator configured', () => {
    const pre = new Set(['2001:db8::10']);
    expect(planDelivery(none, { delivered: pre, standby: new Set() }, pre).ip).toEqual([]);
    expect(planDelivery({ delivered: pre, standby: new Set() }, none, pre).ip).toEqual([]);
  });

  it('drops ARP naming a VIP in both directions and the kernel\'s own requests from standby VIPs', () => {
    const r = nftRuleset();
    expect(r).toContain('arp operation request arp daddr ip @vips drop');
    expect(r).toContain('arp saddr ip @vips drop');
    expect(r).toMatch(/hook output[\s\S]*arp saddr ip @standby drop/);
  });
});
