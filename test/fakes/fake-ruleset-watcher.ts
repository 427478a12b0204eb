import type { RulesetWatcher } from '../../src/delivery/nft-monitor.js';

/** A RulesetWatcher driven by the test: `fire()` is an `nft monitor` line about the table. */
export class FakeRulesetWatcher implements RulesetWatcher {
  private onChange: (() => void) | undefined;
  starts = 0;

  get watching(): boolean {
    return this.onChange !== undefined;
  }

  start(onChange: () => void): void {
    this.starts++;
    this.onChange = onChange;
  }

  stop(): void {
    this.onChange = undefined;
  }

  fire(): void {
    this.onChange?.();
  }
}
