import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import {
  compileExcludeList,
  DEFAULT_EXCLUDE_PATTERNS,
  excludedBy,
  ineligibilityMessage,
  ineligibilityReason,
  isEligible,
  structuralIneligibility,
} from './eligibility.js';
import type { NetInterface } from './interface-table.js';

const flags = { up: true, broadcast: true, loopback: false, pointToPoint: false, running: true, noarp: false, multicast: true, lowerUp: true };
const iface = (over: Partial<NetInterface> & { name: string }, flagOver: Partial<typeof flags> = {}): NetInterface => ({
  index: 2,
  mac: Uint8Array.of(2, 0, 0, 0, 0, 1),
  linkType: 1,
  operState: 'up',
  mtu: 1500,
  master: null,
  kind: null,
  addresses: [{ family: 6, address: 'fe80::1', prefixLength: 64, linkLocal: true, tentative: false, dadFailed: false }],
  ...over,
  flags: { ...flags, ...flagOver },
});

const defaults = { exclude: compileExcludeList() };

describe('interface eligibility', () => {
  it('accepts an up Ethernet interface for ARP and, with a link-local address, for NDP', () => {
    expect(isEligible(iface({ name: 'eth0' }), 'arp', defaults)).toBe(true);
    expect(isEligible(iface({ name: 'eth0' }), 'ndp', defaults)).toBe(true);
    expect(ineligibilityReason(iface({ name: 'eth0', addresses: [] }), 'ndp', defaults)).toBe('it has no IPv6 link-local address');
    expect(isEligible(iface({ name: 'eth0', addresses: [] }), 'arp', defaults)).toBe(true);
  });

  it('rejects down, NOARP and non-broadcast interfaces', () => {
    expect(ineligibilityReason(iface({ name: 'eth0' }, { up: false }), 'arp', defaults)).toBe('it is down');
    expect(ineligibilityReason(iface({ name: 'eth0' }, { noarp: true }), 'arp', defaults)).toBe('it has the NOARP flag');
    expect(ineligibilityReason(iface({ name: 'eth0' }, { noarp: true }), 'ndp', defaults)).toBe('it has the NOARP flag');
    expect(ineligibilityReason(iface({ name: 'wg0' }, { broadcast: false, pointToPoint: true }), 'arp', defaults)).toMatch(/no BROADCAST flag/);
  });

  it('rejects interfaces with a master, naming it', () => {
    const masters: Record<number, NetInterface> = {
      5: iface({ name: 'br0', index: 5, kind: 'bridge' }),
      6: iface({ name: 'bond0', index: 6, kind: 'bond' }),
      7: iface({ name: 'vrf-blue', index: 7, kind: 'vrf' }),
    };
    const lookup = (i: number) => masters[i];
    const port = iface({ name: 'eth0', master: 5 });
    expect(structuralIneligibility(port, 'arp', lookup)).toBe('it is a bridge port (master br0)');
    expect(ineligibilityMessage(port, 'arp', structuralIneligibility(port, 'arp', lookup)!)).toBe(
      'interface eth0 is not eligible for ARP: it is a bridge port (master br0)',
    );
    expect(structuralIneligibility(iface({ name: 'eth1', master: 6 }), 'arp', lookup)).toBe('it is a bond member (master bond0)');
    expect(structuralIneligibility(iface({ name: 'eth2', master: 7 }), 'ndp', lookup)).toBe('it is enslaved to vrf-blue (a vrf)');
    expect(structuralIneligibility(iface({ name: 'eth3', master: 9 }), 'arp')).toBe('it is enslaved to ifindex 9');
  });

  it('applies the default exclude list as MetalLB does: unanchored alternation of the patterns', () => {
    const list = compileExcludeList();
    expect(list.regex!.source).toBe(DEFAULT_EXCLUDE_PATTERNS.map((p) => `(${p})`).join('|'));
    for (const name of ['docker0', 'cbr0', 'dummy1', 'virbr0', 'lxcbr0', 'veth1234', 'lo', 'cali12ab', 'tunl0', 'flannel.1', 'kube-ipvs0', 'cni0', 'nodelocaldns', 'lxc12', 'vxlan.calico', 'vxlan-v6.calico']) {
      expect(excludedBy(name, list), name).toBeDefined();
    }
    for (const name of ['eth0', 'ens3', 'bond0', 'br0', 'eth0.10', 'loop', 'my-veth', 'enp0s31f6']) {
      expect(excludedBy(name, list), name).toBeUndefined();
    }
    expect(ineligibilityReason(iface({ name: 'veth0' }), 'arp', defaults)).toBe('its name matches the exclude pattern ^veth.*');
  });

  it('keeps the name rule apart: exclude null admits an excluded name but not a structural failure', () => {
    expect(isEligible(iface({ name: 'veth0' }), 'arp', { exclude: null })).toBe(true);
    expect(ineligibilityReason(iface({ name: 'veth0', master: 3 }), 'arp', { exclude: null })).toBe('it is enslaved to ifindex 3');
    expect(structuralIneligibility(iface({ name: 'veth0' }), 'arp')).toBeUndefined();
  });

  it('takes custom patterns, unanchored unless anchored; an empty list excludes nothing', () => {
    const list = compileExcludeList(['ens', '^eth1$']);
    expect(excludedBy('myens3', list)).toBe('ens');
    expect(excludedBy('eth1', list)).toBe('^eth1$');
    expect(excludedBy('eth10', list)).toBeUndefined();
    expect(excludedBy('docker0', compileExcludeList([]))).toBeUndefined();
  });

  it('rejects an invalid pattern with a ConfigError naming it', () => {
    expect(() => compileExcludeList(['^eth(', 'ok'])).toThrow(ConfigError);
    expect(() => compileExcludeList(['^eth('])).toThrow(/"\^eth\(" is not a valid regular expression/);
  });
});
