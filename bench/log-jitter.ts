/**
 * bench:log-jitter — heartbeats are 5 ms timers on the event loop that logging shares. With
 * stdout a slow pipe (a stalled journald, a slow log shipper), a synchronous log write waits for
 * the reader and delays every heartbeat behind it; l2vip's logger writes asynchronously into a
 * bounded buffer and drops (and counts) what does not fit. This prints how late a 5 ms timer
 * fires while 20 000 lines/s are logged into a pipe read at 64 KiB/s, for l2vip's logger and for
 * a synchronous pino destination (the previous behaviour), side by side.
 *
 *   npm run bench:log-jitter [-- --seconds 5]
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { closeLogger, createLogger, droppedLogBytesTotal, type Logger } from '../src/observability/logger.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const SECONDS = Number(values.seconds);

/** A FIFO whose reader drains 64 KiB/s; returns the writer's fd and a cleanup. */
function slowPipe(): { fd: number; close: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'l2vip-jitter-'));
  const path = join(dir, 'fifo');
  execFileSync('mkfifo', [path]);
  const reader = spawn(process.execPath, [
    '-e',
    `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(path)},'r');const b=Buffer.alloc(6554);setInterval(()=>{try{fs.readSync(fd,b)}catch{}},100);`,
  ]);
  const fd = openSync(path, constants.O_WRONLY);
  return {
    fd,
    close: () => {
      reader.kill('SIGKILL');
      try {
        closeSync(fd);
      } catch {
        // already closed by the logger
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function measure(make: (fd: number) => Logger, label: string): Promise<void> {
  const pipe = slowPipe();
  const log = make(pipe.fd);
  const lateness: number[] = [];
  let last = performance.now();
  const beat = setInterval(() => {
    const now = performance.now();
    lateness.push(now - last - 5);
    last = now;
  }, 5);
  // 20 000 lines/s, in 1 ms slices, like a flood of per-frame warnings.
  let lines = 0;
  const flood = setInterval(() => {
    for (let i = 0; i < 20; i++) log.warn({ ip: '192.0.2.1', iface: 'eth0', n: lines++ }, 'another host claims an IP this node announces');
  }, 1);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(flood);
  clearInterval(beat);
  const sorted = [...lateness].sort((a, b) => a - b);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  console.log(
    `${label.padEnd(34)} heartbeats ${String(lateness.length).padStart(5)} (expected ${SECONDS * 200})   late p50 ${q(0.5).toFixed(1).padStart(6)} ms   p99 ${q(0.99).toFixed(1).padStart(7)} ms   max ${q(1).toFixed(0).padStart(6)} ms`,
  );
  closeLogger(log);
  pipe.close();
}

console.log(`bench:log-jitter — a 5 ms heartbeat timer while logging 20 000 lines/s into a pipe read at 64 KiB/s, ${SECONDS} s each`);
await measure((fd) => createLogger('info', fd), 'l2vip logger (async, bounded)');
console.log(`  dropped ${(droppedLogBytesTotal() / 1e6).toFixed(1)} MB of log lines (counted in l2vip_log_dropped_bytes_total)`);
await measure((fd) => pino({ level: 'info' }, pino.destination({ fd, sync: true })), 'synchronous pino (before)');
process.exit(0);
