import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import { silentLogger } from '../observability/logger.js';
import { arpFrame, decodeArp, type ArpPacket } from '../packet/arp.js';
import { decodeEthernet, ETHERTYPE_ARP } from '../packet/ethernet.js';
import { decodeIpv6 } from '../packet/ipv6.js';
import { BROADCAST_MAC, macToString, parseMac } from '../packet/mac.js';
import { decodeNdp, neighborSolicitationFrame, unsolicitedNeighborAdvertisementFrame } from '../packet/ndp.js';
import { MemoryLan } from '../../test/fakes/memory-lan.js';
import { Announcer } from './announcer.js';
import { toOwnedIp } from './owned-ips.js';

const NODE_MAC = parseMac('02:00:00:00:00:01')!;
const VMAC = parseMac('02:aa:bb:cc:dd:ee')!;
const CLIENT_MAC = parseMac('02:00:00:00:00:99')!;
const VIP4 = '192.0.2.10';
const VIP6 = '2001:db8::10';
const PLAIN4 = '192.0.2.11';
const bytes = (s: string) => toOwnedIp(s)!.bytes;

function setup() {
  const clock = new VirtualClock();
  const lan = new MemoryLan();
  const a = new Announcer({
    clock,
    logger: silentLogger(),
    resolveInterface: (n) => (n === 'eth0' ? { name: 'eth0', ifindex: 2, mac: NODE_MAC } : undefined),
    openSocket: (i) => lan.socket(i.ifindex),
    // VIP4 and VIP6 belong to a service with a virtual MAC; PLAIN4 to one without.
    sourceMac: (ip, iface) => (iface === 'eth0' && (ip === VIP4 || ip === VIP6) ? VMAC : undefined),
  });
  const client = lan.socket();
  const received: Uint8Array[] = [];
  client.onFrame((f) => received.push(f));
  return { a, clock, client, received };
}

const owned = (ips: string[]) => new Map(ips.map((ip) => [ip, new Set(['eth0'])]));

function arps(frames: Uint8Array[]) {
  return frames.flatMap((f) => {
    const e = decodeEthernet(f);
    if (!e.ok || e.value.etherType !== ETHERTYPE_ARP) return [];
    const d = decodeArp(e.value.payload);
    return d.ok ? [{ src: macToString(e.value.src), sender: macToString(d.value.senderMac), ip: [...d.value.senderIp].join('.'), op: d.value.op }] : [];
  });
}

function nas(frames: Uint8Array[]) {
  return frames.flatMap((f) => {
    const e = decodeEthernet(f);
    if (!e.ok) return [];
    const ip = decodeIpv6(e.value.payload);
    if (!ip.ok) return [];
    const n = decodeNdp(ip.value, ip.value.payload);
    if (!n.ok || n.value.kind !== 'na') return [];
    const tlla = n.value.options.targetLinkLayerAddress;
    return [{ src: macToString(e.value.src), tlla: tlla === undefined ? undefined : macToString(tlla), solicited: n.value.solicited }];
  });
}

function arpRequest(target: string, dst = BROADCAST_MAC): Uint8Array {
  const p: ArpPacket = { op: 1, senderMac: CLIENT_MAC, senderIp: bytes('192.0.2.99'), targetMac: new Uint8Array(6), targetIp: bytes(target) };
  return arpFrame(p, { dst });
}

describe('responder with a virtual MAC', () => {
  it('sends gratuitous ARP from the virtual MAC (Ethernet source and sender MAC); other VIPs keep the interface MAC', () => {
    const { a, received } = setup();
    a.setOwned(owned([VIP4, PLAIN4]));
    const g = arps(received);
    expect(g.filter((x) => x.ip === VIP4).every((x) => x.src === macToString(VMAC) && x.sender === macToString(VMAC))).toBe(true);
    expect(g.filter((x) => x.ip === VIP4)).toHaveLength(2);
    expect(g.filter((x) => x.ip === PLAIN4).every((x) => x.src === macToString(NODE_MAC) && x.sender === macToString(NODE_MAC))).toBe(true);
  });

  it('answers ARP requests with the virtual MAC, also a unicast request sent to the virtual MAC', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([VIP4]));
    received.length = 0;
    client.send(arpRequest(VIP4));
    client.send(arpRequest(VIP4, VMAC));
    client.send(arpRequest(PLAIN4, VMAC));
    const r = arps(received);
    expect(r).toEqual([
      { src: macToString(VMAC), sender: macToString(VMAC), ip: VIP4, op: 2 },
      { src: macToString(VMAC), sender: macToString(VMAC), ip: VIP4, op: 2 },
    ]);
    expect(a.stats.drops.get('wrong-destination')).toBe(1);
  });

  it('counts another host announcing with the same virtual MAC as a conflict (the switches moved the MAC to it: the owner defends)', () => {
    const { a, client } = setup();
    const seen: string[] = [];
    a.onConflict((ip, _iface, mac) => seen.push(`${ip} ${macToString(mac)}`));
    a.setOwned(owned([VIP4, VIP6]));
    const claim: ArpPacket = { op: 2, senderMac: VMAC, senderIp: bytes(VIP4), targetMac: BROADCAST_MAC, targetIp: bytes(VIP4) };
    client.send(arpFrame(claim));
    client.send(unsolicitedNeighborAdvertisementFrame({ srcMac: VMAC, srcIp: bytes(VIP6), target: bytes(VIP6) }));
    expect(seen).toEqual([`${VIP4} ${macToString(VMAC)}`, `${VIP6} ${macToString(VMAC)}`]);
  });

  it('answers NS and sends unsolicited NA with the virtual MAC as Ethernet source and target link-layer address', () => {
    const { a, client, received } = setup();
    a.setOwned(owned([VIP6]));
    const unsolicited = nas(received);
    expect(unsolicited.length).toBeGreaterThan(0);
    expect(unsolicited.every((n) => n.src === macToString(VMAC) && n.tlla === macToString(VMAC) && !n.solicited)).toBe(true);
    received.length = 0;
    client.send(neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: bytes('2001:db8::99'), target: bytes(VIP6) }));
    // A NUD probe unicast to the virtual MAC.
    client.send(neighborSolicitationFrame({ srcMac: CLIENT_MAC, srcIp: bytes('2001:db8::99'), target: bytes(VIP6), dstIp: bytes(VIP6), dstMac: VMAC }));
    expect(nas(received)).toEqual([
      { src: macToString(VMAC), tlla: macToString(VMAC), solicited: true },
      { src: macToString(VMAC), tlla: macToString(VMAC), solicited: true },
    ]);
  });
});
