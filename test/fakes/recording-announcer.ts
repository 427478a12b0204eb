import type { OwnedSet } from '../../src/announcer/announcer.js';
import type { AnnouncerPort } from '../../src/speaker/speaker.js';

/** An AnnouncerPort that records every owned set it is given and does nothing else. */
export class RecordingAnnouncer implements AnnouncerPort {
  readonly calls: OwnedSet[] = [];
  setOwned(owned: OwnedSet): void {
    this.calls.push(owned);
  }
  /** The last owned set as plain data: IP -> interfaces. */
  last(): Record<string, string[]> {
    return Object.fromEntries([...(this.calls.at(-1) ?? new Map<string, ReadonlySet<string>>())].map(([ip, s]) => [ip, [...s]]));
  }
  reannounce(): void {}
  defend(): void {}
  onConflict(): () => void {
    return () => undefined;
  }
  prepare(): void {}
  forgetInterface(): void {}
  stop(): void {}
}
