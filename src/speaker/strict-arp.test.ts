import { describe, expect, it } from 'vitest';
import { strictArpWarning } from './strict-arp.js';

const ifaces = (m: Record<string, number | undefined>, arpAnnounce = 2) => new Map(Object.entries(m).map(([k, v]) => [k, { arpIgnore: v, arpAnnounce }]));

describe('strictARP check (kube-proxy IPVS mode)', () => {
  it('say nothing without kube-ipvs0, whatever the sysctls', () => {
    expect(strictArpWarning({ kubeIpvs: false, all: { arpIgnore: 0 }, interfaces: ifaces({ eth0: 0 }) })).toBeUndefined();
  });

  it('warn, naming the interfaces and the fix, when the kernel would answer for VIPs', () => {
    const w = strictArpWarning({ kubeIpvs: true, all: { arpIgnore: 0 }, interfaces: ifaces({ eth1: 0, eth0: undefined, bond0: 1 }) });
    expect(w).toContain('not strict on eth0 (arp_ignore 0, arp_announce 2), eth1 (arp_ignore 0, arp_announce 2):');
    expect(w).toContain('strictARP: true');
    expect(w).toContain('net.ipv4.conf.all.arp_ignore=1');
    expect(strictArpWarning({ kubeIpvs: true, all: {}, interfaces: ifaces({ eth0: undefined }) })).toContain('on eth0 (arp_ignore 0, arp_announce 2):');
  });

  it('warn when arp_announce is below 2 (a VIP could be the sender of the kernel\'s own ARP requests)', () => {
    expect(strictArpWarning({ kubeIpvs: true, all: { arpIgnore: 1 }, interfaces: ifaces({ eth0: 1 }, 1) })).toContain('eth0 (arp_ignore 1, arp_announce 1)');
    expect(strictArpWarning({ kubeIpvs: true, all: { arpIgnore: 1, arpAnnounce: 2 }, interfaces: ifaces({ eth0: 0 }, 0) })).toBeUndefined();
  });

  it('accept arp_ignore >= 1 from either conf/all or the interface (the kernel takes the maximum)', () => {
    expect(strictArpWarning({ kubeIpvs: true, all: { arpIgnore: 1, arpAnnounce: 2 }, interfaces: ifaces({ eth0: 0 }, 0) })).toBeUndefined();
    expect(strictArpWarning({ kubeIpvs: true, all: { arpIgnore: 0 }, interfaces: ifaces({ eth0: 2, eth1: 8 }) })).toBeUndefined();
    expect(strictArpWarning({ kubeIpvs: true, all: { arpIgnore: 0 }, interfaces: new Map() })).toBeUndefined();
  });
});
