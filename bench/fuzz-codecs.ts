/**
 * Fuzzes every packet decoder with random and mutated frames, counts the results by drop reason
 * and checks that nothing throws. Usage: npx tsx bench/fuzz-codecs.ts [N=1000000] [seed]
 * The seed is printed so that a failure can be replayed. Exit status 1 if any decoder threw.
 *
 * The decode rate is printed next to a baseline: one copy of each frame (frame.slice()), the
 * least any per-frame handling costs.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { decodeArp } from '../src/packet/arp.js';
import type { DecodeResult } from '../src/packet/drop-reason.js';
import { decodeEthernet, ETHERNET_HEADER_LENGTH } from '../src/packet/ethernet.js';
import { decodeIpv6 } from '../src/packet/ipv6.js';
import { decodeNdp, type NdpIpv6Fields } from '../src/packet/ndp.js';
import { createRng, mutateFrame, randomFrame, refreshChecksum, type Rng } from './fuzz-frames.js';

export const DECODERS = ['ethernet', 'arp', 'ipv6', 'ndp'] as const;
export type Decoder = (typeof DECODERS)[number];
export type Counts = Record<Decoder, Map<string, number>>;

/** For payloads that are not valid IPv6: NDP checks still run against plausible header fields. */
const FIXED_HEADER: NdpIpv6Fields = {
  nextHeader: 58,
  hopLimit: 255,
  src: new Uint8Array([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
  dst: new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 1]),
};

export interface Throws {
  count: number;
  /** The first few, with the frame in hex to replay. */
  examples: { decoder: Decoder; frame: string; error: unknown }[];
}

function tally(counts: Map<string, number>, r: DecodeResult<unknown>): void {
  const key = r.ok ? 'ok' : r.reason;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Runs one frame through every decoder: each layer gets the previous layer's payload. */
export function decodeAll(frame: Uint8Array, counts: Counts, throws: Throws): void {
  let decoder: Decoder = 'ethernet';
  try {
    const eth = decodeEthernet(frame);
    tally(counts.ethernet, eth);
    const payload = eth.ok ? eth.value.payload : frame.subarray(Math.min(ETHERNET_HEADER_LENGTH, frame.length));
    decoder = 'arp';
    tally(counts.arp, decodeArp(payload));
    decoder = 'ipv6';
    const ip = decodeIpv6(payload);
    tally(counts.ipv6, ip);
    decoder = 'ndp';
    tally(counts.ndp, ip.ok ? decodeNdp(ip.value, ip.value.payload) : decodeNdp(FIXED_HEADER, payload));
  } catch (error) {
    throws.count++;
    if (throws.examples.length < 10) throws.examples.push({ decoder, frame: Buffer.from(frame).toString('hex'), error });
  }
}

/** A third valid frames, half mutated ones, a sixth mutated with the ICMPv6 checksum redone. */
export function nextFrame(rng: Rng): Uint8Array {
  const r = rng();
  const frame = randomFrame(rng);
  if (r < 1 / 3) return frame;
  const mutated = mutateFrame(rng, frame);
  if (r >= 5 / 6) refreshChecksum(mutated);
  return mutated;
}

function fuzzDecoders(
  n: number,
  seed: number,
): { counts: Counts; throws: Throws; decodeMs: number; copyMs: number; generateMs: number } {
  const rng = createRng(seed);
  const counts: Counts = { ethernet: new Map(), arp: new Map(), ipv6: new Map(), ndp: new Map() };
  const throws: Throws = { count: 0, examples: [] };
  const batch: Uint8Array[] = [];
  let decodeMs = 0;
  let copyMs = 0;
  let generateMs = 0;
  let sink = 0;
  for (let done = 0; done < n; ) {
    const size = Math.min(10_000, n - done);
    let t = performance.now();
    batch.length = 0;
    for (let i = 0; i < size; i++) batch.push(nextFrame(rng));
    generateMs += performance.now() - t;

    t = performance.now();
    for (const f of batch) sink += f.slice().length;
    copyMs += performance.now() - t;

    t = performance.now();
    for (const f of batch) decodeAll(f, counts, throws);
    decodeMs += performance.now() - t;
    done += size;
  }
  if (sink < 0) console.log(sink); // keeps the baseline loop from being optimised away
  return { counts, throws, decodeMs, copyMs, generateMs };
}

/** One line per decoder: its results by reason, most frequent first. */
export function printDecoderCounts(counts: Counts): void {
  for (const d of DECODERS) {
    const line = [...counts[d].entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    console.log(`  ${d.padEnd(8)} ${line}`);
  }
}

/** `n` frames in `ms` milliseconds, as frames/s. */
export function rate(n: number, ms: number): string {
  return `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} frames/s`;
}

/** Frames and seed from the command line ([N] [seed]); undefined after printing usage. */
export function fuzzArgs(script: string): { n: number; seed: number } | undefined {
  const n = Number(process.argv[2] ?? 1_000_000);
  const seed = Number(process.argv[3] ?? Math.floor(Math.random() * 0x100000000));
  if (!Number.isSafeInteger(n) || n <= 0 || !Number.isSafeInteger(seed)) {
    console.error(`usage: npx tsx ${script} [N] [seed]`);
    process.exitCode = 2;
    return undefined;
  }
  return { n, seed };
}

function main(): void {
  const args = fuzzArgs('bench/fuzz-codecs.ts');
  if (args === undefined) return;
  const { n, seed } = args;
  console.log(`fuzz-codecs: ${n.toLocaleString('en-US')} frames, seed ${seed}`);
  const { counts, throws, decodeMs, copyMs, generateMs } = fuzzDecoders(n, seed);
  printDecoderCounts(counts);
  console.log(
    `decode, 4 decoders per frame: ${rate(n, decodeMs)} | ` +
      `baseline, one copy per frame: ${rate(n, copyMs)} | generator: ${rate(n, generateMs)}`,
  );
  console.log(`throws: ${throws.count}`);
  for (const t of throws.examples) console.log(`  ${t.decoder}: ${t.frame}`, t.error);
  if (throws.count > 0) process.exitCode = 1;
}

// Run only as a program: bench/fuzz.ts imports the decoder pass from here.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
