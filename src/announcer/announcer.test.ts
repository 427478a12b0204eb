import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { silentLogger } from '../observability/logger.js';
import { arpFrame, decodeArp, type ArpPacket } from '../packet/arp.js';
import { decodeEthernet, ETHERTYPE_ARP } from '../packet/ethernet.js';
import { decodeIpv6 } from '../packet/ipv6.js';
import { BROADCAST_MAC, macToString, parseMac } from '../packet/mac.js';
import { decodeNdp, neighborSolicitationFrame } from '../packet/ndp.js';
import { MemoryLan, type MemoryFrameSocket } from '../../test/fakes/memory-lan.js';
import { Announcer } from './announcer.js';
import { toOwnedIp } from './owned-ips.js';

const NODE_MAC = parseMac('02:00:00:00:00:01')!;
const NODE_MAC2 = parseMac('02:00:00:00:00:02')!;
const CLIENT_MAC = parseMac('02:00:00:00:00:99')!;
const ip4 = (s: string) => toOwnedIp(s)!.bytes;

function setup() {
  const clock = new VirtualClock();
  const lans = { eth0: new MemoryLan(), eth1: new MemoryLan() };
  const ifaces = {
    eth0: { name: 'eth0', ifindex: 2, mac: NODE_MAC },
    eth1: { name: 'eth1', ifindex: 3, mac: NODE_MAC2 },
  };
  const nodeSockets = new Map<string, MemoryFrameSocket>();
  const a = new Announcer({
    clock,
    logger: silentLogger(),
    resolveInterface: (n) => ifaces[n as keyof typeof ifaces],
    openSocket: (i) => {
      const s = lans[i.name as keyof typeof lans].socket(i.ifindex);
      nodeSockets.set(i.name, s);
      return s;
    },
  });
  const client = { eth0: lans.eth0.socket(), eth1: lans.eth1.socket() };
  const received: Uint8Array[] = [];
  client.eth0.onFrame((f) => received.push(f));
  return { clock, a, client, received, lans, nodeSockets };
}

function arpRequest(target: string, dst = BROADCAST_MAC, op: 1 | 2 = 1): Uint8Array {
  const p: ArpPacket = { op, senderMac: CLIENT_MAC, senderIp: ip4('192.0.2.99'), targetMac: new Uint8Array(6), targetIp: ip4(target) };
  return arpFrame(p, { dst });
}

function arps(frames: Uint8Array[]) {
  return frames.flatMap((f) => {
    const e = decodeEthernet(f);
    if (!e.ok || e.value.etherType !== ETHERTYPE_ARP) return [];
    const a = decodeArp(e.value.payload);
    return a.ok ? [{ eth: e.value, arp: a.value }] : [];
  });
}

function nas(frames: Uint8Array[]) {
  return frames.flatMap((f) => {
    const e = decodeEthernet(f);
    if (!e.ok) return [];
    const ip = decodeIpv6(e.value.payload);
    if (!ip.ok) return [];
    const n = decodeNdp(ip.value, ip.value.payload);
    return n.ok && n.value.kind === 'na' ? [{ eth: e.value, ip: ip.value, na: n.value }] : [];
  });
}

const owned = (entries: [string, string[]][]) => new Map(entries.map(([ip, i]) => [ip, new Set(i)]));

describe('ARP responder', () => {
  it('answers a broadcast request for an owned IP with a unicast reply carrying the interface MAC', () => {
    const { a, client, received, clock } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    clock.advance(10_000);
    received.length = 0;
    client.eth0.send(arpRequest('192.0.2.10'));
    const r = arps(received);
    expect(r).toHaveLength(1);
    expect(r[0]!.arp.op).toBe(2);
    expect(macToString(r[0]!.arp.senderMac)).toBe('02:00:00:00:00:01');
    expect(macToString(r[0]!.eth.dst)).toBe(macToString(CLIENT_MAC));
    expect([...r[0]!.arp.senderIp]).toEqual([192, 0, 2, 10]);
    expect(a.stats.ip('192.0.2.10')).toMatchObject({ requestsReceived: 1, responsesSent: 1 });
  });

  it('answers a request sent to its own MAC, but not one sent to another unicast MAC', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    received.length = 0;
    client.eth0.send(arpRequest('192.0.2.10', NODE_MAC));
    client.eth0.send(arpRequest('192.0.2.10', parseMac('02:00:00:00:00:77')));
    expect(arps(received)).toHaveLength(1);
    expect(a.stats.drops.get('wrong-destination')).toBe(1);
  });

  it('ignores requests for IPs it does not announce, and replies', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    received.length = 0;
    client.eth0.send(arpRequest('192.0.2.11'));
    client.eth0.send(arpRequest('192.0.2.10', BROADCAST_MAC, 2));
    expect(arps(received)).toHaveLength(0);
    expect(a.stats.drops.get('not-ours')).toBe(1);
    expect(a.stats.drops.get('not-request')).toBe(1);
  });

  it('ignores requests for IPs announced on another interface', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth1']]]));
    a.prepare(['eth0']);
    received.length = 0;
    client.eth0.send(arpRequest('192.0.2.10'));
    expect(arps(received)).toHaveLength(0);
    expect(a.stats.drops.get('wrong-interface')).toBe(1);
  });

  it('stops answering at once when the IP is lost', () => {
    const { a, client, received, clock } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    a.setOwned(new Map());
    clock.advance(100_000);
    received.length = 0;
    client.eth0.send(arpRequest('192.0.2.10'));
    expect(received).toHaveLength(0);
  });

  it('counts malformed frames by reason and keeps going', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    received.length = 0;
    const good = arpRequest('192.0.2.10');
    client.eth0.send(good.subarray(0, 20));
    const badHlen = Uint8Array.from(good);
    badHlen[14 + 4] = 8;
    client.eth0.send(badHlen);
    client.eth0.send(new Uint8Array(3));
    client.eth0.send(good);
    expect(arps(received)).toHaveLength(1);
    expect(a.stats.totalDrops()).toBe(3);
    expect([...a.stats.drops.keys()].every((k) => k.startsWith('malformed:'))).toBe(true);
  });

  it('counts another MAC claiming an owned IP as a conflict and does not answer it', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    received.length = 0;
    const p: ArpPacket = { op: 2, senderMac: CLIENT_MAC, senderIp: ip4('192.0.2.10'), targetMac: BROADCAST_MAC, targetIp: ip4('192.0.2.10') };
    client.eth0.send(arpFrame(p));
    expect(received).toHaveLength(0);
    expect(a.stats.ip('192.0.2.10').conflicts).toBe(1);
  });
});

describe('gratuitous announcements', () => {
  it('sends an ARP request and reply at once on gain, with sender = target = VIP and broadcast target MAC', () => {
    const { a, received } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    const r = arps(received);
    expect(r.map((x) => x.arp.op)).toEqual([1, 2]);
    for (const { eth, arp } of r) {
      expect(macToString(eth.dst)).toBe('ff:ff:ff:ff:ff:ff');
      expect([...arp.senderIp]).toEqual([...arp.targetIp]);
      expect(macToString(arp.targetMac)).toBe('ff:ff:ff:ff:ff:ff');
      expect(macToString(arp.senderMac)).toBe('02:00:00:00:00:01');
    }
    expect(a.stats.ip('192.0.2.10').gratuitousSent).toBe(2);
  });

  it('repeats within 100 ms and stops repeating when the IP is lost', () => {
    const { a, received, clock } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    clock.advance(99);
    expect(arps(received)).toHaveLength(4);
    a.setOwned(new Map());
    clock.advance(100_000);
    expect(arps(received)).toHaveLength(4);
  });

  it('sends an unsolicited NA with O=1, S=0 to ff02::1 for an IPv6 VIP', () => {
    const { a, received } = setup();
    a.setOwned(owned([['2001:db8::10', ['eth0']]]));
    const n = nas(received);
    expect(n).toHaveLength(1);
    expect(n[0]!.na).toMatchObject({ solicited: false, override: true });
    expect(macToString(n[0]!.eth.dst)).toBe('33:33:00:00:00:01');
    expect(n[0]!.ip.hopLimit).toBe(255);
    expect(macToString(n[0]!.na.options.targetLinkLayerAddress!)).toBe('02:00:00:00:00:01');
  });

  it('re-announces on request (link back up)', () => {
    const { a, received, clock } = setup();
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    clock.advance(10_000);
    const before = arps(received).length;
    a.reannounce('eth0');
    expect(arps(received).length).toBe(before + 2);
  });
});

describe('NDP responder', () => {
  const vip = toOwnedIp('2001:db8::10')!.bytes;
  const clientIp = toOwnedIp('2001:db8::99')!.bytes;

  it('joins the solicited-node group and answers a multicast NS with a solicited NA', () => {
    const { a, client, received, nodeSockets } = setup();
    a.setOwned(owned([['2001:db8::10', ['eth0']]]));
    expect(nodeSockets.get('eth0')!.memberships.has('3333ff000010')).toBe(true);
    received.length = 0;
    client.eth0.send(neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: clientIp, target: vip }));
    const n = nas(received);
    expect(n).toHaveLength(1);
    expect(n[0]!.na).toMatchObject({ solicited: true, override: true });
    expect([...n[0]!.ip.dst]).toEqual([...clientIp]);
    expect(macToString(n[0]!.eth.dst)).toBe(macToString(CLIENT_MAC));
  });

  it('answers a unicast NUD probe without a source link-layer option, to the frame source MAC', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['2001:db8::10', ['eth0']]]));
    received.length = 0;
    client.eth0.send(
      neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: clientIp, target: vip, dstIp: vip, dstMac: NODE_MAC, options: new Uint8Array(0) }),
    );
    const n = nas(received);
    expect(n).toHaveLength(1);
    expect(macToString(n[0]!.eth.dst)).toBe(macToString(CLIENT_MAC));
  });

  it('defends an owned VIP against a DAD probe with an NA to all nodes', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['2001:db8::10', ['eth0']]]));
    received.length = 0;
    client.eth0.send(neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: new Uint8Array(16), target: vip }));
    const n = nas(received);
    expect(n).toHaveLength(1);
    expect(n[0]!.na.solicited).toBe(false);
    expect(macToString(n[0]!.eth.dst)).toBe('33:33:00:00:00:01');
  });

  it('drops an NS with a wrong hop limit or a bad checksum and counts it', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([['2001:db8::10', ['eth0']]]));
    received.length = 0;
    client.eth0.send(neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: clientIp, target: vip, hopLimit: 64 }));
    const bad = neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: clientIp, target: vip });
    bad[bad.length - 1]! ^= 0xff;
    client.eth0.send(bad);
    expect(nas(received)).toHaveLength(0);
    expect(a.stats.drops.get('malformed:bad-hop-limit')).toBe(1);
    expect(a.stats.drops.get('malformed:bad-checksum')).toBe(1);
  });

  it('leaves the group when the last VIP of it is withdrawn', () => {
    const { a, nodeSockets } = setup();
    a.setOwned(owned([['2001:db8::10', ['eth0']], ['2001:db8:1::10', ['eth0']]]));
    a.setOwned(owned([['2001:db8::10', ['eth0']]]));
    expect(nodeSockets.get('eth0')!.memberships.has('3333ff000010')).toBe(true);
    a.setOwned(new Map());
    expect(nodeSockets.get('eth0')!.memberships.size).toBe(0);
  });
});

describe('first gratuitous announcement of a gained IP', () => {
  it('is reported once per gain, with the canonical IP, when a frame actually went out', () => {
    const { a, clock } = setup();
    const seen: string[] = [];
    a.onFirstGratuitous((ip, iface) => seen.push(`${ip}@${iface}`));
    a.setOwned(owned([['2001:db8:0::10', ['eth0', 'eth1']]]));
    expect(seen).toEqual(['2001:db8::10@eth0']);
    clock.advance(10_000);
    expect(seen).toHaveLength(1);
    // Lost everywhere, then gained again: a new gain.
    a.setOwned(owned([]));
    a.setOwned(owned([['2001:db8::10', ['eth1']]]));
    expect(seen).toEqual(['2001:db8::10@eth0', '2001:db8::10@eth1']);
  });

  it('waits for a socket that failed to open, and reports when its first frame goes out', () => {
    const clock = new VirtualClock();
    const lan = new MemoryLan();
    let fail = true;
    const a = new Announcer({
      clock,
      logger: silentLogger(),
      resolveInterface: () => ({ name: 'eth0', ifindex: 2, mac: NODE_MAC }),
      openSocket: (i) => {
        if (fail) throw Object.assign(new Error('no'), { code: 'EPERM' });
        return lan.socket(i.ifindex);
      },
    });
    const seen: number[] = [];
    a.onFirstGratuitous(() => seen.push(clock.now()));
    a.setOwned(owned([['192.0.2.10', ['eth0']]]));
    expect(seen).toEqual([]);
    fail = false;
    clock.advance(1_000);
    expect(seen).toEqual([1_000]);
  });
});

describe('Announcer owned set', () => {
  it('tracks the interfaces of each IP through gains and losses on two interfaces (shared sets never leak a change to another IP)', () => {
    const { a, clock } = setup();
    a.setOwned(owned([['192.0.2.1', ['eth0']], ['192.0.2.2', ['eth0']]]));
    clock.advance(1);
    a.setOwned(owned([['192.0.2.1', ['eth0', 'eth1']], ['192.0.2.2', ['eth0']]]));
    clock.advance(1);
    const view = a.lookup();
    expect([...(view.get('192.0.2.1') ?? [])].sort()).toEqual(['eth0', 'eth1']);
    expect([...(view.get('192.0.2.2') ?? [])]).toEqual(['eth0']);
    a.setOwned(owned([['192.0.2.1', ['eth1']], ['192.0.2.2', ['eth0']]]));
    expect([...(view.get('192.0.2.1') ?? [])]).toEqual(['eth1']);
    expect([...(view.get('192.0.2.2') ?? [])]).toEqual(['eth0']);
    expect(new Map([...a.current()].map(([ip, set]) => [ip, [...set]]))).toEqual(new Map([['192.0.2.1', ['eth1']], ['192.0.2.2', ['eth0']]]));
    a.setOwned(owned([['192.0.2.2', ['eth0']]]));
    expect(view.has('192.0.2.1')).toBe(false);
    expect(a.unanswered()).toEqual([]);
  });
});
