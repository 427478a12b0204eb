import { flushLogger, type Logger } from '../observability/logger.js';

/**
 * Catches SIGINT/SIGTERM (and SIGHUP) from the moment a command starts, so a signal during
 * start-up still ends in an orderly stop (reverting host state) instead of Node's default of
 * dying on the spot: `requested` resolves with the first signal; the command awaits it once its
 * start-up is done. A second SIGINT/SIGTERM during a slow stop exits at once with code 1.
 */
export class Signals {
  readonly requested: Promise<NodeJS.Signals>;
  /** Called on SIGHUP once set (before that, SIGHUP is ignored). */
  onReload: (() => void) | undefined;
  private got: NodeJS.Signals | undefined;
  private resolve: ((s: NodeJS.Signals) => void) | undefined;
  private readonly onStop = (signal: NodeJS.Signals): void => {
    if (this.got !== undefined) {
      this.log.warn({ signal }, 'second signal while stopping: exiting now');
      flushLogger(this.log);
      process.exit(1);
    }
    this.got = signal;
    this.log.info({ signal }, 'stopping');
    this.resolve?.(signal);
  };
  private readonly onHup = (): void => this.onReload?.();

  constructor(private readonly log: Logger) {
    this.requested = new Promise((r) => (this.resolve = r));
    process.on('SIGINT', this.onStop);
    process.on('SIGTERM', this.onStop);
    process.on('SIGHUP', this.onHup);
  }

  dispose(): void {
    process.off('SIGINT', this.onStop);
    process.off('SIGTERM', this.onStop);
    process.off('SIGHUP', this.onHup);
  }
}

