import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { loadNative, type NativeErrnoError, type RecvCallback } from './native.js';
import { decodeMessages, encodeDumpRequest, RTM_GETLINK } from './rtnetlink-codec.js';

// NETLINK_ROUTE needs no privilege, so these run anywhere the addon is built.
const addon = loadNative();

function caught(fn: () => unknown): NativeErrnoError {
  try {
    fn();
  } catch (err) {
    return err as NativeErrnoError;
  }
  throw new Error('did not throw');
}

describe('native addon', () => {
  it('throws errors with the errno name as code, the number and the syscall', () => {
    const err = caught(() => addon.ifNameToIndex('l2vip-none0'));
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'ENODEV', errno: 19, syscall: 'if_nametoindex' });
    expect(err.message).toBe('if_nametoindex: No such device (ENODEV)');
    expect(addon.ifNameToIndex('lo')).toBe(1);
    expect(addon.ifIndexToName(1)).toBe('lo');
  });

  it('checks its arguments', () => {
    expect(() => addon.ifIndexToName(0)).toThrow(RangeError);
    expect(() => new addon.PacketSocket(1.5, 3, null, 0, () => {})).toThrow(RangeError);
    expect(() => new addon.NetlinkSocket(0, 0, 'x' as unknown as RecvCallback)).toThrow(TypeError);
  });

  it('reads a netlink dump through the event loop, in batches', async () => {
    const messages = await new Promise<ReturnType<typeof decodeMessages>>((resolve, reject) => {
      const all: ReturnType<typeof decodeMessages> = [];
      const socket = new addon.NetlinkSocket(0, 0, (...args) => {
        if (args[0] !== null) return reject(args[0]);
        expect(args[2]).toHaveLength(args[1].length);
        for (const d of args[1]) all.push(...decodeMessages(d));
        if (all.some((m) => m.kind === 'done')) {
          socket.close();
          resolve(all);
        }
      });
      expect(socket.portId).toBeGreaterThan(0);
      socket.send(encodeDumpRequest(RTM_GETLINK, 1));
    });
    expect(messages.find((m) => m.kind === 'newlink' && m.link.index === 1)).toMatchObject({ header: { seq: 1 }, link: { name: 'lo' } });
  });

  it('closes idempotently; a closed socket throws EBADF', () => {
    const socket = new addon.NetlinkSocket(0, 0, () => {});
    expect(socket.closed).toBe(false);
    socket.close();
    socket.close();
    expect(socket.closed).toBe(true);
    expect(socket.fd).toBe(-1);
    expect(caught(() => socket.send(encodeDumpRequest(RTM_GETLINK, 1)))).toMatchObject({ code: 'EBADF' });
  });

  it('keeps an open socket alive while nothing else references it (until close)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // An async function awaiting a promise that only the socket's callback resolves: nothing
    // but the socket itself keeps the chain alive, as in LinkWatcher.start().
    const reply = (async () => {
      const got = await new Promise<number>((resolve) => {
        const socket = new addon.NetlinkSocket(0, 0, (...args) => {
          if (args[0] === null) {
            socket.close();
            resolve(args[1].length);
          }
        });
        queueMicrotask(() => {
          gc();
          socket.send(encodeDumpRequest(RTM_GETLINK, 7));
        });
      });
      return got;
    })();
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await reply).toBeGreaterThan(0);
  });
});
