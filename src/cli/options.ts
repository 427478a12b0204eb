import { InvalidArgumentError } from 'commander';
import { UsageError } from '../errors.js';
import { isLogLevel, LOG_LEVELS, type LogLevel } from '../observability/logger.js';

/** commander parser for a non-negative integer option. */
export function parseIntOption(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a non-negative integer');
  return Number(value);
}

/** Help text of every command's --log-level option. */
export const LOG_LEVEL_HELP = LOG_LEVELS.join(', ');

/** commander parser for --log-level, shared by every command that logs: an unknown level is a UsageError (exit 2) naming the allowed ones. */
export function parseLogLevelOption(value: string): LogLevel {
  if (!isLogLevel(value)) throw new UsageError(`--log-level: "${value}" is not a log level (use one of ${LOG_LEVELS.join(', ')})`);
  return value;
}
