import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { formatHostPort, parseHostPort } from './host-port.js';

describe('host:port addresses', () => {
  it('parses IPv4 host:port', () => {
    expect(parseHostPort('192.0.2.1:7946')).toEqual({ host: '192.0.2.1', port: 7946, family: 4 });
    expect(parseHostPort('0.0.0.0:0')).toEqual({ host: '0.0.0.0', port: 0, family: 4 });
  });

  it('parses [IPv6]:port, the all-addresses [::] included', () => {
    expect(parseHostPort('[2001:db8::1]:7946')).toEqual({ host: '2001:db8::1', port: 7946, family: 6 });
    expect(parseHostPort('[::]:65535')).toEqual({ host: '::', port: 65535, family: 6 });
  });

  it('formats a host and port back into the syntax it parses', () => {
    expect(formatHostPort('2001:db8::1', 1)).toBe('[2001:db8::1]:1');
    expect(formatHostPort('192.0.2.1', 1)).toBe('192.0.2.1:1');
    for (const text of ['192.0.2.1:7946', '[2001:db8::1]:7946', '[::]:0']) {
      const { host, port } = parseHostPort(text);
      expect(formatHostPort(host, port)).toBe(text);
    }
  });

  it.each([
    ['an IPv6 address without brackets', '2001:db8::1:7946'],
    ['an IPv4 address in brackets', '[192.0.2.1]:1'],
    ['a host name (no DNS)', 'node-a:7946'],
    ['a missing port', '192.0.2.1'],
    ['a missing port after [v6]', '[::1]'],
    ['a port above 65535', '192.0.2.1:70000'],
    ['a port with six digits', '192.0.2.1:000080'],
    ['a negative port', '192.0.2.1:-1'],
    ['an empty port', '192.0.2.1:'],
    ['a bare :port (write 0.0.0.0:port or [::]:port)', ':7946'],
    ['an empty string', ''],
  ])('rejects %s with a ConfigError naming the field', (_what, bad) => {
    expect(() => parseHostPort(bad, 'peers[0].address')).toThrow(ConfigError);
    expect(() => parseHostPort(bad, 'peers[0].address')).toThrow(/^peers\[0\]\.address: /);
  });
});
