import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BROADCAST_MAC,
  ipv6MulticastMac,
  isBroadcastMac,
  isMulticastMac,
  macEquals,
  macToString,
  parseMac,
  solicitedNodeMulticastMac,
} from './mac.js';

const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });

describe('MAC addresses', () => {
  it('prints lower-case, colon-separated, two digits per octet', () => {
    expect(macToString(new Uint8Array([0x00, 0x1a, 0x2b, 0xcc, 0x0d, 0xff]))).toBe('00:1a:2b:cc:0d:ff');
  });

  it('parses what it prints', () => {
    fc.assert(
      fc.property(mac, (m) => {
        expect(parseMac(macToString(m))).toEqual(m);
      }),
    );
  });

  it('accepts upper case and hyphens, one separator throughout', () => {
    expect(parseMac('AA-BB-CC-DD-EE-0F')).toEqual(new Uint8Array([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f]));
  });

  it.each(['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aa:bb-cc:dd:ee:ff', 'a:bb:cc:dd:ee:ff', 'gg:bb:cc:dd:ee:ff', 'aabbccddeeff', ' aa:bb:cc:dd:ee:ff'])(
    'returns undefined for %j',
    (text) => {
      expect(parseMac(text)).toBeUndefined();
    },
  );

  it('never throws on any string', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseMac(s)), { numRuns: 2000 });
  });

  it('compares six bytes', () => {
    fc.assert(fc.property(mac, mac, (a, b) => macEquals(a, b) === (macToString(a) === macToString(b))));
    expect(macEquals(new Uint8Array(6), new Uint8Array(7))).toBe(false);
  });

  it('recognises broadcast and multicast by the I/G bit', () => {
    expect(isBroadcastMac(BROADCAST_MAC)).toBe(true);
    expect(isMulticastMac(BROADCAST_MAC)).toBe(true);
    expect(isMulticastMac(parseMac('33:33:00:00:00:01')!)).toBe(true);
    expect(isMulticastMac(parseMac('01:00:5e:00:00:fb')!)).toBe(true);
    expect(isMulticastMac(parseMac('02:00:00:00:00:01')!)).toBe(false);
  });

  it('maps IPv6 multicast and solicited-node groups (RFC 2464 §7, RFC 4291 §2.7.1)', () => {
    // 2001:db8::1:2345:6789 -> ff02::1:ff45:6789 -> 33:33:ff:45:67:89
    const ip = new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 1, 0x23, 0x45, 0x67, 0x89]);
    expect(macToString(solicitedNodeMulticastMac(ip))).toBe('33:33:ff:45:67:89');
    const allNodes = new Uint8Array([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(macToString(ipv6MulticastMac(allNodes))).toBe('33:33:00:00:00:01');
  });
});
