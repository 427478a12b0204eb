/**
 * The measuring client of bench/arp.ts, run in the client namespace:
 *
 *   ip netns exec NS node --import tsx bench/lib/arp-client.ts --iface eth0 --ip 198.51.100.1
 *
 * It opens an AF_PACKET socket on the interface (so requests and replies skip this namespace's
 * IP stack and neighbour cache), then runs the commands of bench/lib/arp-client-protocol.ts read
 * from stdin and prints their results on stdout.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { toOwnedIp } from '../../src/announcer/owned-ips.js';
import { AfPacketSocket } from '../../src/netdev/afpacket-socket.js';
import { ARP_OP_REQUEST, arpFrame } from '../../src/packet/arp.js';
import { ETHERTYPE_ARP } from '../../src/packet/ethernet.js';
import { BROADCAST_MAC, parseMac } from '../../src/packet/mac.js';
import type { ClientCommand, ClientEvent, FloodCommand, LatencyCommand } from './arp-client-protocol.js';
import { ARP_REPLY_FILTER, OFFSET_SENDER_IP, OFFSET_TARGET_MAC, OFFSET_TARGET_IP } from './arp-reply-filter.js';


function emit(e: ClientEvent): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

function ipv4(text: string): Uint8Array {
  const ip = toOwnedIp(text);
  if (ip?.family !== 4) throw new Error(`"${text}" is not an IPv4 address`);
  return ip.bytes;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function sameMac(b: Uint8Array, at: number, mac: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (b[at + i] !== mac[i]) return false;
  return true;
}

class ArpClient {
  private handler: (frame: Uint8Array, at: bigint) => void = () => {};

  constructor(
    private readonly socket: AfPacketSocket,
    private readonly mac: Uint8Array,
    private readonly ip: Uint8Array,
  ) {
    socket.onFrame((frame) => this.handler(frame, process.hrtime.bigint()));
  }

  private request(senderIp: Uint8Array, target: Uint8Array): Uint8Array {
    return arpFrame({ op: ARP_OP_REQUEST, senderMac: this.mac, senderIp, targetMac: new Uint8Array(6), targetIp: target }, { dst: BROADCAST_MAC });
  }

  /**
   * The sender IP of each request is a tag, one of 64 addresses from .64 of the client's /24, so a
   * reply (its target IP) names the request it answers and a late reply to a timed-out request
   * is never taken for the next one. The node's kernel keeps a neighbour entry per tag; the
   * warm-up creates them, so measured requests only refresh them.
   */
  async latency(cmd: LatencyCommand): Promise<void> {
    const targets = cmd.targets.map(ipv4);
    const tags = Array.from({ length: 64 }, (_, i) => Uint8Array.from([this.ip[0]!, this.ip[1]!, this.ip[2]!, 64 + i]));
    const samples: Record<string, (number | null)[]> = Object.fromEntries(cmd.targets.map((t) => [t, []]));
    let waiting: { target: number; tag: number; sentAt: bigint; done: (rttUs: number | null) => void } | undefined;
    this.handler = (f, at) => {
      const w = waiting;
      if (w === undefined || f.length < 42) return;
      if (!sameMac(f, 0, this.mac) || !sameMac(f, OFFSET_TARGET_MAC, this.mac)) return;
      if (u32(f, OFFSET_SENDER_IP) !== w.target || u32(f, OFFSET_TARGET_IP) !== w.tag) return;
      waiting = undefined;
      w.done(Number(at - w.sentAt) / 1000);
    };
    const total = (cmd.warmup + cmd.count) * targets.length;
    for (let i = 0; i < total; i++) {
      const t = i % targets.length;
      const tag = tags[i % tags.length]!;
      const frame = this.request(tag, targets[t]!);
      const rtt = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          waiting = undefined;
          resolve(null);
        }, cmd.timeoutMs);
        waiting = {
          target: u32(targets[t]!, 0),
          tag: u32(tag, 0),
          sentAt: process.hrtime.bigint(),
          done: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        };
        this.socket.send(frame);
      });
      if (i >= cmd.warmup * targets.length) samples[cmd.targets[t]!]!.push(rtt);
      if (cmd.gapMs > 0) await sleep(cmd.gapMs);
    }
    this.handler = () => {};
    emit({ event: 'latency', samples });
  }

  /**
   * Sends `rate` requests per second for `durationMs`: on each timer tick (about every ms) as
   * many as are due by then, so the average rate is exact even when ticks are late; a tick
   * after a long stall sends at most 10 ms worth, so a descheduled client does not turn into a
   * burst that no receiver could queue.
   */
  async flood(cmd: FloodCommand): Promise<void> {
    const target = ipv4(cmd.target);
    const want = u32(target, 0);
    const frame = this.request(this.ip, target);
    let replies = 0;
    this.handler = (f) => {
      if (f.length >= 42 && u32(f, OFFSET_SENDER_IP) === want && sameMac(f, 0, this.mac)) replies++;
    };
    const total = Math.round((cmd.rate * cmd.durationMs) / 1000);
    const maxBatch = Math.max(1, Math.ceil(cmd.rate / 100));
    let sent = 0;
    let biggest = 0;
    emit({ event: 'flood-start' });
    const start = process.hrtime.bigint();
    let last = start;
    while (sent < total) {
      const now = process.hrtime.bigint();
      const due = Math.min(total, Math.floor((cmd.rate * Number(now - start)) / 1e9));
      const batch = Math.min(maxBatch, due - sent);
      for (let i = 0; i < batch; i++) this.socket.send(frame);
      if (batch > 0) last = process.hrtime.bigint();
      sent += Math.max(0, batch);
      biggest = Math.max(biggest, batch);
      if (sent < total) await sleep(1);
    }
    emit({ event: 'flood-sent', sent, elapsedMs: Number(last - start) / 1e6, maxBatch: biggest });
    await sleep(cmd.drainMs);
    this.handler = () => {};
    emit({ event: 'flood-done', sent, replies });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { iface: { type: 'string', default: 'eth0' }, ip: { type: 'string' }, mac: { type: 'string' } } });
  if (values.ip === undefined || values.mac === undefined) throw new Error('usage: arp-client.ts --iface IFACE --ip SENDER_IP --mac IFACE_MAC');
  const mac = parseMac(values.mac);
  if (mac === undefined) throw new Error(`"${values.mac}" is not a MAC address`);
  const socket = AfPacketSocket.open(values.iface, { protocol: ETHERTYPE_ARP, filter: ARP_REPLY_FILTER });
  const client = new ArpClient(socket, mac, ipv4(values.ip));
  emit({ event: 'ready', mac: values.mac });
  try {
    for await (const line of createInterface({ input: process.stdin })) {
      if (line.trim() === '') continue;
      const cmd = JSON.parse(line) as ClientCommand;
      if (cmd.cmd === 'quit') break;
      if (cmd.cmd === 'latency') await client.latency(cmd);
      else await client.flood(cmd);
    }
  } finally {
    socket.close();
  }
}

main().catch((err: unknown) => {
  emit({ event: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
});
