import { timingSafeEqual } from 'node:crypto';
import type { MembershipKey } from './membership-key.js';

/**
 * Wire format of membership datagrams, version 4 (docs/membership.md#wire-format). All integers
 * big-endian. Pure: encode and decode only; decode never throws.
 *
 *   0   u16  magic 0x4C56 ("LV")
 *   2   u8   version (4; version 3 had no type 4, version 2 no type 3 and meant a full mesh,
 *            version 1 had no receiver id)
 *   3   u8   type (1 heartbeat, 2 leave, 3 heartbeat asking for an immediate heartbeat back,
 *            4 beat: a heartbeat with nothing to say, header only)
 *   4   u32  key id (MembershipKey.id)
 *   8   u32  receiver's member id: under the MAC, so a datagram replayed to another node is refused
 *   12  u8   sender name length L (1..255)
 *   13  L    sender name, UTF-8
 *   +0  u64  sender incarnation
 *   +8  u64  sequence number (per sender, receiver and incarnation, from 1)
 *   +16 u64  timestamp: sender wall clock, ms since the Unix epoch
 *   +24 u16  payload length P
 *   +26 P    payload
 *   end 16   HMAC-SHA256 over every byte before it, truncated to 128 bits (as RFC 4868 does for IPsec)
 *
 * Heartbeat payload (types 1 and 3):
 *   u64 sender's metadata version (0: none)
 *   u16 A, then A x { u32 member id, u16 age ms }     age table: "I last heard X directly age ms ago"
 *   u16 E, then E x { u32 member id, u8 flags, u64 incarnation, u64 metadata version }
 *       flags: bits 0-1 state (0 alive, 1 suspect, 2 dead, 3 left), bit 7 "want metadata"; others 0
 *   u8  B, then B x { u32 member id, u64 metadata version, u16 length, bytes }   metadata blobs
 * Leave and beat payload: empty. A beat is what a node sends a neighbour on most ticks: proof of
 * life and nothing else, 55 + L bytes, simple enough for the addon to check and build without
 * JavaScript (DatagramSocket's beat fast path; the checks here and there are the same).
 */

export const WIRE_MAGIC = 0x4c56;
export const WIRE_VERSION = 4;
export const MAC_BYTES = 16;
/** Age value meaning "never heard from it (at this incarnation)". */
export const AGE_UNKNOWN = 0xffff;
/** Largest age that can be carried; older ages saturate here. */
export const AGE_MAX = 0xfffe;

const TYPE_HEARTBEAT = 1;
const TYPE_LEAVE = 2;
const TYPE_PING = 3;
const TYPE_BEAT = 4;
const STATES = ['alive', 'suspect', 'dead', 'left'] as const;
const FLAG_WANT = 0x80;
const U32 = 0x1_0000_0000;

export type WireState = (typeof STATES)[number];

/** "I last heard from member `id` directly `ageMs` ms ago" (undefined: never, at its current incarnation). */
export interface AgeReport {
  readonly id: number;
  readonly ageMs: number | undefined;
}

/** What the sender holds about one member. */
export interface ViewEntry {
  readonly id: number;
  readonly state: WireState;
  readonly incarnation: number;
  readonly metaVersion: number;
  /** The sender knows of a newer metadata version than it holds and asks for the blob. */
  readonly want: boolean;
}

export interface MetadataBlob {
  readonly id: number;
  readonly version: number;
  readonly data: Uint8Array;
}

interface Header {
  readonly sender: string;
  /** Member id (memberId(name)) of the node this datagram is for. */
  readonly receiver: number;
  readonly incarnation: number;
  readonly seq: number;
  /** Sender wall clock, ms since the Unix epoch. */
  readonly timestamp: number;
}

export interface HeartbeatMessage extends Header {
  readonly type: 'heartbeat';
  readonly metaVersion: number;
  readonly ages: readonly AgeReport[];
  readonly entries: readonly ViewEntry[];
  readonly blobs: readonly MetadataBlob[];
  /** Asks the receiver for a heartbeat back at once (ring topology: confirm a suspicion). Encoded as type 3. */
  readonly wantReply?: boolean;
}

export interface LeaveMessage extends Header {
  readonly type: 'leave';
}

/** Proof of life with nothing else to say (type 4, empty payload): most ticks' datagram to a neighbour. */
export interface BeatMessage extends Header {
  readonly type: 'beat';
}

export type Message = HeartbeatMessage | LeaveMessage | BeatMessage;

/** Why a datagram was rejected by the codec. */
export type WireDropReason = 'malformed' | 'wrong-version' | 'unknown-key' | 'bad-mac';

export type DecodeResult =
  | { readonly ok: true; readonly message: Message; readonly keyId: number }
  /** `version`: the version byte seen, when the reason is 'wrong-version'. */
  | { readonly ok: false; readonly reason: WireDropReason; readonly version?: number };

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Sender names repeat in every datagram; encoding them once saves a measurable share of the
// per-datagram cost. Bounded: a process only ever encodes its own name (and tests a few more).
const nameCache = new Map<string, Uint8Array>();
function nameBytes(name: string): Uint8Array {
  let b = nameCache.get(name);
  if (b === undefined) {
    b = utf8.encode(name);
    if (nameCache.size >= 64) nameCache.clear();
    nameCache.set(name, b);
  }
  return b;
}

/** Bytes `encodeMessage` will produce for this message (for size budgets). */
export function encodedSize(message: Message): number {
  return headerSize(nameBytes(message.sender).length) + payloadSize(message) + MAC_BYTES;
}

const NAME_AT = 13;

function headerSize(nameBytes: number): number {
  return NAME_AT + nameBytes + 26;
}

function payloadSize(message: Message): number {
  if (message.type !== 'heartbeat') return 0;
  let n = 8 + 2 + message.ages.length * 6 + 2 + message.entries.length * 21 + 1;
  for (const b of message.blobs) n += 14 + b.data.length;
  return n;
}

/** Serialises and authenticates `message`. Throws RangeError on values the format cannot carry. */
export function encodeMessage(message: Message, key: MembershipKey): Uint8Array {
  const name = nameBytes(message.sender);
  if (name.length < 1 || name.length > 255) throw new RangeError(`sender name must be 1..255 UTF-8 bytes`);
  const pSize = payloadSize(message);
  if (pSize > 0xffff) throw new RangeError(`payload of ${pSize} bytes exceeds 65535`);
  if (message.type === 'heartbeat') {
    if (message.ages.length > 0xffff || message.entries.length > 0xffff) throw new RangeError('too many entries');
    if (message.blobs.length > 0xff) throw new RangeError('too many metadata blobs');
  }
  const buf = Buffer.allocUnsafe(headerSize(name.length) + pSize + MAC_BYTES);
  let o = 0;
  buf.writeUInt16BE(WIRE_MAGIC, o);
  buf.writeUInt8(WIRE_VERSION, o + 2);
  buf.writeUInt8(typeByte(message), o + 3);
  buf.writeUInt32BE(key.id, o + 4);
  buf.writeUInt32BE(message.receiver >>> 0, o + 8);
  buf.writeUInt8(name.length, o + 12);
  o = NAME_AT;
  buf.set(name, o);
  o += name.length;
  o = writeU64(buf, o, message.incarnation);
  o = writeU64(buf, o, message.seq);
  o = writeU64(buf, o, message.timestamp);
  buf.writeUInt16BE(pSize, o);
  o += 2;
  if (message.type === 'heartbeat') {
    o = writeU64(buf, o, message.metaVersion);
    buf.writeUInt16BE(message.ages.length, o);
    o += 2;
    for (const a of message.ages) {
      buf.writeUInt32BE(a.id >>> 0, o);
      const age = a.ageMs === undefined ? AGE_UNKNOWN : Math.min(AGE_MAX, Math.max(0, Math.ceil(a.ageMs)));
      buf.writeUInt16BE(age, o + 4);
      o += 6;
    }
    buf.writeUInt16BE(message.entries.length, o);
    o += 2;
    for (const e of message.entries) {
      buf.writeUInt32BE(e.id >>> 0, o);
      buf.writeUInt8(STATES.indexOf(e.state) | (e.want ? FLAG_WANT : 0), o + 4);
      o = writeU64(buf, o + 5, e.incarnation);
      o = writeU64(buf, o, e.metaVersion);
    }
    buf.writeUInt8(message.blobs.length, o);
    o += 1;
    for (const b of message.blobs) {
      buf.writeUInt32BE(b.id >>> 0, o);
      o = writeU64(buf, o + 4, b.version);
      buf.writeUInt16BE(b.data.length, o);
      o += 2;
      buf.set(b.data, o);
      o += b.data.length;
    }
  }
  key.mac(buf.subarray(0, o)).copy(buf, o, 0, MAC_BYTES);
  return buf;
}

/**
 * Parses and authenticates a datagram. `keys` maps key id -> key (the current secret and any
 * being rotated in or out). Returns the reason instead of throwing on any input.
 */
export function decodeMessage(data: Uint8Array, keys: ReadonlyMap<number, MembershipKey>): DecodeResult {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  // The magic and the version come first and at fixed offsets in every version, so that mixed
  // versions refuse each other by name ('wrong-version') rather than as noise.
  if (buf.length < 3 || buf.readUInt16BE(0) !== WIRE_MAGIC) return drop('malformed');
  const version = buf.readUInt8(2);
  if (version !== WIRE_VERSION) return { ok: false, reason: 'wrong-version', version };
  if (buf.length < headerSize(1) + MAC_BYTES) return drop('malformed');
  const type = buf.readUInt8(3);
  if (type !== TYPE_HEARTBEAT && type !== TYPE_LEAVE && type !== TYPE_PING && type !== TYPE_BEAT) return drop('malformed');
  const keyId = buf.readUInt32BE(4);
  const key = keys.get(keyId);
  if (key === undefined) return drop('unknown-key');
  const receiver = buf.readUInt32BE(8);
  const nameLen = buf.readUInt8(12);
  const payloadAt = headerSize(nameLen);
  if (nameLen === 0 || buf.length < payloadAt + MAC_BYTES) return drop('malformed');
  const pSize = buf.readUInt16BE(payloadAt - 2);
  const macAt = payloadAt + pSize;
  if (buf.length !== macAt + MAC_BYTES) return drop('malformed');
  const expected = key.mac(buf.subarray(0, macAt)).subarray(0, MAC_BYTES);
  if (!timingSafeEqual(expected, buf.subarray(macAt))) return drop('bad-mac');

  // Authenticated from here on; still parsed defensively (a peer may run a buggy build).
  let sender: string;
  try {
    sender = utf8Strict.decode(buf.subarray(NAME_AT, NAME_AT + nameLen));
  } catch {
    return drop('malformed');
  }
  const r = new Reader(buf, NAME_AT + nameLen, macAt);
  const incarnation = r.u64();
  const seq = r.u64();
  const timestamp = r.u64();
  r.skip(2);
  if (type === TYPE_LEAVE || type === TYPE_BEAT) {
    if (r.failed || pSize !== 0) return drop('malformed');
    return { ok: true, keyId, message: { type: type === TYPE_LEAVE ? 'leave' : 'beat', sender, receiver, incarnation, seq, timestamp } };
  }
  const metaVersion = r.u64();
  const ages: AgeReport[] = [];
  for (let n = r.u16(); n > 0 && !r.failed; n--) {
    const id = r.u32();
    const age = r.u16();
    ages.push({ id, ageMs: age === AGE_UNKNOWN ? undefined : age });
  }
  const entries: ViewEntry[] = [];
  for (let n = r.u16(); n > 0 && !r.failed; n--) {
    const id = r.u32();
    const flags = r.u8();
    const entryIncarnation = r.u64();
    const entryMeta = r.u64();
    if ((flags & ~(FLAG_WANT | 0x03)) !== 0) return drop('malformed');
    entries.push({
      id,
      state: STATES[flags & 0x03]!,
      want: (flags & FLAG_WANT) !== 0,
      incarnation: entryIncarnation,
      metaVersion: entryMeta,
    });
  }
  const blobs: MetadataBlob[] = [];
  for (let n = r.u8(); n > 0 && !r.failed; n--) {
    const id = r.u32();
    const version = r.u64();
    const len = r.u16();
    const bytes = r.bytes(len);
    if (bytes !== undefined) blobs.push({ id, version, data: bytes });
  }
  if (r.failed || !r.atEnd()) return drop('malformed');
  const message: HeartbeatMessage = { type: 'heartbeat', sender, receiver, incarnation, seq, timestamp, metaVersion, ages, entries, blobs };
  return { ok: true, keyId, message: type === TYPE_PING ? { ...message, wantReply: true } : message };
}

function typeByte(message: Message): number {
  if (message.type === 'leave') return TYPE_LEAVE;
  if (message.type === 'beat') return TYPE_BEAT;
  return message.wantReply === true ? TYPE_PING : TYPE_HEARTBEAT;
}

function drop(reason: WireDropReason): DecodeResult {
  return { ok: false, reason };
}

function writeU64(buf: Buffer, o: number, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a u64 the format can carry (0..2^53-1)`);
  buf.writeUInt32BE(Math.floor(n / U32), o);
  buf.writeUInt32BE(n >>> 0, o + 4);
  return o + 8;
}

/** Bounds-checked reader: reading past `end` sets `failed` instead of throwing. */
class Reader {
  failed = false;
  constructor(
    private readonly buf: Buffer,
    private o: number,
    private readonly end: number,
  ) {}

  private take(n: number): number {
    if (this.failed || this.o + n > this.end) {
      this.failed = true;
      return -1;
    }
    const at = this.o;
    this.o += n;
    return at;
  }

  skip(n: number): void {
    this.take(n);
  }

  u8(): number {
    const at = this.take(1);
    return at < 0 ? 0 : this.buf.readUInt8(at);
  }

  u16(): number {
    const at = this.take(2);
    return at < 0 ? 0 : this.buf.readUInt16BE(at);
  }

  u32(): number {
    const at = this.take(4);
    return at < 0 ? 0 : this.buf.readUInt32BE(at);
  }

  /** u64 limited to 2^53-1; larger values mark the datagram malformed. */
  u64(): number {
    const at = this.take(8);
    if (at < 0) return 0;
    const hi = this.buf.readUInt32BE(at);
    if (hi > 0x1fffff) {
      this.failed = true;
      return 0;
    }
    return hi * U32 + this.buf.readUInt32BE(at + 4);
  }

  bytes(n: number): Uint8Array | undefined {
    const at = this.take(n);
    return at < 0 ? undefined : new Uint8Array(this.buf.subarray(at, at + n));
  }

  atEnd(): boolean {
    return this.o === this.end;
  }
}
