import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../observability/logger.js';
import { CRASH_EXIT_CODE, installCrashHandler } from './crash-handler.js';

class FakeProcess extends EventEmitter {
  exits: number[] = [];
  exit(code: number): never {
    this.exits.push(code);
    return undefined as never;
  }
}

describe('last-resort crash handler', () => {
  it('reverts local delivery before the process exits, once, with exit code 70', async () => {
    const proc = new FakeProcess();
    let reverted = 0;
    const uninstall = installCrashHandler(silentLogger(), () => Promise.resolve(void reverted++), proc);
    proc.emit('uncaughtException', new RangeError('a bug'));
    await new Promise((r) => setImmediate(r));
    expect(reverted).toBe(1);
    expect(proc.exits).toEqual([CRASH_EXIT_CODE]);
    uninstall();
    expect(proc.listenerCount('uncaughtException')).toBe(0);
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
  });

  it('exits even when the revert hangs or fails', async () => {
    const proc = new FakeProcess();
    installCrashHandler(silentLogger(), () => new Promise(() => undefined), proc, 20);
    proc.emit('unhandledRejection', new Error('lost promise'));
    await new Promise((r) => setTimeout(r, 60));
    expect(proc.exits).toEqual([CRASH_EXIT_CODE]);
    const failing = new FakeProcess();
    installCrashHandler(silentLogger(), () => Promise.reject(new Error('ip failed')), failing);
    failing.emit('uncaughtException', new Error('x'));
    await new Promise((r) => setImmediate(r));
    expect(failing.exits).toEqual([CRASH_EXIT_CODE]);
  });
});
