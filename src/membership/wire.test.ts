import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConfigError } from '../errors.js';
import { loadNative } from '../netdev/native.js';
import { membershipKey, type MembershipKey } from './membership-key.js';
import { remac } from '../../test/helpers/membership-bytes.js';
import { AGE_MAX, decodeMessage, encodedSize, encodeMessage, MAC_BYTES, WIRE_VERSION, type Message } from './wire.js';

const KEY = membershipKey('k'.repeat(32));
const OTHER = membershipKey('o'.repeat(40));
const KEYS = new Map<number, MembershipKey>([[KEY.id, KEY]]);

const u64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => {
  const n = new TextEncoder().encode(s).length;
  return n >= 1 && n <= 255 && new TextDecoder().decode(new TextEncoder().encode(s)) === s;
});
const header = { sender: name, receiver: u32, incarnation: u64, seq: u64, timestamp: u64 };
const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('leave' as const), ...header }),
  fc.record({ type: fc.constant('beat' as const), ...header }),
  fc.record({
    type: fc.constant('heartbeat' as const),
    ...header,
    metaVersion: u64,
    ages: fc.array(fc.record({ id: u32, ageMs: fc.option(fc.integer({ min: 0, max: AGE_MAX }), { nil: undefined }) }), { maxLength: 20 }),
    entries: fc.array(
      fc.record({
        id: u32,
        state: fc.constantFrom('alive' as const, 'suspect' as const, 'dead' as const, 'left' as const),
        incarnation: u64,
        metaVersion: u64,
        want: fc.boolean(),
      }),
      { maxLength: 20 },
    ),
    blobs: fc.array(fc.record({ id: u32, version: u64, data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 3 }),
  }),
);

describe('membership wire format', () => {
  it('round-trips every message, and encodedSize is exact', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeMessage(m, KEY);
        expect(bytes.length).toBe(encodedSize(m));
        const d = decodeMessage(bytes, KEYS);
        expect(d).toEqual({ ok: true, keyId: KEY.id, message: m });
      }),
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const d = decodeMessage(bytes, KEYS);
        expect(typeof d.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on a valid header followed by random bytes', () => {
    const prefix = encodeMessage({ type: 'leave', sender: 'node-a', receiver: 7, incarnation: 1, seq: 1, timestamp: 1 }, KEY).subarray(0, 13);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (tail) => {
        const bytes = new Uint8Array([...prefix, ...tail]);
        const d = decodeMessage(bytes, KEYS);
        expect(d.ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects any single-bit change (bad MAC or earlier check), never accepts it', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
        const bytes = Uint8Array.from(encodeMessage(m, KEY));
        bytes[at % bytes.length]! ^= 1 << bit;
        expect(decodeMessage(bytes, KEYS).ok).toBe(false);
      }),
    );
  });

  it('accepts payload tampering only with the key: a forged MAC is bad-mac', () => {
    const m: Message = { type: 'leave', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1 };
    const bytes = Uint8Array.from(encodeMessage(m, KEY));
    bytes[bytes.length - MAC_BYTES - 3]! ^= 0xff; // inside the timestamp
    expect(decodeMessage(bytes, KEYS)).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('names the reason: unknown key, wrong version, truncated', () => {
    const m: Message = { type: 'leave', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1 };
    expect(decodeMessage(encodeMessage(m, OTHER), KEYS)).toEqual({ ok: false, reason: 'unknown-key' });
    const next = Uint8Array.from(encodeMessage(m, KEY));
    next[2] = WIRE_VERSION + 1;
    expect(decodeMessage(next, KEYS)).toEqual({ ok: false, reason: 'wrong-version', version: 5 });
    const full = encodeMessage(m, KEY);
    expect(decodeMessage(full.subarray(0, full.length - 1), KEYS)).toEqual({ ok: false, reason: 'malformed' });
    expect(decodeMessage(new Uint8Array(0), KEYS)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a version 1 datagram (no receiver id) by name, not as noise', () => {
    // A version 1 leave of node-a, 5/9/1, as the previous release sent it (MAC irrelevant).
    const v1 = new Uint8Array([0x4c, 0x56, 1, 2, 0, 0, 0, 1, 6, ...new TextEncoder().encode('node-a'), ...new Uint8Array(26), ...new Uint8Array(MAC_BYTES)]);
    expect(decodeMessage(v1, KEYS)).toEqual({ ok: false, reason: 'wrong-version', version: 1 });
  });

  it('refuses a version 2 datagram (the full-mesh release) by name: a version 2 heartbeat, re-MACed, is still refused', () => {
    const m: Message = { type: 'heartbeat', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1, metaVersion: 0, ages: [], entries: [], blobs: [] };
    const v2 = Buffer.from(encodeMessage(m, KEY));
    v2[2] = 2;
    remac(v2, KEY);
    expect(decodeMessage(v2, KEYS)).toEqual({ ok: false, reason: 'wrong-version', version: 2 });
  });

  it('refuses a version 3 datagram (no beats) by name: a version 3 heartbeat, re-MACed, is still refused', () => {
    const m: Message = { type: 'heartbeat', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1, metaVersion: 0, ages: [], entries: [], blobs: [] };
    const v3 = Buffer.from(encodeMessage(m, KEY));
    v3[2] = 3;
    remac(v3, KEY);
    expect(decodeMessage(v3, KEYS)).toEqual({ ok: false, reason: 'wrong-version', version: 3 });
  });

  it('encodes a beat as the bare header, type 4, 55 + L bytes, and refuses one with a payload', () => {
    const m: Message = { type: 'beat', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1 };
    const beat = Buffer.from(encodeMessage(m, KEY));
    expect(beat.length).toBe(55 + 6);
    expect([beat[2], beat[3]]).toEqual([4, 4]);
    expect(beat.readUInt16BE(13 + 6 + 24)).toBe(0);
    expect(decodeMessage(beat, KEYS)).toEqual({ ok: true, keyId: KEY.id, message: m });
    // A type 4 with a payload (a heartbeat's bytes relabelled, re-MACed) is malformed, not a beat.
    const hb = Buffer.from(encodeMessage({ ...m, type: 'heartbeat', metaVersion: 0, ages: [], entries: [], blobs: [] }, KEY));
    hb[3] = 4;
    remac(hb, KEY);
    expect(decodeMessage(hb, KEYS)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('keeps a leading byte order mark in a sender name (a node "\uFEFFalpha" is not node "alpha")', () => {
    const m: Message = { type: 'beat', sender: '\uFEFFalpha', receiver: 7, incarnation: 5, seq: 9, timestamp: 1 };
    expect(decodeMessage(encodeMessage(m, KEY), KEYS)).toEqual({ ok: true, keyId: KEY.id, message: m });
  });

  it('carries "reply at once" as type 3 under the MAC, and only when asked', () => {
    const m: Message = { type: 'heartbeat', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1, metaVersion: 0, ages: [], entries: [], blobs: [] };
    const ping = encodeMessage({ ...m, wantReply: true }, KEY);
    expect(ping[3]).toBe(3);
    expect(decodeMessage(ping, KEYS)).toEqual({ ok: true, keyId: KEY.id, message: { ...m, wantReply: true } });
    expect(decodeMessage(encodeMessage(m, KEY), KEYS)).toEqual({ ok: true, keyId: KEY.id, message: m });
    const flipped = Uint8Array.from(ping);
    flipped[3] = 1;
    expect(decodeMessage(flipped, KEYS)).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('binds the receiver: changing its id breaks the MAC', () => {
    const m: Message = { type: 'leave', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1 };
    const bytes = Uint8Array.from(encodeMessage(m, KEY));
    expect(Buffer.from(bytes).readUInt32BE(8)).toBe(7);
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).writeUInt32BE(8, 8);
    expect(decodeMessage(bytes, KEYS)).toEqual({ ok: false, reason: 'bad-mac' });
  });

  it('accepts several keys during a rotation', () => {
    const m: Message = { type: 'leave', sender: 'node-a', receiver: 7, incarnation: 5, seq: 9, timestamp: 1 };
    const both = new Map([
      [KEY.id, KEY],
      [OTHER.id, OTHER],
    ]);
    expect(decodeMessage(encodeMessage(m, OTHER), both)).toMatchObject({ ok: true, keyId: OTHER.id });
  });

  it('saturates ages and rejects values it cannot carry', () => {
    const hb = (ageMs: number, incarnation = 1): Message => ({
      type: 'heartbeat',
      sender: 'a',
      receiver: 7,
      incarnation,
      seq: 1,
      timestamp: 0,
      metaVersion: 0,
      ages: [{ id: 1, ageMs }],
      entries: [],
      blobs: [],
    });
    const d = decodeMessage(encodeMessage(hb(1e9), KEY), KEYS);
    expect(d.ok && d.message.type === 'heartbeat' && d.message.ages[0]!.ageMs).toBe(AGE_MAX);
    expect(() => encodeMessage(hb(1, -1), KEY)).toThrow(RangeError);
    expect(() => encodeMessage(hb(1, 2 ** 60), KEY)).toThrow(RangeError);
    expect(() => encodeMessage({ type: 'leave', sender: '', receiver: 7, incarnation: 1, seq: 1, timestamp: 1 }, KEY)).toThrow(RangeError);
  });
});

describe('membership key', () => {
  it('rejects a secret shorter than 32 bytes with an actionable ConfigError', () => {
    expect(() => membershipKey('too short')).toThrow(ConfigError);
    try {
      membershipKey(new Uint8Array(31), 'spec.membership.secret');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe('L2VIP_CONFIG_INVALID');
      expect((err as ConfigError).message).toMatch(/spec\.membership\.secret: .*31 bytes.*at least 32/);
    }
  });

  it('MACs with the addon exactly as node:crypto does (RFC 4231 vector, then any key and data)', () => {
    // RFC 4231 test case 2 (the key is shorter than the 32 bytes we require: built directly).
    const h = new (loadNative().HmacSha256!)(Buffer.from('Jefe'));
    const out = Buffer.alloc(32);
    h.digest(Buffer.from('what do ya want for nothing?'), out);
    expect(out.toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 200 }), fc.uint8Array({ maxLength: 2000 }), (secret, data) => {
        const key = membershipKey(secret);
        expect(key.mac(data).equals(createHmac('sha256', Buffer.from(secret)).update(data).digest())).toBe(true);
        // The context is re-initialised per datagram: a second MAC is the same.
        expect(key.mac(data).equals(key.mac(data))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('derives a stable key id that differs between secrets', () => {
    expect(membershipKey('k'.repeat(32)).id).toBe(KEY.id);
    expect(OTHER.id).not.toBe(KEY.id);
  });
});
