import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';

/** The logger type every component receives. Components log fixed keys: ip, iface, node, service, reason. */
export type Logger = PinoLogger;

/** JSON lines to stdout (or the given fd), level from the argument or L2VIP_LOG_LEVEL. */
export function createLogger(level?: string, fd = 1): Logger {
  const lvl = (level ?? process.env.L2VIP_LOG_LEVEL ?? 'info') as LevelWithSilent;
  return pino({ level: lvl, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}

/** A logger that drops everything: for tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
