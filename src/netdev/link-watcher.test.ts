import { describe, expect, it } from 'vitest';
import { SocketError } from '../errors.js';
import { LinkWatcher, type NetlinkSocketLike, type OpenNetlinkSocket } from './link-watcher.js';
import type { AddressEvent, LinkEvent } from './interface-table.js';
import type { NativeErrnoError, RecvCallback } from './native.js';
import {
  AF_INET,
  type AddrMessage,
  decodeMessages,
  encodeMessage,
  type LinkMessage,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  RTM_GETLINK,
  type RtnlMessage,
} from './rtnetlink-codec.js';

const UP_ETH = 0x1 | 0x2 | 0x40 | 0x1000 | 0x10000; // linux/if.h: UP BROADCAST RUNNING MULTICAST LOWER_UP
const link = (index: number, name: string, flags = UP_ETH): LinkMessage => ({ family: 0, type: 1, index, flags, change: 0, name, operstate: 6 });
const v4 = (index: number, last: number): AddrMessage => ({ family: AF_INET, prefixLength: 24, flags: 0x80, scope: 0, index, local: Uint8Array.of(10, 0, 0, last) });
type Encodable = Exclude<RtnlMessage, { kind: 'malformed' }>;
const notification = { type: 0, flags: 0, seq: 0, pid: 0 };

/**
 * A scripted kernel: answers dumps from its tables (one reply datagram per dump plus DONE),
 * delivers notifications and errors, and lets a test hold replies back to interleave them.
 */
class FakeKernel {
  readonly portId = 4242;
  links = new Map<number, LinkMessage>();
  addrs: AddrMessage[] = [];
  requests: { type: number; seq: number }[] = [];
  closed = false;
  /** When set, dump replies wait in `held` until release(). */
  hold = false;
  held: Uint8Array[] = [];
  /** The next n dumps are marked interrupted. */
  interruptDumps = 0;
  failNextDump = 0;
  private onrecv: RecvCallback | undefined;

  readonly open: OpenNetlinkSocket = (_groups, _rcvbuf, onrecv) => {
    this.onrecv = onrecv;
    const socket: NetlinkSocketLike = {
      portId: this.portId,
      send: (request) => this.request(request),
      close: () => {
        this.closed = true;
      },
    };
    return socket;
  };

  private request(bytes: Uint8Array): void {
    const [m] = decodeMessages(bytes);
    if (m === undefined || m.kind === 'malformed') throw new Error('bad request');
    const { type, seq } = m.header;
    this.requests.push({ type, seq });
    const flags = NLM_F_MULTI | (this.interruptDumps > 0 ? NLM_F_DUMP_INTR : 0);
    this.interruptDumps = Math.max(0, this.interruptDumps - 1);
    const h = (t: number) => ({ type: t, flags, seq, pid: this.portId });
    const replies: Encodable[] =
      type === RTM_GETLINK
        ? [...this.links.values()].map((l) => ({ kind: 'newlink' as const, header: h(16), link: l }))
        : this.addrs.map((a) => ({ kind: 'newaddr' as const, header: h(20), addr: a }));
    const errno = this.failNextDump;
    this.failNextDump = 0;
    replies.push({ kind: 'done', header: h(3), errno });
    const datagram = Buffer.concat(replies.map(encodeMessage));
    if (this.hold) this.held.push(datagram);
    else setImmediate(() => this.deliver(datagram));
  }

  release(): void {
    const held = this.held;
    this.held = [];
    for (const d of held) this.deliver(d);
  }

  deliver(...datagrams: Uint8Array[]): void {
    this.onrecv?.(null, datagrams.map((d) => Buffer.from(d)), new Uint8Array(datagrams.length));
  }

  notify(...messages: Encodable[]): void {
    this.deliver(Buffer.concat(messages.map(encodeMessage)));
  }

  error(code: string): void {
    const err = Object.assign(new Error(`recvfrom(AF_NETLINK): (${code})`), { code, errno: 105, syscall: 'recvfrom' }) as NativeErrnoError;
    this.onrecv?.(err);
  }
}

function setup() {
  const kernel = new FakeKernel();
  kernel.links.set(1, link(1, 'lo', 0x1 | 0x8 | 0x40));
  kernel.links.set(2, link(2, 'eth0'));
  kernel.addrs.push(v4(2, 1));
  const watcher = new LinkWatcher({ openSocket: kernel.open });
  const events: string[] = [];
  watcher.onLink((e: LinkEvent) => events.push(`link ${e.type} ${e.iface.name}`));
  watcher.onAddress((e: AddressEvent) => events.push(`address ${e.type} ${e.address.address} on ${e.iface.name}`));
  return { kernel, watcher, events };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('LinkWatcher', () => {
  it('loads links, then addresses, and reports nothing for the initial snapshot', async () => {
    const { kernel, watcher, events } = setup();
    await watcher.start();
    expect(kernel.requests.map((r) => r.type)).toEqual([18, 22]);
    expect(watcher.interfaces().map((i) => i.name)).toEqual(['lo', 'eth0']);
    expect(watcher.get('eth0')?.addresses.map((a) => a.address)).toEqual(['10.0.0.1']);
    expect(watcher.get(2)?.name).toBe('eth0');
    expect(events).toEqual([]);
    watcher.stop();
    expect(kernel.closed).toBe(true);
  });

  it('reports notifications as link and address events', async () => {
    const { kernel, watcher, events } = setup();
    await watcher.start();
    kernel.notify({ kind: 'newlink', header: notification, link: link(2, 'eth0', UP_ETH & ~0x10000) });
    kernel.notify({ kind: 'newaddr', header: notification, addr: v4(2, 7) }, { kind: 'deladdr', header: notification, addr: v4(2, 1) });
    kernel.notify({ kind: 'newlink', header: notification, link: link(3, 'eth1') });
    expect(events).toEqual(['link changed eth0', 'address added 10.0.0.7 on eth0', 'address removed 10.0.0.1 on eth0', 'link added eth1']);
    expect(watcher.get('eth0')?.flags.lowerUp).toBe(false);
    watcher.stop();
  });

  it('unsubscribes listeners', async () => {
    const { kernel, watcher } = setup();
    await watcher.start();
    const seen: string[] = [];
    const off = watcher.onLink((e) => seen.push(e.type));
    kernel.notify({ kind: 'newlink', header: notification, link: link(3, 'eth1') });
    off();
    kernel.notify({ kind: 'dellink', header: notification, link: link(3, 'eth1') });
    expect(seen).toEqual(['added']);
    watcher.stop();
  });

  it('reloads after ENOBUFS and reports what changed while notifications were lost', async () => {
    const { kernel, watcher, events } = setup();
    await watcher.start();
    kernel.links.delete(2);
    kernel.links.set(4, link(4, 'eth2'));
    kernel.addrs = [v4(4, 9)];
    kernel.error('ENOBUFS');
    await settle();
    await settle();
    await settle();
    expect(events).toEqual(['address removed 10.0.0.1 on eth0', 'link removed eth0', 'link added eth2', 'address added 10.0.0.9 on eth2']);
    expect(watcher.interfaces().map((i) => i.name)).toEqual(['lo', 'eth2']);
    watcher.stop();
  });

  it('during a reload, ignores notifications queued before the dump began and applies later ones', async () => {
    const { kernel, watcher, events } = setup();
    await watcher.start();
    kernel.hold = true;
    kernel.error('ENOBUFS');
    // Queued before the link dump's first reply: older than the dump, which shows eth0 up.
    kernel.notify({ kind: 'newlink', header: notification, link: link(2, 'eth0', 0) });
    kernel.release();
    // After the link dump: a newer change, to be kept.
    kernel.notify({ kind: 'newlink', header: notification, link: link(2, 'eth0', UP_ETH & ~0x1) });
    kernel.release();
    await settle();
    expect(watcher.get('eth0')?.flags.up).toBe(false);
    expect(watcher.get('eth0')?.flags.broadcast).toBe(true);
    expect(events).toEqual(['link changed eth0']);
    watcher.stop();
  });

  it('dumps again when the kernel marks a dump interrupted (NLM_F_DUMP_INTR)', async () => {
    const { kernel, watcher } = setup();
    kernel.interruptDumps = 1;
    await watcher.start();
    expect(kernel.requests.map((r) => r.type)).toEqual([18, 18, 22]);
    watcher.stop();
  });

  it('after a restart, reports what changed while it was stopped', async () => {
    const { kernel, watcher, events } = setup();
    await watcher.start();
    watcher.stop();
    kernel.links.set(3, link(3, 'eth1'));
    await watcher.start();
    expect(events).toEqual(['link added eth1']);
    watcher.stop();
  });

  it('rejects start() with a SocketError when the first dump fails, and closes the socket', async () => {
    const { kernel, watcher } = setup();
    kernel.failNextDump = 16; // EBUSY
    await expect(watcher.start()).rejects.toThrow(SocketError);
    expect(kernel.closed).toBe(true);
  });

  it('rejects a pending start() when stopped', async () => {
    const { kernel, watcher } = setup();
    kernel.hold = true;
    const started = watcher.start();
    watcher.stop();
    await expect(started).rejects.toThrow(/stopped before/);
  });
});
