/**
 * Fuzzes the whole responder, not only the codecs: random and mutated frames go through the
 * decoders (bench/fuzz-codecs.ts's pass) and through a real Announcer on an in-memory LAN, with
 * a virtual clock. Usage: npx tsx bench/fuzz.ts [N=1000000] [seed]
 *
 * Half the frames are fuzz-codecs' mix (valid ARP/NS/NA, noise, mutations, some with the ICMPv6
 * checksum redone); the other half are aimed at the announcer's own VIPs (bench/lib/vip-frames.ts),
 * two in five of those damaged, so that the code behind the "not ours" check runs: replies, DAD
 * defence, conflicts, wrong interface, hop limit and checksum failures. Counted: throws (must be
 * 0), replies and announcements sent (each decoded and checked: must all be valid ARP replies,
 * ARP announcements or NAs for an owned VIP from our MAC), drops per reason. Exit status 1 on any
 * throw, invalid frame sent, or counter that disagrees with the frames seen on the LAN.
 *
 * The announcer's rate is printed next to two baselines measured on the same frames: the four
 * decoders alone, and one copy per frame.
 */
import { performance } from 'node:perf_hooks';
import { Announcer } from '../src/announcer/announcer.js';
import type { InterfaceInfo } from '../src/announcer/interface-responder.js';
import { toOwnedIp } from '../src/announcer/owned-ips.js';
import { VirtualClock } from '../src/clock/virtual-clock.js';
import { silentLogger } from '../src/observability/logger.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, decodeArp } from '../src/packet/arp.js';
import { decodeEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV6 } from '../src/packet/ethernet.js';
import { decodeIpv6 } from '../src/packet/ipv6.js';
import { macEquals, parseMac } from '../src/packet/mac.js';
import { decodeNdp } from '../src/packet/ndp.js';
import { MemoryLan, type MemoryFrameSocket } from '../test/fakes/memory-lan.js';
import { decodeAll, fuzzArgs, nextFrame, printDecoderCounts, rate, type Counts, type Throws } from './fuzz-codecs.js';
import { createRng, mutateFrame, refreshChecksum, type Rng } from './fuzz-frames.js';
import { vipFrame, type VipTargets } from './lib/vip-frames.js';

/** IP -> the interfaces it is announced on. eth1 exists so that "wrong-interface" can happen. */
const OWNED: readonly (readonly [string, readonly string[]])[] = [
  ['198.51.100.10', ['eth0']],
  ['198.51.100.11', ['eth0']],
  ['198.51.100.20', ['eth0', 'eth1']],
  ['2001:db8::10', ['eth0']],
  ['fe80::10', ['eth0']],
  ['198.51.100.13', ['eth1']],
  ['2001:db8::13', ['eth1']],
];
const BATCH = 10_000;
/** Virtual time per batch: 100 batches cover the GARP burst and a few 30 s refreshes. */
const BATCH_VIRTUAL_MS = 500;

const IFACES: Record<string, InterfaceInfo> = {
  eth0: { name: 'eth0', ifindex: 2, mac: parseMac('02:00:00:00:00:01')! },
  eth1: { name: 'eth1', ifindex: 3, mac: parseMac('02:00:00:00:00:02')! },
};

function bytesOf(ip: string): Uint8Array {
  return toOwnedIp(ip)!.bytes;
}

function targets(): VipTargets {
  const on = (iface: string, family: 4 | 6): Uint8Array[] =>
    OWNED.filter(([ip, ifs]) => ifs.includes(iface) && toOwnedIp(ip)!.family === family).map(([ip]) => bytesOf(ip));
  const only1 = (family: 4 | 6): Uint8Array[] =>
    OWNED.filter(([ip, ifs]) => !ifs.includes('eth0') && toOwnedIp(ip)!.family === family).map(([ip]) => bytesOf(ip));
  return { ourMac: IFACES.eth0!.mac, v4: on('eth0', 4), v6: on('eth0', 6), elsewhere4: only1(4), elsewhere6: only1(6) };
}

/** fuzz-codecs' mix half the time; otherwise a VIP-aimed frame, damaged 2 times in 5. */
function nextMixedFrame(rng: Rng, t: VipTargets): Uint8Array {
  const r = rng();
  if (r < 0.5) return nextFrame(rng);
  const f = vipFrame(rng, t);
  if (r < 0.8) return f;
  const m = mutateFrame(rng, f);
  if (rng() < 0.5) refreshChecksum(m);
  return m;
}

type SentKind = 'arp-reply' | 'arp-announcement' | 'na-solicited' | 'na-unsolicited' | 'invalid';

/** What a frame the announcer sent is, and for one it should never send, why. */
function classifySent(frame: Uint8Array, mac: Uint8Array, owned: ReadonlySet<string>): { kind: SentKind; why?: string } {
  const invalid = (why: string): { kind: SentKind; why: string } => ({ kind: 'invalid', why });
  const eth = decodeEthernet(frame);
  if (!eth.ok) return invalid(`ethernet: ${eth.reason}`);
  if (!macEquals(eth.value.src, mac)) return invalid('source MAC is not ours');
  const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
  if (eth.value.etherType === ETHERTYPE_ARP) {
    const arp = decodeArp(eth.value.payload);
    if (!arp.ok) return invalid(`arp: ${arp.reason}`);
    if (!macEquals(arp.value.senderMac, mac) || !owned.has(hex(arp.value.senderIp))) return invalid('ARP sender is not ours');
    const announcement = hex(arp.value.senderIp) === hex(arp.value.targetIp);
    if (arp.value.op === ARP_OP_REPLY && macEquals(eth.value.dst, arp.value.targetMac)) return { kind: announcement ? 'arp-announcement' : 'arp-reply' };
    return arp.value.op === ARP_OP_REQUEST && announcement ? { kind: 'arp-announcement' } : invalid('ARP request that is not an announcement');
  }
  if (eth.value.etherType !== ETHERTYPE_IPV6) return invalid('neither ARP nor IPv6');
  const ip = decodeIpv6(eth.value.payload);
  if (!ip.ok) return invalid(`ipv6: ${ip.reason}`);
  const nd = decodeNdp(ip.value, ip.value.payload);
  if (!nd.ok) return invalid(`ndp: ${nd.reason}`);
  if (nd.value.kind !== 'na' || !owned.has(hex(nd.value.target))) return invalid('not an NA for an owned IP');
  const tlla = nd.value.options.targetLinkLayerAddress;
  if (tlla === undefined || !macEquals(tlla, mac)) return invalid('NA without our MAC as target link-layer address');
  return { kind: nd.value.solicited ? 'na-solicited' : 'na-unsolicited' };
}

interface Harness {
  readonly announcer: Announcer;
  readonly clock: VirtualClock;
  /** The announcer's sockets, by interface: frames are injected into eth0's. */
  readonly nodeSockets: Map<string, MemoryFrameSocket>;
  readonly lans: Record<string, MemoryLan>;
}

function harness(): Harness {
  const clock = new VirtualClock();
  const lans: Record<string, MemoryLan> = { eth0: new MemoryLan(), eth1: new MemoryLan() };
  const nodeSockets = new Map<string, MemoryFrameSocket>();
  const announcer = new Announcer({
    clock,
    logger: silentLogger(),
    resolveInterface: (name) => IFACES[name],
    openSocket: (iface) => {
      const s = lans[iface.name]!.socket(iface.ifindex);
      nodeSockets.set(iface.name, s);
      return s;
    },
  });
  announcer.setOwned(new Map(OWNED.map(([ip, ifs]) => [ip, new Set(ifs)])));
  return { announcer, clock, nodeSockets, lans };
}

function main(): void {
  const args = fuzzArgs('bench/fuzz.ts');
  if (args === undefined) return;
  const { n, seed } = args;
  console.log(`fuzz (decoders + announcer): ${n.toLocaleString('en-US')} frames, seed ${seed}`);
  const rng = createRng(seed);
  const t = targets();
  const h = harness();
  const eth0 = h.nodeSockets.get('eth0')!;
  const ownedHex = new Set(OWNED.map(([ip]) => Buffer.from(bytesOf(ip)).toString('hex')));

  const counts: Counts = { ethernet: new Map(), arp: new Map(), ipv6: new Map(), ndp: new Map() };
  const decodeThrows: Throws = { count: 0, examples: [] };
  const announcerThrows: { count: number; examples: { frame: string; error: unknown }[] } = { count: 0, examples: [] };
  const sent = new Map<SentKind, number>();
  const invalid: string[] = [];
  const invalidWhy = new Map<string, number>();
  const batch: Uint8Array[] = [];
  const ms = { generate: 0, copy: 0, decode: 0, announcer: 0 };
  let sink = 0;

  for (let done = 0; done < n; ) {
    const size = Math.min(BATCH, n - done);
    let t0 = performance.now();
    batch.length = 0;
    for (let i = 0; i < size; i++) batch.push(nextMixedFrame(rng, t));
    ms.generate += performance.now() - t0;

    t0 = performance.now();
    for (const f of batch) sink += f.slice().length;
    ms.copy += performance.now() - t0;

    t0 = performance.now();
    for (const f of batch) decodeAll(f, counts, decodeThrows);
    ms.decode += performance.now() - t0;

    t0 = performance.now();
    for (const f of batch) {
      try {
        eth0.receive(f);
      } catch (error) {
        announcerThrows.count++;
        if (announcerThrows.examples.length < 10) announcerThrows.examples.push({ frame: Buffer.from(f).toString('hex'), error });
      }
    }
    ms.announcer += performance.now() - t0;

    h.clock.advance(BATCH_VIRTUAL_MS); // due gratuitous announcements go out here, outside the timing
    for (const [name, lan] of Object.entries(h.lans)) {
      for (const { frame } of lan.sent) {
        const { kind, why } = classifySent(frame, IFACES[name]!.mac, ownedHex);
        sent.set(kind, (sent.get(kind) ?? 0) + 1);
        if (why !== undefined) invalidWhy.set(why, (invalidWhy.get(why) ?? 0) + 1);
        if (kind === 'invalid' && invalid.length < 3) invalid.push(`${name}: ${why} ${Buffer.from(frame).toString('hex')}`);
      }
      lan.sent.length = 0;
    }
    done += size;
  }
  if (sink < 0) console.log(sink); // keeps the baseline loop from being optimised away

  console.log('decoders (as bench/fuzz-codecs.ts):');
  printDecoderCounts(counts);

  const stats = h.announcer.stats;
  console.log('announcer drops:');
  console.log(
    `  ${[...stats.drops.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  console.log('announcer per VIP (requests received / responses sent / gratuitous sent / conflicts):');
  let responses = 0;
  let gratuitous = 0;
  let unanswered = 0;
  for (const [ip, c] of stats.perIp) {
    console.log(`  ${ip.padEnd(16)} ${c.requestsReceived} / ${c.responsesSent} / ${c.gratuitousSent} / ${c.conflicts}`);
    responses += c.responsesSent;
    gratuitous += c.gratuitousSent;
    unanswered += c.requestsReceived - c.responsesSent;
  }
  const frames = [...sent.values()].reduce((a, b) => a + b, 0);
  console.log(
    `frames sent by the announcer: ${frames} (${[...sent.entries()].map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
      `its counters: ${responses} responses + ${gratuitous} gratuitous`,
  );
  const announcerShare = Math.round((100 * ms.announcer) / (ms.announcer + ms.decode));
  console.log(
    `announcer: ${rate(n, ms.announcer)} | baselines on the same frames: 4 decoders alone ${rate(n, ms.decode)}, ` +
      `one copy ${rate(n, ms.copy)} | generator ${rate(n, ms.generate)} (announcer ${announcerShare}% of decode+announce time)`,
  );
  const problems: string[] = [];
  if (decodeThrows.count + announcerThrows.count > 0) problems.push('throws');
  if ((sent.get('invalid') ?? 0) > 0) problems.push('invalid frames sent');
  if (frames !== responses + gratuitous) problems.push('frames on the LAN != responses + gratuitous counters');
  if (unanswered !== 0) problems.push(`${unanswered} requests counted but not answered`);
  const whys = [...invalidWhy.entries()].map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`throws: decoders ${decodeThrows.count}, announcer ${announcerThrows.count}; invalid frames sent: ${sent.get('invalid') ?? 0}${whys === '' ? '' : ` (${whys})`}`);
  for (const e of decodeThrows.examples) console.log(`  ${e.decoder}: ${e.frame}`, e.error);
  for (const e of announcerThrows.examples) console.log(`  announcer: ${e.frame}`, e.error);
  for (const f of invalid) console.log(`  invalid: ${f}`);
  if (problems.length > 0) {
    console.log(`FAILED: ${problems.join('; ')}`);
    process.exitCode = 1;
  }
  h.announcer.stop();
}

main();
