import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../clock/virtual-clock.js';
import type { Metadata, MembershipView } from '../membership/membership.js';
import { FakeLinks } from '../../test/fakes/fake-links.js';
import type { ServiceSpec } from './ownership.js';
import { DEFAULT_START_GRACE_MS, OWNER_LINES, Speaker, type MembershipPort } from './speaker.js';
import { RecordingAnnouncer } from '../../test/fakes/recording-announcer.js';

/** A membership of this node alone whose setMetadata reports a change synchronously (as a real one may). */
class EagerMembership implements MembershipPort {
  private metadata: Metadata | undefined;
  private readonly handlers = new Set<(v: MembershipView) => void>();
  setMetadataCalls = 0;
  constructor(private readonly self: string) {}
  view(): MembershipView {
    const member = { name: this.self, address: '', state: 'alive' as const, incarnation: 0, lastHeardMsAgo: 0, metadata: this.metadata, self: true };
    return { alive: new Set([this.self]), members: new Map([[this.self, member]]) };
  }
  onChange(handler: (v: MembershipView) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  setMetadata(metadata: Metadata): void {
    this.setMetadataCalls++;
    if (this.setMetadataCalls > 1000) throw new Error('setMetadata recursion');
    this.metadata = metadata;
    for (const h of this.handlers) h(this.view());
  }
  /** A membership event that changes nothing this node announces (a heartbeat-level change). */
  tick(): void {
    for (const h of this.handlers) h(this.view());
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  leave(): Promise<void> {
    return Promise.resolve();
  }
}


function speaker(services: ServiceSpec[]) {
  const lines: { msg: string }[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as { msg: string });
        done();
      },
    }),
  );
  const membership = new EagerMembership('n1');
  const announcer = new RecordingAnnouncer();
  const s = new Speaker({ self: 'n1', clock: new VirtualClock(), logger, membership, links: new FakeLinks(['eth0']), announcer });
  s.setDesired({ services });
  return { s, membership, announcer, lines };
}

const vips = (n: number) => Array.from({ length: n }, (_, i) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`);

describe('speaker with many VIPs and services', () => {
  it('publishes its metadata once even when the membership reports a change from inside setMetadata (no recursion)', async () => {
    const { s, membership, announcer } = speaker([{ name: 'many', addresses: vips(10), nodes: ['n1'] }]);
    await s.start();
    const before = membership.setMetadataCalls;
    // New services: a new digest to publish, while electing.
    s.setDesired({ services: [{ name: 'many', addresses: vips(20), nodes: ['n1'] }] });
    expect(membership.setMetadataCalls - before).toBe(1);
    expect(announcer.calls.at(-1)?.size).toBe(20);
  });

  it('hands the owned set to the announcer only when it changed, not on every membership event', async () => {
    const { s, membership, announcer } = speaker([{ name: 'many', addresses: vips(10_000), nodes: ['n1'] }]);
    await s.start();
    const calls = announcer.calls.length;
    expect(announcer.calls.at(-1)?.size).toBe(10_000);
    for (let i = 0; i < 100; i++) membership.tick();
    expect(announcer.calls.length).toBe(calls);
    // A new desired state is handed over.
    s.setDesired({ services: [{ name: 'many', addresses: vips(9_000), nodes: ['n1'] }] });
    expect(announcer.calls.length).toBe(calls + 1);
    expect(announcer.calls.at(-1)?.size).toBe(9_000);
  });

  it(`logs owner changes one line each up to ${OWNER_LINES} services, one summary line beyond`, async () => {
    const services = vips(5_000).map((ip, i) => ({ name: `ns/svc-${i}`, addresses: [ip], nodes: ['n1'] }));
    const big = speaker(services);
    await big.s.start();
    const elected = big.lines.filter((l) => /owner/.test(l.msg));
    expect(elected.map((l) => l.msg)).toEqual(['owners elected: 5000 services changed owner (5000 to this node)']);
    const small = speaker(services.slice(0, 3));
    await small.s.start();
    expect(small.lines.filter((l) => l.msg === 'owner elected')).toHaveLength(3);
  });
});

/** This node plus a peer that has never been heard (its process not up yet). */
class LatePeerMembership implements MembershipPort {
  peerUp = false;
  private readonly handlers = new Set<(v: MembershipView) => void>();
  view(): MembershipView {
    const self = { name: 'n1', address: '', state: 'alive' as const, incarnation: 1, lastHeardMsAgo: 0, metadata: undefined, self: true };
    const peer = { name: 'n2', address: '', state: this.peerUp ? ('alive' as const) : ('dead' as const), incarnation: this.peerUp ? 1 : 0, lastHeardMsAgo: this.peerUp ? 0 : undefined, metadata: undefined, self: false };
    return { alive: new Set(this.peerUp ? ['n1', 'n2'] : ['n1']), members: new Map([['n1', self], ['n2', peer]]) };
  }
  onChange(handler: (v: MembershipView) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }
  setMetadata(): void {}
  up(): void {
    this.peerUp = true;
    for (const h of this.handlers) h(this.view());
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  leave(): Promise<void> {
    return Promise.resolve();
  }
}

describe('start grace', () => {
  // n2 preferred: it owns the service whenever it is alive.
  const svc: ServiceSpec = { name: 'web', addresses: ['192.0.2.1'], nodes: ['n1', 'n2'], weights: new Map([['n2', 10]]) };

  function late() {
    const clock = new VirtualClock();
    const membership = new LatePeerMembership();
    const announcer = new RecordingAnnouncer();
    const s = new Speaker({ self: 'n1', clock, logger: pino({ level: 'silent' }), membership, links: new FakeLinks(['eth0']), announcer });
    s.setDesired({ services: [svc] });
    return { clock, membership, announcer, s };
  }

  it(`does not take the VIPs of a peer never heard since its start for ${DEFAULT_START_GRACE_MS} ms, so a peer starting a little later finds no owner change to undo`, async () => {
    const { clock, membership, announcer, s } = late();
    await s.start();
    expect(announcer.calls.at(-1)?.size ?? 0).toBe(0);
    clock.advance(1_500);
    membership.up();
    clock.advance(10_000);
    expect(announcer.calls.every((c) => c.size === 0)).toBe(true);
    expect(s.currentOwners().get('web')).toBe('n2');
  });

  it('takes them when the grace ends and the peer never came', async () => {
    const { clock, announcer, s } = late();
    await s.start();
    clock.advance(DEFAULT_START_GRACE_MS - 10);
    expect(announcer.calls.at(-1)?.size ?? 0).toBe(0);
    clock.advance(20);
    expect(announcer.calls.at(-1)?.size).toBe(1);
  });
});
