import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closeLogger, createLogger, droppedLogBytesTotal } from './logger.js';

describe('logger', () => {
  it('never blocks the event loop when nobody reads its output: lines past the buffer are dropped and counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2vip-log-'));
    // A FIFO opened read-write: a pipe whose reader never reads, like a stalled log collector.
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const fd = openSync(join(dir, 'fifo'), constants.O_RDWR | constants.O_NONBLOCK);
    const log = createLogger('info', fd);
    try {
      const line = 'x'.repeat(200);
      const started = performance.now();
      // 60 000 lines of ~300 bytes: far more than the pipe (64 KiB) and the buffer (4 MiB) hold.
      for (let i = 0; i < 60_000; i++) log.info({ ip: '192.0.2.1', i }, line);
      const logging = performance.now() - started;
      // A timer still fires promptly afterwards: the heartbeats' event loop was never blocked.
      const lag = await new Promise<number>((resolve) => {
        const t0 = performance.now();
        setTimeout(() => resolve(performance.now() - t0), 1);
      });
      expect(droppedLogBytesTotal()).toBeGreaterThan(0);
      expect(logging).toBeLessThan(5_000);
      expect(lag).toBeLessThan(1_000);
    } finally {
      closeLogger(log);
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
