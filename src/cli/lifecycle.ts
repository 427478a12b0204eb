import type { Logger } from '../observability/logger.js';

/**
 * Waits for SIGINT or SIGTERM, then runs `stop` once and resolves. A second signal during a
 * slow stop exits at once with code 1. SIGHUP calls `reload` when given.
 */
export function untilSignal(log: Logger, stop: (signal: NodeJS.Signals) => Promise<void>, reload?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal while stopping: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'stopping');
      stop(signal).then(
        () => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          if (onHup) process.off('SIGHUP', onHup);
          resolve();
        },
        (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
      );
    };
    const onHup = reload ? (): void => reload() : undefined;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (onHup) process.on('SIGHUP', onHup);
  });
}
