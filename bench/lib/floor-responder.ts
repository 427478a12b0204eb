/**
 * The least a Node.js ARP responder can do, as a baseline for bench/arp.ts: the same native
 * AF_PACKET socket and kernel filter as l2vip (so it wakes for the same frames), a check of the
 * operation and target IP, and a reply made by patching three fields of a prepared frame. No
 * decoding, no validation, no counters: it is not a responder to use, only the floor under which
 * no Node responder's latency can go on this machine.
 *
 *   ip netns exec NS node --import tsx bench/lib/floor-responder.ts --iface eth0 --ip IP --mac IFACE_MAC
 *
 * Prints {"event":"ready"} once listening; runs until SIGTERM.
 */
import { parseArgs } from 'node:util';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { AfPacketSocket } from '../../src/netdev/afpacket-socket.js';
import { arpAndNdpFilter } from '../../src/netdev/bpf.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, arpFrame } from '../../src/packet/arp.js';
import { ETHERTYPE_ARP } from '../../src/packet/ethernet.js';
import { parseMac } from '../../src/packet/mac.js';

// Untagged Ethernet + ARP (RFC 826): ethertype at 12, operation at 14+6, sender MAC/IP at
// 14+8/14+14, target MAC/IP at 14+18/14+24.
const OFFSET_ETHERTYPE = 12;
const OFFSET_OP = 20;
const OFFSET_SENDER_MAC = 22;
const OFFSET_SENDER_IP = 28;
const OFFSET_TARGET_MAC = 32;
const OFFSET_TARGET_IP = 38;

const { values } = parseArgs({ options: { iface: { type: 'string', default: 'eth0' }, ip: { type: 'string' }, mac: { type: 'string' } } });
const ip = toOwnedIp(values.ip ?? '');
const mac = parseMac(values.mac ?? '');
if (ip?.family !== 4 || mac === undefined) throw new Error('usage: floor-responder.ts --iface IFACE --ip IPV4 --mac IFACE_MAC');
const ipU32 = ((ip.bytes[0]! << 24) | (ip.bytes[1]! << 16) | (ip.bytes[2]! << 8) | ip.bytes[3]!) >>> 0;

const socket = AfPacketSocket.open(values.iface, { filter: arpAndNdpFilter() });
// A reply with our MAC and IP as sender; destination and target are patched per request.
const reply = arpFrame({ op: ARP_OP_REPLY, senderMac: mac, senderIp: ip.bytes, targetMac: new Uint8Array(6), targetIp: new Uint8Array(4) }, { dst: new Uint8Array(6), src: mac });
socket.onFrame((f) => {
  if (f.length < 42 || f[OFFSET_ETHERTYPE] !== ETHERTYPE_ARP >> 8 || f[OFFSET_ETHERTYPE + 1] !== (ETHERTYPE_ARP & 0xff)) return;
  if (f[OFFSET_OP] !== 0 || f[OFFSET_OP + 1] !== ARP_OP_REQUEST) return;
  if ((((f[OFFSET_TARGET_IP]! << 24) | (f[OFFSET_TARGET_IP + 1]! << 16) | (f[OFFSET_TARGET_IP + 2]! << 8) | f[OFFSET_TARGET_IP + 3]!) >>> 0) !== ipU32) return;
  reply.set(f.subarray(OFFSET_SENDER_MAC, OFFSET_SENDER_MAC + 6), 0);
  reply.set(f.subarray(OFFSET_SENDER_MAC, OFFSET_SENDER_MAC + 6), OFFSET_TARGET_MAC);
  reply.set(f.subarray(OFFSET_SENDER_IP, OFFSET_SENDER_IP + 4), OFFSET_TARGET_IP);
  socket.send(reply);
});
process.once('SIGTERM', () => socket.close());
process.stdout.write('{"event":"ready"}\n');
