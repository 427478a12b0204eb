/**
 * The client of bench/vips.ts (and test/netns/many-vips.test.ts), run in the client namespace:
 *
 *   ip netns exec NS node --import tsx bench/lib/vip-watch.ts --ip 198.51.100.2 --mac MAC \
 *     --interval 20 --watch 198.18.0.1,198.18.39.250
 *
 * Over an AF_PACKET socket (no IP stack, no neighbour cache in the way) it sends an ARP request
 * for each watched VIP every `interval` ms and prints, one JSON line each, every probe sent and
 * every ARP frame whose sender is a watched VIP: replies to its probes and gratuitous
 * announcements (broadcast replies), with the sender MAC, i.e. what a client's neighbour cache
 * would learn. Times are ms since the epoch (performance.timeOrigin + now()).
 *
 * stdin commands (one JSON line each): `{"cmd":"sweep","ips":[...],"perMs":5}` sends one request
 * to each IP, `perMs` per millisecond, waits 500 ms for replies, and prints
 * `{"e":"sweep","answered":N,"byMac":{MAC:N}}`; `{"cmd":"quit"}`.
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { AfPacketSocket } from '../../src/netdev/afpacket-socket.js';
import { ARP_OP_REQUEST, arpFrame } from '../../src/packet/arp.js';
import { ETHERTYPE_ARP } from '../../src/packet/ethernet.js';
import { BROADCAST_MAC, macToString, parseMac } from '../../src/packet/mac.js';
import { ARP_REPLY_FILTER, OFFSET_SENDER_MAC, OFFSET_SENDER_IP } from './arp-reply-filter.js';


/** A probe sent. */
export interface ProbeLine {
  readonly e: 'probe';
  readonly ip: string;
  readonly at: number;
}

/** An ARP reply from a watched VIP: to our probe (`garp` false) or broadcast (a gratuitous announcement). */
export interface ReplyLine {
  readonly e: 'reply';
  readonly ip: string;
  readonly mac: string;
  readonly at: number;
  readonly garp: boolean;
}

export interface SweepLine {
  readonly e: 'sweep';
  readonly answered: number;
  readonly byMac: Record<string, number>;
}

export type WatchLine = { readonly e: 'ready' } | ProbeLine | ReplyLine | SweepLine | { readonly e: 'error'; readonly message: string };

function now(): number {
  return performance.timeOrigin + performance.now();
}

function emit(l: WatchLine): void {
  process.stdout.write(`${JSON.stringify(l)}\n`);
}

function ipv4(text: string): Uint8Array {
  const ip = toOwnedIp(text);
  if (ip?.family !== 4) throw new Error(`"${text}" is not an IPv4 address`);
  return ip.bytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { iface: { type: 'string', default: 'eth0' }, ip: { type: 'string' }, mac: { type: 'string' }, interval: { type: 'string', default: '20' }, watch: { type: 'string' } },
  });
  const mac = values.mac === undefined ? undefined : parseMac(values.mac);
  if (values.ip === undefined || mac === undefined || values.watch === undefined) throw new Error('usage: vip-watch.ts --ip SENDER_IP --mac IFACE_MAC --watch IP,IP [--interval MS]');
  const self = ipv4(values.ip);
  const watched = values.watch.split(',');
  const frames = watched.map((t) => arpFrame({ op: ARP_OP_REQUEST, senderMac: mac, senderIp: self, targetMac: new Uint8Array(6), targetIp: ipv4(t) }, { dst: BROADCAST_MAC }));
  const names = new Set(watched);
  let sweep: { answered: Map<string, string> } | undefined;
  const socket = AfPacketSocket.open(values.iface, { protocol: ETHERTYPE_ARP, filter: ARP_REPLY_FILTER });
  socket.onFrame((f) => {
    if (f.length < 42) return;
    const at = now();
    const ip = `${f[OFFSET_SENDER_IP]}.${f[OFFSET_SENDER_IP + 1]}.${f[OFFSET_SENDER_IP + 2]}.${f[OFFSET_SENDER_IP + 3]}`;
    const sender = macToString(f.subarray(OFFSET_SENDER_MAC, OFFSET_SENDER_MAC + 6));
    const toUs = macToString(f.subarray(0, 6)) === values.mac;
    if (sweep !== undefined && toUs && !sweep.answered.has(ip)) sweep.answered.set(ip, sender);
    if (names.has(ip)) emit({ e: 'reply', ip, mac: sender, at, garp: !toUs });
  });
  const interval = Number(values.interval);
  let stopped = false;
  const probing = (async () => {
    let next = now();
    while (!stopped) {
      for (let i = 0; i < frames.length; i++) {
        emit({ e: 'probe', ip: watched[i]!, at: now() });
        socket.send(frames[i]!);
      }
      next += interval;
      // A late tick does not send a burst: probes stay `interval` apart at least.
      if (next < now()) next = now();
      await sleep(next - now());
    }
  })();
  emit({ e: 'ready' });
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      if (line.trim() === '') continue;
      const cmd = JSON.parse(line) as { cmd: 'quit' } | { cmd: 'sweep'; ips: string[]; perMs: number };
      if (cmd.cmd === 'quit') break;
      sweep = { answered: new Map() };
      const ips = cmd.ips;
      for (let i = 0; i < ips.length; i += cmd.perMs) {
        for (const t of ips.slice(i, i + cmd.perMs)) {
          socket.send(arpFrame({ op: ARP_OP_REQUEST, senderMac: mac, senderIp: self, targetMac: new Uint8Array(6), targetIp: ipv4(t) }, { dst: BROADCAST_MAC }));
        }
        await sleep(1);
      }
      await sleep(500);
      const byMac: Record<string, number> = {};
      for (const m of sweep.answered.values()) byMac[m] = (byMac[m] ?? 0) + 1;
      emit({ e: 'sweep', answered: sweep.answered.size, byMac });
      sweep = undefined;
    }
  } finally {
    stopped = true;
    await probing;
    socket.close();
  }
}

main().catch((err: unknown) => {
  emit({ e: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
});
