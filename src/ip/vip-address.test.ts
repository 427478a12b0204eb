import { describe, expect, it } from 'vitest';
import { parseIp } from './address.js';
import { unusableVipReason } from './vip-address.js';

const reason = (text: string): string | undefined => {
  const ip = parseIp(text);
  if (ip === undefined) throw new Error(`bad test address ${text}`);
  return unusableVipReason(ip);
};

describe('VIP address check', () => {
  it.each([
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['169.254.1.1', /link-local/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.255', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['fe80::1', /link-local/],
    ['febf::1', /link-local/],
    ['ff02::1', /multicast/],
  ])('refuses %s', (ip, why) => {
    expect(reason(ip)).toMatch(why);
  });

  it.each(['1.0.0.0', '126.255.255.255', '128.0.0.1', '169.253.255.255', '169.255.0.0', '192.0.2.10', '223.255.255.255', '255.255.255.254', '::2', '2001:db8::1', 'fec0::1', 'fe7f::1', 'fc00::1'])(
    'accepts %s',
    (ip) => {
      expect(reason(ip)).toBeUndefined();
    },
  );
});
