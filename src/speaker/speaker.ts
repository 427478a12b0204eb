import type { OwnedSet } from '../announcer/announcer.js';
import type { Clock } from '../clock/clock.js';
import { Elector } from '../election/elect.js';
import type { Metadata, MembershipView } from '../membership/membership.js';
import { compileExcludeList, ineligibilityReason, type ExcludeList } from '../netdev/eligibility.js';
import type { LinkWatcherPort, NetInterface } from '../netdev/link-watcher.js';
import type { Logger } from '../observability/logger.js';
import { computeOwnership, type LinkSummary, type NodeStatus, type ServiceSpec } from './ownership.js';

/** The part of the announcer the speaker drives. */
export interface AnnouncerPort {
  setOwned(owned: OwnedSet): void;
  reannounce(iface: string): void;
  prepare(ifaces: Iterable<string>): void;
  forgetInterface(iface: string): void;
  stop(): void;
}

/** The part of the failure detector the speaker reads and writes. */
export interface MembershipPort {
  view(): MembershipView;
  onChange(handler: (view: MembershipView) => void): () => void;
  setMetadata(metadata: Metadata): void;
  start(): Promise<void>;
  leave(): Promise<void>;
}

/** Local delivery (optional): which VIPs the host accepts, and on which interfaces it announces. */
export interface DeliveryPort {
  set(delivered: Iterable<string>): Promise<void>;
  announceOn(interfaces: Iterable<string>): Promise<void>;
}

export interface DesiredState {
  readonly services: readonly ServiceSpec[];
  /** Default announce interfaces of this node; undefined: every eligible interface. */
  readonly interfaces?: readonly string[] | undefined;
  /** Interface name patterns never used by default (MetalLB's exclude list if undefined). */
  readonly excludePatterns?: readonly string[] | undefined;
}

export interface SpeakerComponents {
  readonly self: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly membership: MembershipPort;
  readonly links: LinkWatcherPort;
  readonly announcer: AnnouncerPort;
  readonly delivery?: DeliveryPort | undefined;
  /** How long a graceful stop keeps answering after publishing `draining`, so the successor announces first. */
  readonly handoffMs?: number;
}

/** What peers learn about this node through membership metadata. */
type SpeakerMetadata = {
  readonly anyUp: boolean;
  readonly down: string[];
  readonly draining: boolean;
};

/** Reads a peer's metadata; anything malformed reads as "not said". */
function readMetadata(m: Metadata | undefined): { links?: LinkSummary; draining?: boolean } {
  if (m === undefined) return {};
  const out: { links?: LinkSummary; draining?: boolean } = {};
  if (typeof m.anyUp === 'boolean' && Array.isArray(m.down)) {
    out.links = { anyUp: m.anyUp, down: m.down.filter((x): x is string => typeof x === 'string') };
  }
  if (typeof m.draining === 'boolean') out.draining = m.draining;
  return out;
}

/**
 * The speaker core, shared by Kubernetes and standalone modes: combines desired state,
 * membership and link state into the owned set, and hands it to the announcer.
 */
export class Speaker {
  private desired: DesiredState = { services: [] };
  private exclude: ExcludeList = compileExcludeList();
  private readonly elector = new Elector();
  private draining = false;
  private started = false;
  private electing = false;
  private lastAlive = new Set<string>();
  private lastMeta = '';
  private owners: ReadonlyMap<string, string | undefined> = new Map();
  private deliveryChain: Promise<void> = Promise.resolve();
  private lastDelivered: string | undefined;
  private deliveryError: unknown;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly log: Logger;

  constructor(private readonly c: SpeakerComponents) {
    this.log = c.logger.child({ component: 'speaker', node: c.self });
  }

  /** Replaces the desired state and re-elects. */
  setDesired(d: DesiredState): void {
    // Compile first: a bad pattern throws here and leaves the running state as it was.
    const exclude = compileExcludeList(d.excludePatterns);
    this.desired = d;
    this.exclude = exclude;
    if (this.started) {
      this.publish();
      this.c.announcer.prepare(this.defaultInterfaces());
      this.reconcile();
    }
  }

  async start(): Promise<void> {
    this.started = true;
    this.unsubscribe.push(this.c.membership.onChange(() => this.reconcile()));
    this.unsubscribe.push(
      this.c.links.onLink((ev) => {
        if (ev.type === 'changed' && ev.iface.flags.lowerUp && !ev.previous.flags.lowerUp) {
          // Clients and switches may have forgotten us while the link was down.
          this.c.announcer.reannounce(ev.iface.name);
        }
        if (ev.type === 'removed' || (ev.type === 'changed' && !sameMac(ev.iface, ev.previous))) {
          this.c.announcer.forgetInterface(ev.iface.name);
        }
        if (ev.type === 'changed' && ev.previous.name !== ev.iface.name) this.c.announcer.forgetInterface(ev.previous.name);
        // A new (or re-created) interface: local delivery re-checks its settings on it.
        if (ev.type === 'added') this.lastDelivered = undefined;
        this.publish();
        this.reconcile();
      }),
    );
    this.c.announcer.prepare(this.defaultInterfaces());
    this.publish();
    await this.c.membership.start();
    // Only now: before its membership runs a node cannot hear its peers, and must not claim.
    this.electing = true;
    this.reconcile();
    // A host that cannot deliver the VIPs fails the start, not silently later.
    await this.deliveryChain;
    const err = this.deliveryError;
    if (err !== undefined) throw err instanceof Error ? err : new Error('local delivery failed', { cause: err });
  }

  /**
   * Graceful stop with a planned handoff: tell the peers we are draining, keep answering while
   * the successor takes over and announces, then stop answering and leave.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.draining = true;
    this.publish();
    const owned = [...this.owners.values()].some((o) => o === this.c.self);
    if (owned) await sleep(this.c.clock, this.c.handoffMs ?? 150);
    for (const u of this.unsubscribe.splice(0)) u();
    this.electing = false;
    this.c.announcer.setOwned(new Map());
    this.c.announcer.stop();
    await this.c.membership.leave();
    await this.deliveryChain;
    this.started = false;
  }

  /** Owner of each service as this node sees it. */
  currentOwners(): ReadonlyMap<string, string | undefined> {
    return this.owners;
  }

  /** Re-elects from the current inputs and applies the result. */
  reconcile(): void {
    if (!this.started || !this.electing) return;
    const view = this.c.membership.view();
    // Once per reconcile, not once per service: an owner of 10 000 VIPs asks for each.
    const defaults = this.defaultInterfaces();
    const usableDefaults = this.usable(defaults);
    const nodes = new Map<string, NodeStatus>();
    for (const [name, m] of view.members) {
      // Our own draining only matters to the peers: we keep answering until the successor has announced.
      const meta = m.self ? { links: this.links(defaults), draining: false } : readMetadata(m.metadata);
      nodes.set(name, { alive: view.alive.has(name), draining: meta.draining ?? false, links: meta.links });
    }
    const localInterfaces = (svc: ServiceSpec): readonly string[] => (svc.interfaces === undefined ? usableDefaults : this.usable(svc.interfaces));
    const { owners, owned } = computeOwnership(this.c.self, this.desired.services, nodes, this.elector, localInterfaces);
    const before = this.owners;
    this.owners = owners;
    this.c.announcer.setOwned(owned);
    // A node came back (restart, healed partition): it may have announced our VIPs meanwhile,
    // so announce ours again instead of waiting for the next refresh.
    const grew = [...view.alive].some((n) => !this.lastAlive.has(n));
    if (grew && this.lastAlive.size > 0) {
      for (const iface of new Set([...owned.values()].flatMap((s) => [...s]))) this.c.announcer.reannounce(iface);
    }
    this.lastAlive = new Set(view.alive);
    for (const [svc, owner] of owners) {
      if (before.get(svc) !== owner) this.log.info({ service: svc, owner: owner ?? null }, owner === undefined ? 'no node can announce' : 'owner elected');
    }
    this.updateDelivery(defaults);
  }

  /** Every candidate node delivers the VIPs, so services can bind to them before a failover. */
  private updateDelivery(defaults: readonly string[]): void {
    const d = this.c.delivery;
    if (d === undefined) return;
    const delivered = this.desired.services.filter((s) => s.nodes.includes(this.c.self)).flatMap((s) => [...s.addresses]);
    const ifaces = this.announceInterfaces(defaults);
    const key = `${delivered.join(',')}|${[...ifaces].join(',')}`;
    if (key === this.lastDelivered) return;
    this.lastDelivered = key;
    this.deliveryChain = this.deliveryChain
      .then(() => d.announceOn(ifaces))
      .then(() => d.set(delivered))
      .then(
        () => (this.deliveryError = undefined),
        (err: unknown) => {
          // Forget what was asked, so the next reconcile tries again.
          this.lastDelivered = undefined;
          this.deliveryError = err;
          this.log.error({ err }, 'local delivery update failed');
        },
      );
  }

  /** The named interfaces this node can announce on now: up, with carrier and an Ethernet MAC. */
  private usable(names: readonly string[]): string[] {
    return names.filter((n) => this.hasCarrier(n) && this.c.links.get(n)?.mac?.length === 6);
  }

  private hasCarrier(name: string): boolean {
    const i = this.c.links.get(name);
    return i !== undefined && i.flags.up && i.flags.lowerUp;
  }

  /** Every interface this node may announce on: its defaults and those services name. */
  private announceInterfaces(defaults: readonly string[]): Set<string> {
    return new Set([...defaults, ...this.desired.services.flatMap((s) => s.interfaces ?? [])]);
  }

  private defaultInterfaces(): string[] {
    if (this.desired.interfaces !== undefined) return [...this.desired.interfaces];
    const lookup = (i: number): NetInterface | undefined => this.c.links.get(i);
    return this.c.links
      .interfaces()
      .filter((i) => ineligibilityReason(i, 'arp', { exclude: this.exclude, lookup }) === undefined)
      .map((i) => i.name);
  }

  private links(defaults: readonly string[] = this.defaultInterfaces()): LinkSummary {
    const down = [...this.announceInterfaces(defaults)].filter((n) => !this.hasCarrier(n));
    return { anyUp: defaults.some((n) => this.hasCarrier(n)), down };
  }

  private publish(): void {
    const l = this.links();
    const meta: SpeakerMetadata = { anyUp: l.anyUp, down: [...l.down], draining: this.draining };
    const text = JSON.stringify(meta);
    if (text === this.lastMeta) return;
    try {
      this.c.membership.setMetadata(meta);
      this.lastMeta = text;
    } catch (err) {
      // Too large (hundreds of interfaces without carrier): peers keep the last version.
      this.log.error({ err }, 'cannot publish this node\'s link state to its peers');
    }
  }
}

function sameMac(a: NetInterface, b: NetInterface): boolean {
  if (a.mac === null || b.mac === null) return a.mac === b.mac;
  return Buffer.compare(a.mac, b.mac) === 0;
}

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
