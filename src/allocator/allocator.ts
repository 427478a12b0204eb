import type { Config, Pool } from '../config/types.js';
import { formatIp, ipKey, parseIp, type Ip, type IpFamily } from '../ip/address.js';
import { CidrSpace, usableAddresses } from './free-space.js';
import { candidatePools, poolAcceptsService, type NamespaceLabels } from './pool-selection.js';
import { ALLOCATION_CODES as C, type AllocationCode } from './result-codes.js';
import {
  ANNOTATIONS,
  familyOfIps,
  primaryFamily,
  quoteIps,
  toServiceRequest,
  type IpFamilyPolicy,
  type ServiceFamily,
  type ServiceInput,
  type ServiceRequest,
} from './service.js';

export interface AllocatorOptions {
  /** Labels of a namespace, for serviceAllocation.namespaceSelectors. Default: none known. */
  readonly namespaceLabels?: NamespaceLabels;
  /**
   * The spec.loadBalancerClass l2vip handles (MetalLB's --lb-class). Undefined: only Services
   * without a class; set: only Services of that class.
   */
  readonly loadBalancerClass?: string;
}

/** An assignment a Service lost, and why. */
export interface ClearedAssignment {
  readonly ips: readonly string[];
  readonly code: AllocationCode;
  readonly reason: string;
}

/** Something worth an event that did not prevent the Service from keeping its IPs. */
export interface AllocationWarning {
  readonly code: AllocationCode;
  readonly reason: string;
}

export type AllocationResult =
  | {
      readonly ok: true;
      /** Canonical text, in status order: as requested, or IPv4 then IPv6 when chosen by l2vip. */
      readonly ips: readonly string[];
      readonly pool: string;
      /** Set when the Service held other IPs before this call and lost them. */
      readonly cleared?: ClearedAssignment;
      readonly warning?: AllocationWarning;
    }
  | {
      readonly ok: false;
      readonly code: AllocationCode;
      readonly reason: string;
      readonly cleared?: ClearedAssignment;
    };

/** A Service that lost its IPs in setConfig. */
export interface LostAssignment {
  readonly key: string;
  readonly ips: readonly string[];
  readonly pool: string;
  readonly code: AllocationCode;
  readonly reason: string;
}

/** Addresses of a pool: assigned (distinct IPs in use, a shared IP counts once) and still available. */
export interface PoolStats {
  readonly assignedV4: bigint;
  readonly assignedV6: bigint;
  readonly availableV4: bigint;
  readonly availableV6: bigint;
}

export interface Assignment {
  readonly key: string;
  readonly ips: readonly string[];
  readonly pool: string;
}

interface PoolState {
  pool: Pool;
  readonly spaces: readonly CidrSpace[];
  readonly fingerprint: string;
  readonly capacity4: bigint;
  readonly capacity6: bigint;
  assigned4: number;
  assigned6: number;
}

interface IpUse {
  readonly ip: Ip;
  readonly key: bigint;
  state: PoolState;
  space: CidrSpace;
  sharing: string;
  backend: string;
  /** The IP lies in no pool any more (set during setConfig). */
  orphan: boolean;
  readonly services: Set<string>;
  /** "TCP/80" -> service key. */
  readonly ports: Map<string, string>;
}

interface Holder {
  readonly key: string;
  req: ServiceRequest;
  readonly ips: readonly Ip[];
  state: PoolState;
}

interface IndexEntry {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
  readonly state: PoolState;
  readonly space: CidrSpace;
}

type Failure = Extract<AllocationResult, { ok: false }>;
type Success = Extract<AllocationResult, { ok: true }>;
type Found = { 4?: bigint; 6?: bigint };

function fail(code: AllocationCode, reason: string): Failure {
  return { ok: false, code, reason };
}

function groupKey(sharing: string, backend: string): string {
  return `${sharing}\u0000${backend}`;
}

function fingerprint(pool: Pool): string {
  return JSON.stringify([pool.cidrStrings, pool.avoidBuggyIPs]);
}

function sameIps(a: readonly Ip[], b: readonly Ip[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(ipKey));
  return b.every((ip) => keys.has(ipKey(ip)));
}

function sameIpsInOrder(a: readonly Ip[], b: readonly Ip[]): boolean {
  return a.length === b.length && a.every((ip, i) => ipKey(ip) === ipKey(b[i] as Ip));
}

/** serviceFamilyChanged (controller/service.go): held IPs of another family must go. */
function familyChanged(held: readonly Ip[], family: ServiceFamily, policy: IpFamilyPolicy): boolean {
  const heldFamily = familyOfIps(held);
  if (!('family' in heldFamily)) return true;
  if (heldFamily.family === family) return false;
  return !(family === 'dual' && policy === 'PreferDualStack');
}

function newState(pool: Pool): PoolState {
  const spaces = pool.cidrs.map((c) => new CidrSpace(c, pool.avoidBuggyIPs));
  let capacity4 = 0n;
  let capacity6 = 0n;
  for (const s of spaces) {
    const n = usableAddresses(s.cidr, pool.avoidBuggyIPs);
    if (s.family === 4) capacity4 += n;
    else capacity6 += n;
  }
  return { pool, spaces, fingerprint: fingerprint(pool), capacity4, capacity6, assigned4: 0, assigned6: 0 };
}

/**
 * MetalLB's IP allocator (internal/allocator/allocator.go together with the controller's
 * convergeBalancer and allocateIPs in controller/service.go), holding the current Config and
 * every Service's assignment. Pure: no I/O, no timers.
 *
 * On a restart, hand the allocator the existing assignments first (`assign`, or `allocate` with
 * `current`) for every Service that has status IPs, then allocate the others, as MetalLB's
 * reprocessAll does (Services with ingress IPs first), so no new Service takes a held IP.
 */
export class Allocator {
  private config: Config;
  private states = new Map<string, PoolState>();
  private index: IndexEntry[] = [];
  private readonly uses = new Map<bigint, IpUse>();
  private readonly holders = new Map<string, Holder>();
  private readonly namespaceLabels: NamespaceLabels;
  private readonly loadBalancerClass: string | undefined;

  constructor(config: Config, options: AllocatorOptions = {}) {
    this.config = config;
    this.namespaceLabels = options.namespaceLabels ?? (() => undefined);
    this.loadBalancerClass = options.loadBalancerClass;
    for (const pool of config.pools) this.states.set(pool.name, newState(pool));
    this.rebuildIndex();
  }

  /** The configuration in force. */
  get currentConfig(): Config {
    return this.config;
  }

  /** Number of Services holding IPs. */
  get size(): number {
    return this.holders.size;
  }

  /** The IPs and pool of `key` ("namespace/name"), if it holds any. */
  get(key: string): Assignment | undefined {
    const h = this.holders.get(key);
    return h ? { key, ips: h.ips.map(formatIp), pool: h.state.pool.name } : undefined;
  }

  /** Every assignment, in no particular order. */
  assignments(): Assignment[] {
    return [...this.holders.values()].map((h) => ({ key: h.key, ips: h.ips.map(formatIp), pool: h.state.pool.name }));
  }

  /**
   * Converges `service` as MetalLB's controller does: a Service that holds IPs keeps them while
   * they stay valid (same family, still in a pool that accepts it, sharing still allowed, and
   * still what the annotations ask for), gains the missing family under PreferDualStack when
   * its pool has one, and otherwise gets new IPs: the requested ones (metallb.io/loadBalancerIPs
   * or spec.loadBalancerIP), else the first free ones of the requested pool
   * (metallb.io/address-pool), else of the first auto-assign pool that has room.
   *
   * `current` are the Service's status IPs, used when the allocator does not know the Service
   * yet (after a restart). A failure releases whatever the Service held.
   */
  allocate(service: ServiceInput, current?: readonly string[]): AllocationResult {
    const req = toServiceRequest(service);
    const gate = this.gate(req);
    if (gate) {
      this.releaseKey(req.key);
      return gate;
    }
    let cleared: ClearedAssignment | undefined;
    if (!this.holders.has(req.key) && current && current.length > 0) {
      const r = this.assignRequest(req, current);
      if (!r.ok) cleared = { ips: [...current], code: r.code, reason: r.reason };
    }
    const holder = this.holders.get(req.key);
    if (holder) {
      const kept = this.revalidate(holder, req);
      if (kept.ok) return kept;
      cleared = kept.cleared;
    }
    const fresh = this.allocateNew(req);
    if (!cleared) return fresh;
    return fresh.ok ? { ...fresh, cleared } : { ...fresh, cleared, reason: `${cleared.reason}; new allocation: ${fresh.reason}` };
  }

  /**
   * Records that `service` holds `ips` (its status after a restart), if that is still valid:
   * the IPs lie in one pool that accepts the Service, of the Service's family, not taken by a
   * Service it cannot share with, and matching its annotations. Nothing is recorded on failure.
   */
  assign(service: ServiceInput, ips: readonly string[]): AllocationResult {
    const req = toServiceRequest(service);
    const gate = this.gate(req);
    if (gate) return gate;
    return this.assignRequest(req, ips);
  }

  /** Frees the IPs of `key` ("namespace/name"); false if it held none. */
  release(key: string): boolean {
    return this.releaseKey(key);
  }

  /**
   * Switches to `config`. Assignments whose IPs are still in a pool that accepts their Service
   * stay (and follow a renamed pool); the others are released and returned with the reason, to
   * be re-allocated by the caller.
   */
  setConfig(config: Config): LostAssignment[] {
    const next = new Map<string, PoolState>();
    // Pools with the same name and addresses keep their state; holders in one whose
    // serviceAllocation is also unchanged need no re-validation (what makes this O(touched)).
    const reused = new Set<PoolState>();
    const unchanged = new Set<PoolState>();
    for (const pool of config.pools) {
      const prev = this.states.get(pool.name);
      if (prev && prev.fingerprint === fingerprint(pool)) {
        if (JSON.stringify(prev.pool.serviceAllocation) === JSON.stringify(pool.serviceAllocation)) unchanged.add(prev);
        prev.pool = pool;
        reused.add(prev);
        next.set(pool.name, prev);
      } else {
        next.set(pool.name, newState(pool));
      }
    }
    const oldStates = new Map(this.states);
    this.config = config;
    this.states = next;
    this.rebuildIndex();

    for (const state of next.values()) {
      if (reused.has(state)) continue;
      state.assigned4 = 0;
      state.assigned6 = 0;
    }
    for (const use of this.uses.values()) {
      if (reused.has(use.state)) continue;
      const entry = this.lookup(use.ip);
      if (!entry || entry.space.excluded(use.ip.value)) {
        use.orphan = true;
        continue;
      }
      if (entry.space !== use.space && use.sharing !== '') entry.space.addShared(groupKey(use.sharing, use.backend), use.ip.value);
      use.space = entry.space;
      use.state = entry.state;
      if (use.ip.family === 4) entry.state.assigned4++;
      else entry.state.assigned6++;
    }

    const lost: LostAssignment[] = [];
    // Deleting the entry being visited is safe while iterating a Map.
    for (const holder of this.holders.values()) {
      if (unchanged.has(holder.state)) continue;
      const uses = holder.ips.map((ip) => this.uses.get(ipKey(ip)) as IpUse);
      const oldName = holder.state.pool.name;
      let code: AllocationCode | undefined;
      let reason = '';
      const states = new Set(uses.map((u) => u.state));
      if (uses.some((u) => u.orphan) || states.size !== 1) {
        code = C.ipNotInPool;
        reason = `${quoteIps(holder.ips)} is not allowed in config (${this.notInPoolHint(holder.ips, oldStates)})`;
      } else {
        const state = uses[0]?.state as PoolState;
        if (!poolAcceptsService(state.pool, holder.req.service, this.namespaceLabels)) {
          code = C.poolIncompatible;
          reason = `pool ${state.pool.name} not compatible for ip assignment (its serviceAllocation no longer selects this Service)`;
        } else if (holder.req.desiredPool !== undefined && holder.req.desiredPool !== state.pool.name) {
          code = C.poolMismatch;
          reason = `the ${ANNOTATIONS.addressPool} annotation asks for pool "${holder.req.desiredPool}" but ${quoteIps(holder.ips)} now belong to pool "${state.pool.name}"`;
        } else {
          holder.state = state;
        }
      }
      if (code !== undefined) {
        lost.push({ key: holder.key, ips: holder.ips.map(formatIp), pool: oldName, code, reason });
        this.releaseKey(holder.key);
      }
    }
    return lost;
  }

  /** Assigned and available addresses of pool `name` per family; undefined for an unknown pool. */
  poolStats(name: string): PoolStats | undefined {
    const s = this.states.get(name);
    if (!s) return undefined;
    const a4 = BigInt(s.assigned4);
    const a6 = BigInt(s.assigned6);
    return { assignedV4: a4, assignedV6: a6, availableV4: s.capacity4 - a4, availableV6: s.capacity6 - a6 };
  }

  private notInPoolHint(ips: readonly Ip[], oldStates: ReadonlyMap<string, PoolState>): string {
    for (const ip of ips) {
      const entry = this.lookup(ip);
      if (entry && entry.space.excluded(ip.value)) return `pool "${entry.state.pool.name}" now has avoidBuggyIPs: true`;
      if (!entry) {
        const was = [...oldStates.values()].find((s) => s.spaces.some((sp) => sp.contains(ip.value) && sp.family === ip.family));
        return `no IPAddressPool contains ${formatIp(ip)} any more${was ? `; it was in pool "${was.pool.name}"` : ''}`;
      }
    }
    return 'its IPs are now in different pools';
  }

  private gate(req: ServiceRequest): Failure | undefined {
    if (!req.isLoadBalancer) {
      return fail(C.notLoadBalancer, `not a LoadBalancer Service (spec.type is "${req.service.spec?.type ?? ''}")`);
    }
    const want = this.loadBalancerClass;
    const has = req.loadBalancerClass;
    if (want === undefined ? has !== undefined : has !== want) {
      return fail(
        C.otherClass,
        has === undefined
          ? `the Service has no spec.loadBalancerClass and l2vip handles only class "${want}"`
          : `spec.loadBalancerClass is "${has}": the Service belongs to another load-balancer implementation`,
      );
    }
    if (this.config.pools.length === 0) return fail(C.noPools, 'no IPAddressPool is configured');
    if (req.familyError !== undefined || req.family === undefined) return fail(C.invalidService, req.familyError ?? 'unknown IP family');
    return undefined;
  }

  private assignRequest(req: ServiceRequest, texts: readonly string[]): AllocationResult {
    const ips: Ip[] = [];
    for (const t of texts) {
      const ip = parseIp(t);
      if (!ip) return fail(C.invalidService, `invalid IP ${JSON.stringify(t)}`);
      ips.push(ip);
    }
    if (familyChanged(ips, req.family as ServiceFamily, req.policy)) {
      return fail(C.familyMismatch, `${quoteIps(ips)} do not match the Service's IP family (${req.family})`);
    }
    const r = this.tryAssign(req, ips);
    if (!r.ok) return r;
    const mismatch = this.requestMismatch(req, ips, r.pool);
    if (mismatch) {
      this.releaseKey(req.key);
      return mismatch;
    }
    return r;
  }

  /** The Service now asks for another pool or other IPs than `ips` (convergeBalancer). */
  private requestMismatch(req: ServiceRequest, ips: readonly Ip[], pool: string): Failure | undefined {
    if (req.desiredPool !== undefined && req.desiredPool !== pool) {
      return fail(C.poolMismatch, `the ${ANNOTATIONS.addressPool} annotation asks for pool "${req.desiredPool}" but ${quoteIps(ips)} are from pool "${pool}"`);
    }
    if (req.desiredIps && !sameIps(req.desiredIps, ips)) {
      return fail(C.poolMismatch, `the Service requests ${quoteIps(req.desiredIps)} instead of ${quoteIps(ips)}`);
    }
    return undefined;
  }

  private revalidate(holder: Holder, req: ServiceRequest): Success | { ok: false; cleared: ClearedAssignment } {
    const ips = holder.ips;
    const drop = (code: AllocationCode, reason: string): { ok: false; cleared: ClearedAssignment } => {
      this.releaseKey(req.key);
      return { ok: false, cleared: { ips: ips.map(formatIp), code, reason } };
    };
    if (familyChanged(ips, req.family as ServiceFamily, req.policy)) {
      return drop(C.familyMismatch, `${quoteIps(ips)} do not match the Service's IP family (${req.family}) any more`);
    }
    const r = this.tryAssign(req, ips);
    if (!r.ok) return drop(r.code, `current IP for "${req.key}" not allowed by config: ${r.reason}`);
    // convergeBalancer's order: a changed pool request clears; unreadable requested IPs keep
    // the current ones (MetalLB reports the error and leaves the status alone).
    const poolMismatch = this.requestMismatch({ ...req, desiredIps: undefined }, ips, r.pool);
    if (poolMismatch) return drop(poolMismatch.code, poolMismatch.reason);
    if (req.desiredError !== undefined) {
      return { ...r, warning: { code: C.invalidService, reason: `invalid requested loadbalancer IPs: ${req.desiredError}` } };
    }
    const mismatch = this.requestMismatch(req, ips, r.pool);
    if (mismatch) return drop(mismatch.code, mismatch.reason);
    if (ips.length === 1 && req.policy === 'PreferDualStack' && req.family === 'dual') {
      return this.addMissingFamily(req, r);
    }
    return r;
  }

  /** PreferDualStack with one IP: try the other family from the same pool (AllocateFromPoolForAdditionalFamily). */
  private addMissingFamily(req: ServiceRequest, current: Success): Success {
    const holder = this.holders.get(req.key) as Holder;
    const have = holder.ips[0] as Ip;
    const want: IpFamily = have.family === 4 ? 6 : 4;
    const found = this.freeIps(holder.state, req, [want]);
    const extra = found[want];
    if (extra === undefined) {
      return {
        ...current,
        warning: { code: C.noAvailableIps, reason: `cannot assign additional IP in PreferDualStack: no available IPv${want} in pool ${holder.state.pool.name}` },
      };
    }
    const r = this.tryAssign(req, [have, { family: want, value: extra }]);
    if (r.ok) return r;
    return { ...current, warning: { code: r.code, reason: `cannot assign additional IP in PreferDualStack: ${r.reason}` } };
  }

  /** allocateIPs (controller/service.go): requested IPs, else requested pool, else any pool. */
  private allocateNew(req: ServiceRequest): AllocationResult {
    if (req.desiredError !== undefined) return fail(C.invalidService, req.desiredError);
    if (req.desiredIps) {
      if (req.desiredFamily !== req.family) {
        return fail(C.familyMismatch, `requested loadBalancer IP(s) ${quoteIps(req.desiredIps)} does not match the ipFamily of the service`);
      }
      const r = this.tryAssign(req, req.desiredIps);
      if (!r.ok) return r;
      if (req.desiredPool !== undefined && r.pool !== req.desiredPool) {
        this.releaseKey(req.key);
        return fail(
          C.poolMismatch,
          `requested loadBalancer IP(s) ${quoteIps(req.desiredIps)} is not compatible with requested address pool ${req.desiredPool}`,
        );
      }
      return r;
    }
    if (req.desiredPool !== undefined) return this.allocateFromPool(req, req.desiredPool);
    const { pinned, fallback } = candidatePools(this.config.pools, req.service, this.namespaceLabels);
    for (const pools of [pinned, fallback]) {
      const best = this.findBestPool(pools, req);
      if (!best) continue;
      const ips = this.selectForPolicy(best.found, req);
      if (!ips) continue;
      const r = this.tryAssign(req, ips);
      if (r.ok) return r;
    }
    return fail(C.noAvailableIps, 'no available IPs');
  }

  private allocateFromPool(req: ServiceRequest, name: string): AllocationResult {
    const state = this.states.get(name);
    if (!state) return fail(C.unknownPool, `unknown pool "${name}"`);
    const found = this.freeIps(state, req, this.wantedFamilies(req));
    if (found[4] === undefined && found[6] === undefined) return fail(C.noAvailableIps, `no available IPs in pool ${name}`);
    const ips = this.selectForPolicy(found, req);
    if (!ips) return fail(C.noAvailableIps, `no available IPs in pool ${name} for ${req.family} IPFamily`);
    return this.tryAssign(req, ips);
  }

  private wantedFamilies(req: ServiceRequest): IpFamily[] {
    return req.family === 'ipv4' ? [4] : req.family === 'ipv6' ? [6] : [4, 6];
  }

  /** findBestPoolForService: the first pool that serves the Service's family (or families). */
  private findBestPool(pools: readonly Pool[], req: ServiceRequest): { state: PoolState; found: Found } | undefined {
    const primary = primaryFamily(req.service);
    const secondary: IpFamily = primary === 4 ? 6 : 4;
    const wanted = this.wantedFamilies(req);
    let primaryCandidate: { state: PoolState; found: Found } | undefined;
    let secondaryCandidate: { state: PoolState; found: Found } | undefined;
    for (const pool of pools) {
      const state = this.states.get(pool.name);
      if (!state) continue;
      const found = this.freeIps(state, req, wanted);
      if (found[4] === undefined && found[6] === undefined) continue;
      if ((req.family === 'ipv4' && found[4] !== undefined) || (req.family === 'ipv6' && found[6] !== undefined)) {
        return { state, found };
      }
      const p = found[primary];
      const s = found[secondary];
      if (p !== undefined && s !== undefined) return { state, found };
      if (!(req.policy === 'PreferDualStack' && req.family === 'dual')) continue;
      if (p !== undefined && !primaryCandidate) primaryCandidate = { state, found };
      if (s !== undefined && !secondaryCandidate) secondaryCandidate = { state, found };
    }
    return primaryCandidate ?? secondaryCandidate;
  }

  /** selectIPsForFamilyAndPolicy (internal/allocator/allocation.go); IPv4 first. */
  private selectForPolicy(found: Found, req: ServiceRequest): Ip[] | undefined {
    const v4 = found[4] !== undefined ? ({ family: 4, value: found[4] } as const) : undefined;
    const v6 = found[6] !== undefined ? ({ family: 6, value: found[6] } as const) : undefined;
    if (req.family === 'ipv4') return v4 ? [v4] : undefined;
    if (req.family === 'ipv6') return v6 ? [v6] : undefined;
    if (req.policy === 'RequireDualStack') return v4 && v6 ? [v4, v6] : undefined;
    if (req.policy === 'PreferDualStack') {
      if (v4 && v6) return [v4, v6];
      if (v4) return [v4];
      if (v6) return [v6];
    }
    return undefined;
  }

  /** getFreeIPsFromPool: per CIDR in spec order, the first eligible address of each wanted family. */
  private freeIps(state: PoolState, req: ServiceRequest, wanted: readonly IpFamily[]): Found {
    const found: Found = {};
    for (const space of state.spaces) {
      if (!wanted.includes(space.family) || found[space.family] !== undefined) continue;
      const v = this.firstEligible(space, req);
      if (v !== undefined) found[space.family] = v;
    }
    return found;
  }

  /**
   * getIPFromCIDR: the lowest address of `space` that is free, or already used by Services the
   * request may share with (same sharing and backend key, no port in common).
   */
  private firstEligible(space: CidrSpace, req: ServiceRequest): bigint | undefined {
    const free = space.lowestFree(this.uses);
    if (req.sharingKey !== '') {
      const shared = space.shared.get(groupKey(req.sharingKey, req.backendKey));
      if (shared) {
        for (const v of shared) {
          if (free !== undefined && v > free) break;
          const use = this.uses.get(v | space.keyTag);
          if (use && !this.portClash(use, req)) return v;
        }
      }
    }
    return free;
  }

  private portClash(use: IpUse, req: ServiceRequest): string | undefined {
    for (const p of req.ports) {
      const owner = use.ports.get(p);
      if (owner !== undefined && owner !== req.key) return p;
    }
    return undefined;
  }

  /** Assign (internal/allocator/allocator.go): validates `ips` for the request and records them. */
  private tryAssign(req: ServiceRequest, ips: readonly Ip[]): AllocationResult {
    const state = this.poolFor(ips);
    if (!state) return fail(C.ipNotInPool, `${quoteIps(ips)} is not allowed in config`);
    if (!poolAcceptsService(state.pool, req.service, this.namespaceLabels)) {
      return fail(C.poolIncompatible, `pool ${state.pool.name} not compatible for ip assignment`);
    }
    if (ips.length > 2) return fail(C.invalidService, `more than two addresses ${quoteIps(ips)}`);
    if (ips.length === 2 && (ips[0] as Ip).family === (ips[1] as Ip).family) {
      return fail(C.invalidService, `${JSON.stringify(formatIp(ips[0] as Ip))} ${JSON.stringify(formatIp(ips[1] as Ip))} has the same family`);
    }
    for (const ip of ips) {
      const problem = this.checkSharing(req, ip);
      if (problem) return problem;
    }
    this.commit(req, ips, state);
    return { ok: true, ips: ips.map(formatIp), pool: state.pool.name };
  }

  /** checkSharing: may `req` use `ip` next to its current users? */
  private checkSharing(req: ServiceRequest, ip: Ip): Failure | undefined {
    const use = this.uses.get(ipKey(ip));
    if (!use) return undefined;
    const compatible =
      use.sharing !== '' && req.sharingKey !== '' && use.sharing === req.sharingKey && use.backend === req.backendKey;
    if (!compatible) {
      const others = [...use.services].filter((s) => s !== req.key);
      if (others.length > 0) {
        return fail(
          C.ipInUse,
          `can't change sharing key for "${req.key}", address also in use by ${others.sort().join(',')}` +
            ` (to share ${formatIp(ip)}, every Service needs the same ${ANNOTATIONS.allowSharedIP} value` +
            ' and, with externalTrafficPolicy: Local, the same selector)',
        );
      }
    }
    const port = this.portClash(use, req);
    if (port) return fail(C.portInUse, `port ${port} is already in use on "${formatIp(ip)}"`);
    return undefined;
  }

  private commit(req: ServiceRequest, ips: readonly Ip[], state: PoolState): void {
    const old = this.holders.get(req.key);
    if (old && sameIpsInOrder(old.ips, ips)) {
      // Re-validation of a kept assignment: update ports and keys in place, so released
      // addresses are not pushed as holes on every reconcile.
      for (const ip of ips) {
        const use = this.uses.get(ipKey(ip)) as IpUse;
        for (const [port, owner] of [...use.ports]) if (owner === req.key) use.ports.delete(port);
        for (const port of req.ports) use.ports.set(port, req.key);
        if (use.sharing !== req.sharingKey || use.backend !== req.backendKey) {
          if (use.sharing !== '') use.space.removeShared(groupKey(use.sharing, use.backend), use.ip.value);
          use.sharing = req.sharingKey;
          use.backend = req.backendKey;
          if (use.sharing !== '') use.space.addShared(groupKey(use.sharing, use.backend), use.ip.value);
        }
      }
      old.req = req;
      old.state = state;
      return;
    }
    this.releaseKey(req.key);
    for (const ip of ips) {
      const key = ipKey(ip);
      let use = this.uses.get(key);
      if (!use) {
        const entry = this.lookup(ip) as IndexEntry;
        use = {
          ip,
          key,
          state: entry.state,
          space: entry.space,
          sharing: req.sharingKey,
          backend: req.backendKey,
          orphan: false,
          services: new Set(),
          ports: new Map(),
        };
        this.uses.set(key, use);
        if (ip.family === 4) entry.state.assigned4++;
        else entry.state.assigned6++;
        if (use.sharing !== '') use.space.addShared(groupKey(use.sharing, use.backend), ip.value);
      }
      use.services.add(req.key);
      for (const port of req.ports) use.ports.set(port, req.key);
    }
    this.holders.set(req.key, { key: req.key, req, ips: [...ips], state });
  }

  private releaseKey(key: string): boolean {
    const holder = this.holders.get(key);
    if (!holder) return false;
    this.holders.delete(key);
    for (const ip of holder.ips) {
      const use = this.uses.get(ipKey(ip));
      if (!use) continue;
      use.services.delete(key);
      for (const [port, owner] of [...use.ports]) if (owner === key) use.ports.delete(port);
      if (use.services.size > 0) continue;
      this.uses.delete(use.key);
      if (use.orphan) continue;
      if (use.sharing !== '') use.space.removeShared(groupKey(use.sharing, use.backend), ip.value);
      if (ip.family === 4) use.state.assigned4--;
      else use.state.assigned6--;
      use.space.released(ip.value);
    }
    return true;
  }

  /** poolFor: the pool holding every one of `ips` (never a .0/.255 of an avoidBuggyIPs pool). */
  private poolFor(ips: readonly Ip[]): PoolState | undefined {
    let state: PoolState | undefined;
    for (const ip of ips) {
      const e = this.lookup(ip);
      if (!e || e.space.excluded(ip.value)) return undefined;
      if (state && e.state !== state) return undefined;
      state = e.state;
    }
    return state;
  }

  private rebuildIndex(): void {
    const entries: IndexEntry[] = [];
    for (const state of this.states.values()) {
      for (const space of state.spaces) entries.push({ family: space.family, first: space.first, last: space.last, state, space });
    }
    entries.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    this.index = entries;
  }

  private lookup(ip: Ip): IndexEntry | undefined {
    const idx = this.index;
    let lo = 0;
    let hi = idx.length - 1;
    let hit: IndexEntry | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = idx[mid] as IndexEntry;
      if (e.family < ip.family || (e.family === ip.family && e.first <= ip.value)) {
        hit = e;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return hit && hit.family === ip.family && ip.value <= hit.last ? hit : undefined;
  }
}
