import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../ip/host-port.js';
import { PeerTargets, SourceTexts } from './udp-addresses.js';

function warnings(): { lines: unknown[]; log: { warn: (o: unknown) => void } } {
  const lines: unknown[] = [];
  return { lines, log: { warn: (o: unknown) => void lines.push(o) } };
}

describe('PeerTargets', () => {
  it('maps an IPv4 peer of an IPv6 socket, refuses the other family for good, warned once', () => {
    const { lines, log } = warnings();
    const t = new PeerTargets(parseHostPort('[::]:7946'), (hp) => `${hp.host}/${hp.port}`, log as never);
    expect(t.get('192.0.2.1:7946')).toBe('::ffff:192.0.2.1/7946');
    const v4 = new PeerTargets(parseHostPort('0.0.0.0:7946'), (hp) => hp.host, log as never);
    expect(v4.get('[2001:db8::1]:7946')).toBeNull();
    expect(v4.get('[2001:db8::1]:7946')).toBeNull();
    expect(v4.get('not an address')).toBeNull();
    expect(lines).toHaveLength(2);
  });

  it('tries again an address the socket refused for now (a zone whose interface appears later), warning once', () => {
    const { lines, log } = warnings();
    let ready = false;
    let calls = 0;
    const t = new PeerTargets(
      parseHostPort('[::]:7946'),
      (hp) => {
        calls++;
        if (!ready) throw new TypeError(`not an IPv6 address: ${hp.host}`);
        return hp.host;
      },
      log as never,
    );
    expect(t.get('[fe80::1]:7946')).toBeNull();
    expect(t.get('[fe80::1]:7946')).toBeNull();
    expect(lines).toHaveLength(1);
    ready = true;
    expect(t.get('[fe80::1]:7946')).toBe('fe80::1');
    expect(t.get('[fe80::1]:7946')).toBe('fe80::1');
    expect(calls).toBe(3); // cached once it worked
  });
});

describe('SourceTexts', () => {
  it('reports an IPv4-mapped source in IPv4 syntax, and the same string object each time', () => {
    const s = new SourceTexts();
    expect(s.text('::ffff:192.0.2.1', 7946)).toBe('192.0.2.1:7946');
    expect(s.text('2001:db8::1', 7946)).toBe('[2001:db8::1]:7946');
    expect(s.text('::ffff:192.0.2.1', 7946)).toBe(s.text('::ffff:192.0.2.1', 7946));
  });
});
