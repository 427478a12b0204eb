import { flushLogger, type Logger } from '../observability/logger.js';

/** Exit code after an unexpected error (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;

/** The part of `process` the crash handler uses (injectable for tests). */
export interface CrashProcess {
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (err: unknown) => void): unknown;
  off(event: 'uncaughtException' | 'unhandledRejection', listener: (err: unknown) => void): unknown;
  exit(code: number): never;
}

/**
 * A last resort for a bug that escapes every handler: log it, revert what l2vip did to the host
 * (local delivery: routes, lo addresses, the nftables table, sysctls) so the host keeps no half
 * state, then exit with CRASH_EXIT_CODE. The revert gets `graceMs`; a second error exits at once.
 * Returns the uninstaller.
 */
export function installCrashHandler(log: Logger, revert: () => Promise<void>, proc: CrashProcess = process, graceMs = 5_000): () => void {
  let crashing = false;
  const onFatal = (err: unknown): void => {
    if (crashing) proc.exit(CRASH_EXIT_CODE);
    crashing = true;
    log.fatal({ err }, 'unexpected error: reverting local delivery, then exiting');
    const timer = setTimeout(() => {
      flushLogger(log);
      proc.exit(CRASH_EXIT_CODE);
    }, graceMs);
    timer.unref();
    revert()
      .catch((e: unknown) => log.error({ err: e }, 'reverting after the crash failed: run `l2vip cleanup`'))
      .finally(() => {
        clearTimeout(timer);
        flushLogger(log);
        proc.exit(CRASH_EXIT_CODE);
      });
  };
  proc.on('uncaughtException', onFatal);
  proc.on('unhandledRejection', onFatal);
  return () => {
    proc.off('uncaughtException', onFatal);
    proc.off('unhandledRejection', onFatal);
  };
}
