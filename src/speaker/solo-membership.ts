import type { Metadata, MembershipView } from '../membership/membership.js';
import type { MembershipPort } from './speaker.js';

/**
 * The membership of a node that announces alone (`l2vip announce`): it is always alive and
 * always the only candidate, so the speaker core owns every VIP it is given.
 */
export class SoloMembership implements MembershipPort {
  private metadata: Metadata | undefined;

  constructor(private readonly self: string) {}

  view(): MembershipView {
    const member = { name: this.self, address: '', state: 'alive' as const, incarnation: 0, lastHeardMsAgo: 0, metadata: this.metadata, self: true };
    return { alive: new Set([this.self]), members: new Map([[this.self, member]]) };
  }

  onChange(): () => void {
    return () => undefined;
  }

  setMetadata(metadata: Metadata): void {
    this.metadata = metadata;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  leave(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
