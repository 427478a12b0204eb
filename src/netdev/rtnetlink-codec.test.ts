import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AF_INET,
  AF_INET6,
  decodeMessages,
  encodeDumpRequest,
  encodeMessage,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWLINK,
  type RtnlMessage,
} from './rtnetlink-codec.js';

const header = (type: number, seq = 1, pid = 0, flags = 0) => ({ type, flags, seq, pid });

describe('rtnetlink codec', () => {
  it('encodes a link dump request as `ip link` does: nlmsghdr + ifinfomsg, NLM_F_REQUEST|NLM_F_DUMP', () => {
    const bytes = encodeDumpRequest(RTM_GETLINK, 7);
    const view = new DataView(bytes.buffer);
    expect(bytes.length).toBe(32);
    expect(view.getUint32(0, true)).toBe(32);
    expect(view.getUint16(4, true)).toBe(RTM_GETLINK);
    expect(view.getUint16(6, true)).toBe(NLM_F_REQUEST | NLM_F_DUMP);
    expect(view.getUint32(8, true)).toBe(7);
    expect(encodeDumpRequest(RTM_GETADDR, 8, AF_INET6)).toHaveLength(24);
    expect(encodeDumpRequest(RTM_GETADDR, 8, AF_INET6)[16]).toBe(AF_INET6);
  });

  it('decodes a datagram holding several messages', () => {
    const link: RtnlMessage = {
      kind: 'newlink',
      header: header(RTM_NEWLINK, 3, 99, 2),
      link: {
        family: 0,
        type: 1,
        index: 4,
        flags: 0x11043,
        change: 0,
        name: 'eth0',
        address: Uint8Array.of(2, 0, 0, 0, 0, 1),
        mtu: 1500,
        master: 9,
        operstate: 6,
        carrier: 1,
        kind: 'veth',
      },
    };
    const addr: RtnlMessage = {
      kind: 'newaddr',
      header: header(20, 3, 99, 2),
      addr: { family: AF_INET, prefixLength: 24, flags: 0x80, scope: 0, index: 4, address: Uint8Array.of(10, 0, 0, 1), local: Uint8Array.of(10, 0, 0, 1), label: 'eth0' },
    };
    const done: RtnlMessage = { kind: 'done', header: header(NLMSG_DONE, 3, 99, 2), errno: 0 };
    const datagram = Buffer.concat([encodeMessage(link), encodeMessage(addr), encodeMessage(done)]);
    expect(decodeMessages(datagram)).toEqual([link, addr, done]);
  });

  it('decodes an NLMSG_ERROR with its positive errno, and an acknowledgement as errno 0', () => {
    const err = encodeMessage({ kind: 'error', header: header(2), errno: 16 });
    expect(decodeMessages(err)).toEqual([{ kind: 'error', header: header(2), errno: 16 }]);
    expect(decodeMessages(encodeMessage({ kind: 'error', header: header(2), errno: 0 }))[0]).toMatchObject({ errno: 0 });
  });

  it('reads a real kernel RTM_NEWLINK for lo', () => {
    // Laid out as rtnl_fill_ifinfo() sends it (net/core/rtnetlink.c), cut to the attributes we read
    // plus one we skip (IFLA_TXQLEN = 13): ifinfomsg{AF_UNSPEC, ARPHRD_LOOPBACK 772, index 1,
    // IFF_UP|IFF_LOOPBACK|IFF_RUNNING|IFF_LOWER_UP}.
    const hex =
      '54000000100002000100000000000000' + // nlmsghdr: len 84, RTM_NEWLINK, NLM_F_MULTI, seq 1
      '000004030100000049000100' + '00000000' + // ifinfomsg
      '070003006c6f0000' + // IFLA_IFNAME "lo"
      '08000d00e8030000' + // IFLA_TXQLEN 1000 (skipped)
      '0800040000000100' + // IFLA_MTU 65536
      '0500100000000000' + // IFLA_OPERSTATE 0 (unknown)
      '0a000100000000000000' + '0000' + // IFLA_ADDRESS 00:00:00:00:00:00, padded
      '0500210001000000'; // IFLA_CARRIER 1
    const [m] = decodeMessages(Buffer.from(hex, 'hex'));
    expect(m).toMatchObject({ kind: 'newlink', link: { family: 0, type: 772, index: 1, flags: 0x10049, name: 'lo', mtu: 65536, operstate: 0, carrier: 1 } });
    expect(m?.kind === 'newlink' && [...m.link.address!]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('reports damage instead of throwing', () => {
    expect(decodeMessages(Uint8Array.of(1, 2, 3))).toEqual([{ kind: 'malformed', reason: expect.stringContaining('shorter than a netlink header') as string }]);
    const bad = encodeMessage({ kind: 'newlink', header: header(RTM_NEWLINK), link: { family: 0, type: 1, index: 2, flags: 0, change: 0, name: 'x' } });
    new DataView(bad.buffer).setUint32(0, 1000, true);
    expect(decodeMessages(bad)[0]).toMatchObject({ kind: 'malformed' });
    // An attribute whose length overruns its message spoils that message only.
    const overrun = encodeMessage({ kind: 'newlink', header: header(RTM_NEWLINK), link: { family: 0, type: 1, index: 2, flags: 0, change: 0, name: 'x' } });
    new DataView(overrun.buffer).setUint16(32, 200, true);
    const done = encodeMessage({ kind: 'done', header: header(NLMSG_DONE), errno: 0 });
    expect(decodeMessages(Buffer.concat([overrun, done])).map((x) => x.kind)).toEqual(['malformed', 'done']);
    // A link message too short for its ifinfomsg.
    const short = Buffer.from('14000000100000000100000000000000' + '00000000', 'hex');
    expect(decodeMessages(short)[0]).toMatchObject({ kind: 'malformed' });
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const out = decodeMessages(bytes);
        expect(Array.isArray(out)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on well-framed messages with random bodies', () => {
    const framed = fc
      .record({ type: fc.constantFrom(2, 3, 16, 17, 20, 21, 24), body: fc.uint8Array({ maxLength: 120 }) })
      .map(({ type, body }) => {
        // nlmsg_len excludes the padding to the next 4-byte boundary (NLMSG_ALIGN).
        const out = new Uint8Array((16 + body.length + 3) & ~3);
        const view = new DataView(out.buffer);
        view.setUint32(0, 16 + body.length, true);
        view.setUint16(4, type, true);
        out.set(body, 16);
        return out;
      });
    fc.assert(fc.property(fc.array(framed, { maxLength: 4 }), (msgs) => {
      const out = decodeMessages(Buffer.concat(msgs));
      expect(out).toHaveLength(msgs.length);
    }), { numRuns: 3000 });
  });

  it('decode(encode(m)) == m', () => {
    const hdr = fc.record({ type: fc.constant(0), flags: fc.integer({ min: 0, max: 0xffff }), seq: fc.nat({ max: 0xffffffff }), pid: fc.nat({ max: 0xffffffff }) });
    const name = fc.string({ maxLength: 15 }).filter((s) => !s.includes('\0'));
    const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const link = fc.record({
      family: fc.constantFrom(0, 7),
      type: fc.integer({ min: 0, max: 0xffff }),
      index: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      flags: fc.nat({ max: 0xffffffff }),
      change: fc.nat({ max: 0xffffffff }),
      name: opt(name),
      address: opt(fc.uint8Array({ minLength: 0, maxLength: 32 })),
      mtu: opt(fc.nat({ max: 0xffffffff })),
      master: opt(fc.nat({ max: 0xffffffff })),
      operstate: opt(fc.integer({ min: 0, max: 255 })),
      carrier: opt(fc.integer({ min: 0, max: 255 })),
      kind: opt(name),
      slaveKind: opt(name),
    });
    const addr = fc.record({
      family: fc.constantFrom(AF_INET, AF_INET6),
      prefixLength: fc.integer({ min: 0, max: 255 }),
      flags: fc.nat({ max: 0xffffffff }),
      scope: fc.integer({ min: 0, max: 255 }),
      index: fc.nat({ max: 0xffffffff }),
      address: opt(fc.uint8Array({ maxLength: 16 })),
      local: opt(fc.uint8Array({ maxLength: 16 })),
      label: opt(name),
    });
    const message: fc.Arbitrary<Exclude<RtnlMessage, { kind: 'malformed' }>> = fc.oneof(
      fc.tuple(fc.constantFrom('newlink' as const, 'dellink' as const), hdr, link).map(([kind, h, l]) => ({ kind, header: { ...h, type: kind === 'newlink' ? 16 : 17 }, link: l })),
      fc.tuple(fc.constantFrom('newaddr' as const, 'deladdr' as const), hdr, addr).map(([kind, h, a]) => ({ kind, header: { ...h, type: kind === 'newaddr' ? 20 : 21 }, addr: a })),
      fc.tuple(fc.constantFrom('done' as const, 'error' as const), hdr, fc.integer({ min: 0, max: 4095 })).map(([kind, h, errno]) => ({ kind, header: { ...h, type: kind === 'done' ? 3 : 2 }, errno })),
      hdr.map((h) => ({ kind: 'other' as const, header: { ...h, type: 24 } })),
    );
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 5 }), (msgs) => {
        expect(decodeMessages(Buffer.concat(msgs.map(encodeMessage)))).toEqual(msgs);
      }),
      { numRuns: 2000 },
    );
  });
});
