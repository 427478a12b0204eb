import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { canonicalIp, compareIps, formatIp, ipFromKey, ipKey, isBuggyIp, parseIp, type Ip } from './address.js';

const v4 = fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((value): Ip => ({ family: 4, value }));
const v6 = fc
  .bigInt({ min: 0n, max: (1n << 128n) - 1n })
  .filter((v) => v >> 32n !== 0xffffn)
  .map((value): Ip => ({ family: 6, value }));
// Sparse IPv6 values exercise the "::" compression more than uniform ones.
const sparseV6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((groups) => groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n))
  .filter((v) => v >> 32n !== 0xffffn)
  .map((value): Ip => ({ family: 6, value }));
const anyIp = fc.oneof(v4, v6, sparseV6);

describe('parseIp', () => {
  it.each([
    ['10.0.0.1', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['::', '::'],
    ['::1', '::1'],
    ['FC00::1', 'fc00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::ffff:10.0.0.1', '10.0.0.1'],
    ['::ffff:a00:1', '10.0.0.1'],
    ['::1.2.3.4', '::102:304'],
  ])('reads %s as %s (Go net.IP.String)', (text, want) => {
    expect(canonicalIp(text)).toBe(want);
  });

  it.each([
    '',
    ' 10.0.0.1',
    '10.0.0.1 ',
    '10.0.0',
    '10.0.0.256',
    '010.0.0.1',
    '0x0a.0.0.1',
    '10.0.0.1/32',
    'fe80::1%eth0',
    '::ffff:1.2.3.04',
    '1::2::3',
    '12345::',
    '1:2:3:4:5:6:7:8:9',
    'not-an-ip',
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });

  it('treats an IPv4-mapped address as IPv4, as Go does', () => {
    expect(parseIp('::ffff:192.168.1.1')).toEqual({ family: 4, value: 0xc0a80101n });
  });
});

describe('formatIp', () => {
  it('round-trips through parseIp for every address', () => {
    fc.assert(
      fc.property(anyIp, (ip) => {
        expect(parseIp(formatIp(ip))).toEqual(ip);
      }),
    );
  });

  it('agrees with ipaddr.js RFC 5952 output for IPv6', () => {
    fc.assert(
      fc.property(fc.oneof(v6, sparseV6), (ip) => {
        const bytes: number[] = [];
        for (let i = 15; i >= 0; i--) bytes.push(Number((ip.value >> BigInt(i * 8)) & 0xffn));
        const theirs = (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
        expect(formatIp(ip)).toBe(theirs);
      }),
    );
  });

  it('compresses the first of two equal zero runs and never a single zero group', () => {
    expect(formatIp(parseIp('1:0:0:2:0:0:3:4') as Ip)).toBe('1::2:0:0:3:4');
    expect(formatIp(parseIp('1:0:2:3:4:5:6:7') as Ip)).toBe('1:0:2:3:4:5:6:7');
  });
});

describe('ipKey', () => {
  it('is injective across families and reversible', () => {
    fc.assert(
      fc.property(anyIp, anyIp, (a, b) => {
        expect(ipFromKey(ipKey(a))).toEqual(a);
        expect(ipKey(a) === ipKey(b)).toBe(compareIps(a, b) === 0);
      }),
    );
  });
});

describe('isBuggyIp', () => {
  it('flags every IPv4 address ending in .0 or .255 and no IPv6 address', () => {
    expect(isBuggyIp(parseIp('10.1.2.0') as Ip)).toBe(true);
    expect(isBuggyIp(parseIp('10.1.2.255') as Ip)).toBe(true);
    expect(isBuggyIp(parseIp('10.1.2.1') as Ip)).toBe(false);
    expect(isBuggyIp(parseIp('fc00::ff') as Ip)).toBe(false);
    expect(isBuggyIp(parseIp('fc00::') as Ip)).toBe(false);
  });
});
