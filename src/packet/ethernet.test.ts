import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRng, mutateFrame, randomFrame } from '../../bench/fuzz-frames.js';
import {
  decodeEthernet,
  encodeEthernet,
  ETHERTYPE_ARP,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  type EthernetFrame,
  type VlanTag,
} from './ethernet.js';
import { hex } from '../../test/helpers/bytes.js';

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
const vlanTag: fc.Arbitrary<VlanTag> = fc.record({
  pcp: fc.integer({ min: 0, max: 7 }),
  dei: fc.boolean(),
  vid: fc.integer({ min: 0, max: 4095 }),
});
const etherType = fc
  .integer({ min: 0x0600, max: 0xffff })
  .filter((t) => t !== ETHERTYPE_VLAN && t !== ETHERTYPE_QINQ);
const ethernetFrame: fc.Arbitrary<EthernetFrame> = fc.record({
  dst: mac,
  src: mac,
  vlan: fc.option(vlanTag, { nil: undefined }),
  etherType,
  payload: fc.uint8Array({ maxLength: 100 }),
});

describe('Ethernet codec', () => {
  it('decode(encode(x)) is x, with and without an 802.1Q tag', () => {
    fc.assert(
      fc.property(ethernetFrame, (f) => {
        const d = decodeEthernet(encodeEthernet(f));
        expect(d).toEqual({ ok: true, value: f });
      }),
    );
  });

  it('decodes a tagged frame (known answer)', () => {
    // dst ff:ff:ff:ff:ff:ff, src 00:11:22:33:44:55, 802.1Q TCI 0xb064 = PCP 5, DEI 1, VID 100, ARP
    const d = decodeEthernet(hex('ffffffffffff 001122334455 8100 b064 0806 0001'));
    expect(d).toEqual({
      ok: true,
      value: {
        dst: hex('ffffffffffff'),
        src: hex('001122334455'),
        vlan: { pcp: 5, dei: true, vid: 100 },
        etherType: ETHERTYPE_ARP,
        payload: hex('0001'),
      },
    });
  });

  it('encodes the tag as PCP | DEI | VID (IEEE 802.1Q §9.6)', () => {
    const out = encodeEthernet({
      dst: hex('ffffffffffff'),
      src: hex('001122334455'),
      vlan: { pcp: 5, dei: true, vid: 100 },
      etherType: ETHERTYPE_ARP,
      payload: new Uint8Array(0),
    });
    expect(Buffer.from(out).toString('hex')).toBe('ffffffffffff0011223344558100b0640806');
  });

  it('returns views into the input, not copies', () => {
    const bytes = hex('ffffffffffff 001122334455 0806 aabb');
    const d = decodeEthernet(bytes);
    if (!d.ok) throw new Error(d.reason);
    bytes[14] = 0x01;
    expect(d.value.payload[0]).toBe(0x01);
    expect(d.value.payload.buffer).toBe(bytes.buffer);
  });

  it('accepts a Buffer as input and still returns plain Uint8Array views', () => {
    const d = decodeEthernet(Buffer.from('ffffffffffff0011223344550806', 'hex'));
    if (!d.ok) throw new Error(d.reason);
    expect(d.value.etherType).toBe(ETHERTYPE_ARP);
    expect(d.value.src).toEqual(hex('001122334455'));
    expect(Buffer.isBuffer(d.value.src)).toBe(false);
  });

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => void decodeEthernet(b)), { numRuns: 2000 });
  });

  it('never throws on mutated valid frames', () => {
    fc.assert(
      fc.property(fc.oneof(ethernetFrame.map(encodeEthernet), fc.integer().map((s) => randomFrame(createRng(s)))), fc.integer(), (f, seed) => {
        void decodeEthernet(mutateFrame(createRng(seed), f));
      }),
      { numRuns: 2000 },
    );
  });
});
