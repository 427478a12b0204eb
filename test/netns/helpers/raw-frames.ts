/**
 * Run inside a namespace: sends raw frames on eth0 and, optionally, waits for an answer.
 *   send HEX...             sends each frame (hex), prints {"sent": n}
 *   nud VIP6 NODE_MAC       sends a unicast NS (no source link-layer option, as Linux NUD
 *                           probes do) for VIP6 to NODE_MAC and prints {"answered": bool, "mac": ...}
 */
import { AfPacketSocket } from '../../../src/netdev/afpacket-socket.js';
import { decodeEthernet, ETHERTYPE_IPV6 } from '../../../src/packet/ethernet.js';
import { decodeIpv6 } from '../../../src/packet/ipv6.js';
import { macToString, parseMac } from '../../../src/packet/mac.js';
import { decodeNdp, neighborSolicitationFrame } from '../../../src/packet/ndp.js';
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

const [cmd, ...args] = process.argv.slice(2);
const sock = AfPacketSocket.open('eth0');
const mac = parseMac(readFileSync('/sys/class/net/eth0/address', 'utf8').trim())!;

if (cmd === 'send') {
  for (const hex of args) sock.send(Buffer.from(hex, 'hex'));
  process.stdout.write(JSON.stringify({ sent: args.length }) + '\n');
  sock.close();
} else if (cmd === 'nud') {
  const vip = Uint8Array.from(ipaddr.parse(args[0]!).toByteArray());
  const src = Uint8Array.from(ipaddr.parse(args[2] ?? '2001:db8:77::2').toByteArray());
  const timer = setTimeout(() => {
    process.stdout.write(JSON.stringify({ answered: false }) + '\n');
    sock.close();
  }, 2000);
  sock.onFrame((f) => {
    const e = decodeEthernet(f);
    if (!e.ok || e.value.etherType !== ETHERTYPE_IPV6) return;
    const ip = decodeIpv6(e.value.payload);
    if (!ip.ok) return;
    const n = decodeNdp(ip.value, ip.value.payload);
    if (n.ok && n.value.kind === 'na' && Buffer.compare(n.value.target, vip) === 0) {
      clearTimeout(timer);
      process.stdout.write(JSON.stringify({ answered: true, mac: macToString(e.value.src), solicited: n.value.solicited }) + '\n');
      sock.close();
    }
  });
  sock.send(neighborSolicitationFrame({ srcMac: mac, srcIp: src, target: vip, dstIp: vip, dstMac: parseMac(args[1]!)!, options: new Uint8Array(0) }));
} else {
  process.stderr.write('usage: raw-frames send HEX... | nud VIP6 NODE_MAC [SRC6]\n');
  process.exit(2);
}
