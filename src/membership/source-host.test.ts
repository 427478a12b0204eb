import { describe, expect, it } from 'vitest';
import { sourceHost } from './source-host.js';

describe('sourceHost', () => {
  it('takes the host of IPv4 and bracketed IPv6 addresses, canonically', () => {
    expect(sourceHost('192.0.2.1:7946')).toBe('192.0.2.1');
    expect(sourceHost('[2001:db8::1]:7946')).toBe('2001:db8::1');
    expect(sourceHost('[2001:DB8:0:0::1]:7946')).toBe('2001:db8::1');
    expect(sourceHost('[2001:db8:0:0:0:0:0:1]:1')).toBe(sourceHost('[2001:db8::1]:7946'));
  });

  it('treats an IPv4-mapped address as IPv4 and drops a zone', () => {
    expect(sourceHost('[::ffff:192.0.2.1]:7946')).toBe('192.0.2.1');
    expect(sourceHost('[fe80::1%eth0]:7946')).toBe('fe80::1');
  });

  it('keeps hosts that are not IP literals as written', () => {
    expect(sourceHost('a:1')).toBe('a');
    expect(sourceHost('node')).toBe('node');
  });
});
