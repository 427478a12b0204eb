import { describe, expect, it } from 'vitest';
import { InterfaceTable, type TableEvent } from './interface-table.js';
import { AF_BRIDGE, AF_INET, AF_INET6, type AddrMessage, type LinkMessage, type RtnlMessage } from './rtnetlink-codec.js';

// linux/if.h
const UP_ETH = 0x1 | 0x2 | 0x40 | 0x1000 | 0x10000; // UP BROADCAST RUNNING MULTICAST LOWER_UP

const hdr = { type: 0, flags: 0, seq: 0, pid: 0 };
const link = (index: number, name: string, extra: Partial<LinkMessage> = {}): LinkMessage => ({
  family: 0, type: 1, index, flags: UP_ETH, change: 0, name, address: Uint8Array.of(2, 0, 0, 0, 0, index), mtu: 1500, operstate: 6, ...extra,
});
const newlink = (l: LinkMessage): RtnlMessage => ({ kind: 'newlink', header: hdr, link: l });
const dellink = (l: LinkMessage): RtnlMessage => ({ kind: 'dellink', header: hdr, link: l });
const v4 = (index: number, a: number[], prefixLength = 24): AddrMessage => ({ family: AF_INET, prefixLength, flags: 0x80, scope: 0, index, local: Uint8Array.from(a), address: Uint8Array.from(a) });
const v6 = (index: number, a: number[], flags = 0x80): AddrMessage => ({ family: AF_INET6, prefixLength: 64, flags, scope: 253, index, address: Uint8Array.from(a) });
const LL = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const newaddr = (a: AddrMessage): RtnlMessage => ({ kind: 'newaddr', header: hdr, addr: a });
const deladdr = (a: AddrMessage): RtnlMessage => ({ kind: 'deladdr', header: hdr, addr: a });

const summary = (events: TableEvent[]) =>
  events.map((e) => (e.kind === 'link' ? `link ${e.event.type} ${e.event.iface.name}` : `address ${e.event.type} ${e.event.address.address}/${e.event.address.prefixLength} on ${e.event.iface.name}`));

describe('InterfaceTable', () => {
  it('builds interfaces with flags, master, kind and addresses', () => {
    const t = new InterfaceTable();
    t.apply(newlink(link(2, 'br0', { kind: 'bridge' })));
    t.apply(newlink(link(3, 'eth0', { master: 2, flags: UP_ETH & ~0x10000, operstate: 2 })));
    t.apply(newaddr(v4(3, [10, 0, 0, 1])));
    t.apply(newaddr(v6(3, LL, 0x80 | 0x40)));
    t.apply(newaddr(v4(3, [169, 254, 1, 1], 16)));
    expect(t.get(3)).toMatchObject({
      index: 3,
      name: 'eth0',
      linkType: 1,
      master: 2,
      kind: null,
      operState: 'down',
      flags: { up: true, broadcast: true, running: true, noarp: false, lowerUp: false, loopback: false },
      addresses: [
        { family: 4, address: '10.0.0.1', prefixLength: 24, linkLocal: false },
        { family: 6, address: 'fe80::1', prefixLength: 64, linkLocal: true, tentative: true, dadFailed: false },
        { family: 4, address: '169.254.1.1', prefixLength: 16, linkLocal: true },
      ],
    });
    expect(t.byName('br0')?.kind).toBe('bridge');
    expect(t.list().map((i) => i.index)).toEqual([2, 3]);
  });

  it('reports added, changed and removed links, and only real changes', () => {
    const t = new InterfaceTable();
    expect(summary(t.apply(newlink(link(2, 'eth0'))))).toEqual(['link added eth0']);
    expect(t.apply(newlink(link(2, 'eth0')))).toEqual([]);
    const down = t.apply(newlink(link(2, 'eth0', { flags: UP_ETH & ~0x10000 })));
    expect(summary(down)).toEqual(['link changed eth0']);
    const e = down[0]!;
    expect(e.kind === 'link' && e.event.type === 'changed' && [e.event.previous.flags.lowerUp, e.event.iface.flags.lowerUp]).toEqual([true, false]);
    t.apply(newaddr(v4(2, [10, 0, 0, 1])));
    expect(summary(t.apply(dellink(link(2, 'eth0'))))).toEqual(['address removed 10.0.0.1/24 on eth0', 'link removed eth0']);
    expect(t.get(2)).toBeUndefined();
  });

  it('ignores AF_BRIDGE link messages, which describe bridge ports', () => {
    const t = new InterfaceTable();
    t.apply(newlink(link(3, 'eth0')));
    expect(t.apply(dellink(link(3, 'eth0', { family: AF_BRIDGE })))).toEqual([]);
    expect(t.apply(newlink(link(3, 'eth0', { family: AF_BRIDGE, flags: 0 })))).toEqual([]);
    expect(t.get(3)?.flags.up).toBe(true);
  });

  it('reports address changes: added, changed when DAD finishes, removed; the same prefix twice is one address', () => {
    const t = new InterfaceTable();
    t.apply(newlink(link(2, 'eth0')));
    expect(summary(t.apply(newaddr(v6(2, LL, 0x40))))).toEqual(['address added fe80::1/64 on eth0']);
    expect(t.apply(newaddr(v6(2, LL, 0x40)))).toEqual([]);
    expect(summary(t.apply(newaddr(v6(2, LL, 0x80))))).toEqual(['address changed fe80::1/64 on eth0']);
    expect(summary(t.apply(newaddr(v4(2, [10, 0, 0, 1], 16))))).toEqual(['address added 10.0.0.1/16 on eth0']);
    expect(summary(t.apply(newaddr(v4(2, [10, 0, 0, 1], 24))))).toEqual(['address added 10.0.0.1/24 on eth0']);
    expect(summary(t.apply(deladdr(v4(2, [10, 0, 0, 1], 16))))).toEqual(['address removed 10.0.0.1/16 on eth0']);
    expect(t.apply(deladdr(v4(2, [10, 0, 0, 9])))).toEqual([]);
    expect(t.get(2)?.addresses.map((a) => a.address)).toEqual(['fe80::1', '10.0.0.1']);
  });

  it('keeps addresses that arrive before their link and shows them with it', () => {
    const t = new InterfaceTable();
    expect(t.apply(newaddr(v4(5, [10, 0, 0, 5])))).toEqual([]);
    t.apply(newlink(link(5, 'eth5')));
    expect(t.get(5)?.addresses.map((a) => a.address)).toEqual(['10.0.0.5']);
  });

  it('replaceWith reports the difference between two snapshots', () => {
    const before = new InterfaceTable();
    for (const m of [newlink(link(2, 'eth0')), newlink(link(3, 'eth1')), newaddr(v4(2, [10, 0, 0, 1])), newaddr(v4(3, [10, 1, 0, 1]))]) before.apply(m);
    const after = new InterfaceTable();
    for (const m of [newlink(link(2, 'eth0', { flags: 0x2 })), newlink(link(4, 'eth2')), newaddr(v4(2, [10, 0, 0, 2]))]) after.apply(m);
    expect(summary(before.replaceWith(after))).toEqual([
      'address removed 10.1.0.1/24 on eth1',
      'link removed eth1',
      'link changed eth0',
      'link added eth2',
      'address removed 10.0.0.1/24 on eth0',
      'address added 10.0.0.2/24 on eth0',
    ]);
    expect(before.list()).toEqual(after.list());
  });

  it('skips addresses it cannot read', () => {
    const t = new InterfaceTable();
    t.apply(newlink(link(2, 'eth0')));
    expect(t.apply(newaddr({ ...v4(2, [10, 0, 0, 1]), local: Uint8Array.of(1, 2), address: undefined }))).toEqual([]);
    expect(t.apply(newaddr({ ...v4(2, [10, 0, 0, 1]), family: 99 }))).toEqual([]);
    expect(t.apply(newaddr({ ...v4(2, [10, 0, 0, 1]), prefixLength: 33 }))).toEqual([]);
  });
});
