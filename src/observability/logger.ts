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

/** JSON lines to stdout (or the given fd), level from the argument or L2VIP_LOG_LEVEL. Throws UsageError on an unknown level. */
export function createLogger(level?: string, fd = 1): Logger {
  const lvl = level ?? process.env.L2VIP_LOG_LEVEL ?? 'info';
  if (!isLogLevel(lvl)) {
    const source = level === undefined ? 'L2VIP_LOG_LEVEL' : 'log level';
    throw new UsageError(`${source}: "${lvl}" is not a log level (use one of ${LOG_LEVELS.join(', ')})`);
  }
  return pino({ level: lvl, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
