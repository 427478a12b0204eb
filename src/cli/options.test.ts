import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import { buildProgram } from './program.js';
import { parseLogLevelOption } from './options.js';

describe('--log-level', () => {
  it('accepts every pino level', () => {
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) expect(parseLogLevelOption(level)).toBe(level);
  });

  it('refuses an unknown level with a UsageError (exit 2) listing the allowed ones', () => {
    expect(() => parseLogLevelOption('verbose')).toThrow(UsageError);
    expect(() => parseLogLevelOption('INFO')).toThrow('--log-level: "INFO" is not a log level (use one of trace, debug, info, warn, error, fatal, silent)');
    expect(() => parseLogLevelOption('loud')).toThrow(expect.objectContaining({ code: 'L2VIP_USAGE', exitCode: 2 }));
  });

  it.each([['announce', '-i', 'l2vip-none0', '192.0.2.1'], ['standalone', '-c', '/nonexistent.yaml'], ['speaker', '--node-name', 'n1'], ['controller', '--kubeconfig', '/nonexistent']])(
    '%s refuses a bad level before doing anything else',
    async (...args) => {
      const program = await buildProgram();
      program.commands.forEach((c) => c.exitOverride());
      await expect(program.parseAsync(['node', 'l2vip', ...args, '--log-level', 'loud'])).rejects.toThrow(UsageError);
    },
  );

  it('refuses a bad L2VIP_LOG_LEVEL with a UsageError naming the variable', () => {
    const saved = process.env.L2VIP_LOG_LEVEL;
    process.env.L2VIP_LOG_LEVEL = 'chatty';
    try {
      expect(() => createLogger()).toThrow(/^L2VIP_LOG_LEVEL: "chatty" is not a log level/);
    } finally {
      if (saved === undefined) delete process.env.L2VIP_LOG_LEVEL;
      else process.env.L2VIP_LOG_LEVEL = saved;
    }
  });
});
