import { VirtualClock } from '../../src/clock/virtual-clock.js';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { Membership, type PeerConfig } from '../../src/membership/membership.js';
import type { MembershipOptions } from '../../src/membership/membership-options.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { MemoryNetwork, type MemoryTransport } from './memory-transport.js';

/** Wall-clock epoch of simulations: virtual ms 0 is this Unix time. */
export const SIM_EPOCH_MS = 1_700_000_000_000;
export const SIM_SECRET = 'simulation secret: 32+ bytes of not-so-random text';

export interface SimClusterOptions {
  readonly size: number;
  readonly seed: number;
  readonly loss?: number;
  readonly delayMs?: number;
  readonly jitterMs?: number;
  /**
   * Datagrams wait at the receiver until its membership's next tick reads them, dated by arrival
   * (PolledUdpTransport, what the membership worker runs). Default false: delivered on arrival
   * (the protocol tests); the timing tests and the benches use true.
   */
  readonly polled?: boolean;
  /** Every node has the beat engine (the addon's, modelled: memory-beat-engine.ts), as the speakers run; implies polled. */
  readonly engine?: boolean;
  readonly options?: MembershipOptions;
  /** Nodes start at random offsets within this many ms of each other (default 2). */
  readonly startSpreadMs?: number;
  readonly logger?: Logger;
  /** Per-node secret (default SIM_SECRET for all): to simulate a node with the wrong key. */
  readonly secretFor?: (name: string) => string;
  /** Per-node secrets accepted on receive only (key rotation). */
  readonly previousSecretsFor?: (name: string) => readonly string[];
}

export interface SimNode {
  readonly name: string;
  readonly address: string;
  readonly transport: MemoryTransport;
  membership: Membership;
}

/**
 * A whole cluster of Membership instances on one VirtualClock and MemoryNetwork, seeded and
 * deterministic: the harness of the membership tests and of bench/election.ts.
 */
export class SimCluster {
  readonly clock = new VirtualClock(0);
  readonly network: MemoryNetwork;
  readonly nodes: SimNode[] = [];
  readonly peers: PeerConfig[];
  private readonly rng: () => number;

  constructor(private readonly o: SimClusterOptions) {
    this.rng = seededRandom(o.seed * 7919 + 17);
    this.network = new MemoryNetwork({
      clock: this.clock,
      seed: o.seed,
      loss: o.loss ?? 0,
      delayMs: o.delayMs ?? 0.2,
      jitterMs: o.jitterMs ?? 0.1,
      polled: o.polled ?? false,
      engine: o.engine ?? false,
      wallClock: () => this.wallClock(),
    });
    this.peers = Array.from({ length: o.size }, (_, i) => ({ name: `node-${i}`, address: `10.0.0.${i + 1}:7946` }));
    for (const p of this.peers) {
      const transport = this.network.transport(p.address);
      this.nodes.push({ ...p, transport, membership: this.member(p.name, transport) });
    }
  }

  /** Starts every node at a random offset within one heartbeat, as real nodes would. */
  static async start(o: SimClusterOptions): Promise<SimCluster> {
    const c = new SimCluster(o);
    for (const n of c.nodes) {
      await n.membership.start();
      c.clock.advance(c.rng() * (o.startSpreadMs ?? 2));
    }
    return c;
  }

  node(name: string): SimNode {
    const n = this.nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /** The node's network goes silent in both directions, as if it crashed (no leave). */
  crash(name: string): void {
    void this.node(name).transport.stop();
  }

  /** Restarts a node: a new Membership (new incarnation: the current wall time) on the same address. */
  async restart(name: string, incarnation?: number): Promise<SimNode> {
    const n = this.node(name);
    await n.membership.stop();
    n.membership = this.member(name, n.transport, incarnation);
    await n.membership.start();
    return n;
  }

  /** A seeded random duration in [0, ms): desynchronises trials from the heartbeat phase. */
  randomPhase(ms: number): number {
    return this.rng() * ms;
  }

  wallClock(): number {
    return SIM_EPOCH_MS + Math.floor(this.clock.now());
  }

  private member(name: string, transport: MemoryTransport, incarnation?: number): Membership {
    return new Membership({
      self: name,
      peers: this.peers,
      secret: this.o.secretFor?.(name) ?? SIM_SECRET,
      previousSecrets: this.o.previousSecretsFor?.(name),
      clock: this.clock,
      transport,
      logger: this.o.logger ?? silentLogger(),
      rng: seededRandom(this.rng() * 2 ** 32),
      wallClock: () => this.wallClock(),
      incarnation: incarnation ?? this.wallClock(),
      options: this.o.options,
    });
  }
}

export interface LossRunResult {
  /** onChange calls (alive set or metadata changed) summed over nodes: 0 means nobody ever lost anyone. */
  readonly changes: number;
  readonly deaths: number;
  readonly suspicions: number;
  readonly refutations: number;
  /** Share of datagrams the network actually dropped. */
  readonly lossSeen: number;
  readonly allAlive: boolean;
}

/** Runs a healthy cluster for `durationMs` with random loss on every link and counts what went wrong. */
export async function simulateLoss(o: SimClusterOptions & { readonly durationMs: number }): Promise<LossRunResult> {
  const c = await SimCluster.start(o);
  let changes = 0;
  for (const n of c.nodes) n.membership.onChange(() => changes++);
  c.advance(o.durationMs);
  const sum = (f: (s: ReturnType<Membership['stats']>) => number): number =>
    c.nodes.reduce((acc, n) => acc + f(n.membership.stats()), 0);
  return {
    changes,
    deaths: sum((s) => s.deaths),
    suspicions: sum((s) => s.suspicions),
    refutations: sum((s) => s.refutations),
    lossSeen: c.network.stats.lost / c.network.stats.sent,
    allAlive: c.nodes.every((n) => n.membership.alive().size === o.size),
  };
}

export interface CrashTrialResult {
  /** Per surviving node: ms from the crash until the victim left its alive set (missing: never). */
  readonly detectMs: readonly number[];
  /** Every survivor still sees every other survivor alive at the end. */
  readonly othersAlive: boolean;
}

/**
 * Starts a cluster, warms it up for `warmupMs` plus a seeded random phase, crashes node
 * `seed % size` silently and watches for `observeMs`.
 */
export async function simulateCrash(o: SimClusterOptions & { readonly warmupMs?: number; readonly observeMs?: number }): Promise<CrashTrialResult> {
  const c = await SimCluster.start(o);
  c.advance((o.warmupMs ?? 250) + c.randomPhase(50));
  const victim = c.nodes[o.seed % o.size]!;
  const t0 = c.clock.now();
  const detectMs: number[] = [];
  for (const n of c.nodes) {
    if (n === victim) continue;
    const off = n.membership.onChange((v) => {
      if (!v.alive.has(victim.name)) {
        detectMs.push(c.clock.now() - t0);
        off();
      }
    });
  }
  c.crash(victim.name);
  c.advance(o.observeMs ?? 500);
  const othersAlive = c.nodes.every((n) => n === victim || n.membership.alive().size === o.size - 1);
  return { detectMs, othersAlive };
}
