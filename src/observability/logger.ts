import { pino, type Logger as PinoLogger } from 'pino';
import { UsageError } from '../errors.js';

/** The logger type every component receives. Components log fixed keys: ip, iface, node, service, reason. */
export type Logger = PinoLogger;

/** pino's levels, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Log lines buffered at most while the reader of stdout is slow (a full pipe, a stalled
 * journald): past this, lines are dropped and counted, never written synchronously. A blocking
 * write would stall the event loop that the failure detector's heartbeats share, and a slow log
 * reader would make peers declare this node dead.
 */
export const LOG_BUFFER_BYTES = 4 * 1024 * 1024;

let droppedLogBytes = 0;

/** Bytes of log lines dropped because the reader was too slow (for metrics). */
export function droppedLogBytesTotal(): number {
  return droppedLogBytes;
}

/**
 * JSON lines to stdout (or the given fd), level from the argument or L2VIP_LOG_LEVEL. Writes are
 * asynchronous and bounded (LOG_BUFFER_BYTES); `flushLogger` before an explicit exit. Throws
 * UsageError on an unknown level.
 */
export function createLogger(level?: string, fd = 1): Logger {
  const lvl = level ?? process.env.L2VIP_LOG_LEVEL ?? 'info';
  if (!isLogLevel(lvl)) {
    const source = level === undefined ? 'L2VIP_LOG_LEVEL' : 'log level';
    throw new UsageError(`${source}: "${lvl}" is not a log level (use one of ${LOG_LEVELS.join(', ')})`);
  }
  const dest = pino.destination({ fd, sync: false, maxLength: LOG_BUFFER_BYTES });
  dest.on('drop', (data: unknown) => {
    droppedLogBytes += typeof data === 'string' ? Buffer.byteLength(data) : 0;
  });
  // A reader that went away (EPIPE): logging stops, the speaker does not.
  dest.on('error', () => undefined);
  return pino({ level: lvl, base: { pid: process.pid } }, dest);
}

type Destination = { flushSync?: () => void; destroy?: () => void };

function destination(log: Logger): Destination | undefined {
  return (log as unknown as Record<symbol, Destination | undefined>)[pino.symbols.streamSym];
}

/** Writes out what is buffered, synchronously: only right before the process exits. */
export function flushLogger(log: Logger): void {
  try {
    destination(log)?.flushSync?.();
  } catch {
    // A reader that is gone (EPIPE) or still full (EAGAIN): nothing more can be done at exit.
  }
}

/** Drops what is buffered and stops writing (before the file descriptor is closed). */
export function closeLogger(log: Logger): void {
  destination(log)?.destroy?.();
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
