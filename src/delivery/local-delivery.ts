import { rm } from 'node:fs/promises';
import { parseIp } from '../ip/address.js';
import type { Clock, Timer } from '../clock/clock.js';
import { systemClock } from '../clock/system-clock.js';
import type { CommandRunner } from '../host/command-runner.js';
import { HostSetupError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { NftMonitor, type RulesetWatcher } from './nft-monitor.js';
import {
  DEFAULT_STATE_DIR,
  deliveryPaths,
  foreignLocalRoutes,
  INTERFACE_SYSCTLS,
  isSafeInterfaceName,
  loAddresses,
  NFT_TABLE,
  procSysctl,
  removeLeftovers,
  ROUTE_PROTO,
  SYSCTL_NAMES,
  taggedRoutes,
  takeLock,
  v6Addresses,
  writeState,
  type InterfaceSysctl,
  type LeftoverReport,
  type SysctlPort,
} from './host-state.js';

export { ROUTE_PROTO } from './host-state.js';

/**
 * Local delivery: makes the host accept traffic for VIPs while the kernel itself never answers
 * ARP/NDP for them (only our responder does, so a crashed speaker cannot leave its node
 * answering).
 *
 * - IPv4: a `local` route for VIP/32 in table `local` (tagged `proto 250`), so the kernel
 *   delivers packets to the VIP and lets sockets bind to it, and it is never picked as a source
 *   address. Such a route also makes the kernel answer ARP for the VIP with the default
 *   arp_ignore=0. Two layers keep it silent:
 *   1. `arp_ignore=1` on the announcing interfaces: the kernel answers only for addresses
 *      configured on the interface the request came in on, and a VIP is a route, not an
 *      address. The kernel checks it per packet, so a firewall reload (`nft flush ruleset`)
 *      cannot undo it.
 *   2. an nftables table in the `arp` family drops, before the kernel's ARP code, every ARP
 *      request for a VIP and every ARP frame from another host claiming one, on every interface
 *      (also those l2vip does not announce on). Others can delete it (a firewall reload does):
 *      nftables' own event stream (`nft monitor`, see nft-monitor.ts) tells when something was
 *      deleted from it, and it is then checked and restored at once; a slow listing every
 *      `nftCheckMs` is the safety net for a missed event.
 *   Our AF_PACKET socket sees every frame either way: packet taps run before arp_rcv() and its
 *   NF_ARP_IN hook.
 *   Left alone, the kernel would also put a VIP as *sender* address into its own ARP requests
 *   when it resolves a neighbour for a packet sent from the VIP (arp_announce=0), and a backup
 *   node doing that would steer clients to itself. So `arp_announce` is raised to 2 on the
 *   announcing interfaces: ARP requests carry the interface's own address.
 * - IPv6: a local route is not enough to bind(2) a socket (EADDRNOTAVAIL), so the VIP is added
 *   to `lo` as VIP/128 with `nodad preferred_lft 0`. Linux answers NS only for addresses on the
 *   interface the NS arrived on (ndisc_recv_ns() looks the target up strictly per device), so it
 *   never answers for a VIP on `lo`; `preferred_lft 0` marks it deprecated so source address
 *   selection (RFC 6724 rule 3) never uses it for outgoing connections.
 *
 * Never touched: a route in table local or an IPv6 address that l2vip did not add (a VIP that is
 * already the host's is left as it is, with a warning). Routes are added with `ip route add`
 * (never `replace`) and deleted by their `proto 250` tag.
 *
 * A failed change is retried with exponential backoff (up to 10 s) until it succeeds; after a
 * partial failure what l2vip added is read back from the kernel, so its record stays true.
 * What was added, and the previous sysctl values, are recorded in a state file per network
 * namespace, so a restart after kill -9 (or `l2vip cleanup`) reverts the leftovers.
 */

/**
 * How often the sysctls are checked (reads of /proc, no process). The nftables table is checked
 * when `nft monitor` reports a deletion in it (a flush is repaired in tens of ms), and listed
 * every NFT_CHECK_MS in case an event was missed.
 */
export const VERIFY_MS = 2_000;
/** The safety listing of the nftables table (`nft list table`: a process spawn). */
export const NFT_CHECK_MS = 30_000;
/** Events of one change (a flush deletes rules, set, chain and table) are checked together. */
const EVENT_DELAY_MS = 5;
/** At most one event-driven check per this period after a repair: our own repair is an event too. */
const REPAIR_SPACING_MS = 1_000;
/** The monitor subscribes a moment after it starts; changes before that are caught by this check. */
const FIRST_CHECK_MS = 1_000;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 10_000;

export type DeliveryFailureReason = 'ip' | 'nft' | 'sysctl' | 'state-file';

/** A failed local-delivery step, with the reason it is counted under. */
export class DeliveryFailure extends HostSetupError {
  constructor(
    readonly reason: DeliveryFailureReason,
    message: string,
  ) {
    super(message);
  }
}

/** Counters the metrics module can read. */
export class DeliveryStats {
  /** Failed attempts (first tries and retries) by reason. */
  readonly failures = new Map<DeliveryFailureReason, number>();
  /** Times the nftables table or a sysctl was found changed by someone else and restored. */
  repairs = 0;
  /** True while the last attempt failed (a retry is pending). */
  failing = false;

  toJSON(): { failing: boolean; repairs: number; failures: Record<string, number> } {
    return { failing: this.failing, repairs: this.repairs, failures: Object.fromEntries(this.failures) };
  }
}

export interface LocalDeliveryOptions {
  readonly runner: CommandRunner;
  readonly logger: Logger;
  /** Directory for the crash-recovery state file. */
  readonly stateDir?: string;
  readonly clock?: Clock;
  readonly sysctl?: SysctlPort;
  /** Period of the sysctl check (and of retries' successor checks); 0 turns periodic checks off. */
  readonly verifyMs?: number;
  /** Period of the safety listing of the nftables table; it is listed at least every `verifyMs` when no watcher runs. */
  readonly nftCheckMs?: number;
  /** Reports deletions in the nftables table. Default: `nft monitor`; null: none (listing every `verifyMs`). */
  readonly watcher?: RulesetWatcher | null;
}

/** The nftables ruleset, as one `nft -f` script. */
export function nftRuleset(): string {
  return [
    `table arp ${NFT_TABLE} {`,
    '  set vips { type ipv4_addr; }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    arp operation request arp daddr ip @vips drop',
    '    arp saddr ip @vips drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** One transaction that replaces whatever is left of the table by the full table with `vips`. */
export function nftRestore(vips: readonly string[]): string {
  const lines = [`table arp ${NFT_TABLE} {}`, `delete table arp ${NFT_TABLE}`, nftRuleset()];
  if (vips.length > 0) lines.push(`add element arp ${NFT_TABLE} vips { ${vips.join(', ')} }`);
  return lines.join('\n');
}

/**
 * Commands in the order they must run: the kernel is silenced for a new VIP before its route
 * exists, and unsilenced for an old one only after its route is gone.
 */
export interface DeliveryPlan {
  /** Script for `nft -f -`, run first. */
  readonly nftBefore: string;
  /** Lines for `ip -force -batch -`. */
  readonly ip: readonly string[];
  /** Script for `nft -f -`, run last. */
  readonly nftAfter: string;
}

/**
 * Called for every VIP on every change and check (10 000 of them at a time): text without
 * a colon is IPv4, without a dot IPv6; only a mixed form (IPv4-mapped IPv6) needs the parser.
 */
function family(ip: string): 4 | 6 {
  const colon = ip.includes(':');
  if (!colon) return 4;
  if (!ip.includes('.')) return 6;
  return parseIp(ip)?.family === 4 ? 4 : 6;
}

/**
 * Pure: the commands that turn the `from` set of VIPs l2vip added into `to`. `to` must not hold
 * VIPs the host already has (they are never added, so never removed).
 */
export function planDelivery(from: ReadonlySet<string>, to: ReadonlySet<string>): DeliveryPlan {
  const added = [...to].filter((x) => !from.has(x));
  const removed = [...from].filter((x) => !to.has(x));
  const vips = (op: 'add' | 'delete', ips: string[]): string => (ips.length > 0 ? `${op} element arp ${NFT_TABLE} vips { ${ips.join(', ')} }` : '');
  const ip: string[] = [];
  // `add`, not `replace`: replace would take over a local route the kernel made for one of the
  // host's own addresses, and deleting ours later would take that address's route with it.
  for (const x of added) ip.push(family(x) === 4 ? `route add local ${x}/32 dev lo table local proto ${ROUTE_PROTO} scope host` : `address add ${x}/128 dev lo nodad preferred_lft 0`);
  for (const x of removed) ip.push(family(x) === 4 ? `route del local ${x}/32 dev lo table local proto ${ROUTE_PROTO}` : `address del ${x}/128 dev lo`);
  return {
    nftBefore: vips('add', added.filter((x) => family(x) === 4)),
    ip,
    nftAfter: vips('delete', removed.filter((x) => family(x) === 4)),
  };
}

/** Local delivery on this host (this network namespace). start() before use, stop() to revert. */
export class LocalDelivery {
  readonly stats = new DeliveryStats();
  /** What the caller asked for last. */
  private desired = new Set<string>();
  /** VIPs whose route/address l2vip added (and, IPv4, silenced in nftables). */
  private added = new Set<string>();
  /** Desired VIPs the host already had: never added, never removed. */
  private readonly preexisting = new Set<string>();
  /** interface -> sysctl -> value before we raised it. */
  private readonly saved = new Map<string, Partial<Record<InterfaceSysctl, string>>>();
  private readonly announcing = new Set<string>();
  private statePath = '';
  private lockPath = '';
  private started = false;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: Timer | undefined;
  private eventTimer: Timer | undefined;
  private readonly watcher: RulesetWatcher | undefined;
  /** clock.now() of the last listing of the nftables table, and of the last repair. */
  private lastNftCheck = -Infinity;
  private lastRepair = -Infinity;
  private backoffMs = 0;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly sysctl: SysctlPort;

  constructor(private readonly opts: LocalDeliveryOptions) {
    this.log = opts.logger.child({ component: 'delivery' });
    this.clock = opts.clock ?? systemClock;
    this.sysctl = opts.sysctl ?? procSysctl;
    this.watcher = opts.watcher === null ? undefined : (opts.watcher ?? new NftMonitor({ logger: this.log, table: `arp ${NFT_TABLE}`, clock: this.clock }));
  }

  /**
   * Reverts leftovers of a crashed run, installs the nftables table and raises the sysctls on
   * the announcing interfaces.
   */
  async start(interfaces: Iterable<string>): Promise<void> {
    const paths = await deliveryPaths(this.opts.stateDir ?? DEFAULT_STATE_DIR);
    this.statePath = paths.state;
    this.lockPath = paths.lock;
    await takeLock(this.lockPath);
    try {
      const left = await this.removeLeftovers();
      if (left.routes.length + left.addresses.length + left.sysctls.length > 0) {
        this.log.info({ routes: left.routes.length, addresses: left.addresses.length, sysctls: left.sysctls }, 'removed the leftovers of an earlier run');
      }
      await this.nft(nftRuleset());
      this.lastNftCheck = this.clock.now();
      this.started = true;
      await this.announceOn(interfaces);
    } catch (err) {
      this.started = false;
      await rm(this.lockPath, { force: true });
      throw err;
    }
    if (this.watcher !== undefined) {
      this.watcher.start(() => this.changed());
      // Whatever happened before the monitor subscribed.
      this.lastNftCheck = this.clock.now() - this.nftCheckMs() + FIRST_CHECK_MS;
    }
    this.schedule(this.opts.verifyMs ?? VERIFY_MS);
  }

  /** The VIPs whose route or address l2vip added (not those the host already had). */
  addedVips(): ReadonlySet<string> {
    return this.added;
  }

  /** Raises the sysctls on more interfaces (an interface that appeared, a config reload). */
  announceOn(interfaces: Iterable<string>): Promise<void> {
    const names = [...interfaces].filter(isSafeInterfaceName);
    for (const n of names) this.announcing.add(n);
    return this.serial(() => this.raiseSysctls(names));
  }

  /**
   * Sets which VIPs the host delivers to local sockets. Rejects if the change failed; it is
   * then retried on a timer (exponential backoff up to 10 s) until it succeeds or set() is
   * called again.
   */
  set(delivered: Iterable<string>): Promise<void> {
    if (!this.started) throw new Error('LocalDelivery.set() before start()');
    this.desired = new Set(delivered);
    return this.serial(() => this.attempt());
  }

  /** Removes every route, address and rule this instance added, and restores the sysctls. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.timer?.cancel();
    this.timer = undefined;
    this.eventTimer?.cancel();
    this.eventTimer = undefined;
    this.watcher?.stop();
    await this.queue.catch(() => undefined);
    await this.removeLeftovers();
    this.added.clear();
    this.desired.clear();
    this.saved.clear();
    this.announcing.clear();
    await rm(this.lockPath, { force: true });
  }

  /** Resolves when every queued change and check so far has finished. */
  async whenIdle(): Promise<void> {
    let q: Promise<unknown>;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * The watcher saw something deleted in the table: check it soon (after the rest of the same
   * change has arrived), but never more than once per REPAIR_SPACING_MS after a repair, so that a
   * table that never reads back as expected cannot make repair and its own events loop.
   */
  private changed(): void {
    if (!this.started || this.eventTimer !== undefined) return;
    const delay = Math.max(EVENT_DELAY_MS, this.lastRepair + REPAIR_SPACING_MS - this.clock.now());
    this.eventTimer = this.clock.setTimeout(() => {
      this.eventTimer = undefined;
      this.lastNftCheck = -Infinity;
      this.serial(() => this.attempt()).catch(() => undefined);
    }, delay);
  }

  private nftCheckMs(): number {
    return this.watcher === undefined ? 0 : (this.opts.nftCheckMs ?? NFT_CHECK_MS);
  }

  /** One try of the whole desired state; failures are counted, logged once, and retried. */
  private async attempt(): Promise<void> {
    try {
      await this.apply();
      await this.verify();
    } catch (err) {
      const reason = err instanceof DeliveryFailure ? err.reason : 'ip';
      this.stats.failures.set(reason, (this.stats.failures.get(reason) ?? 0) + 1);
      if (!this.stats.failing) {
        this.stats.failing = true;
        this.log.warn({ reason, err: err instanceof Error ? err.message : String(err) }, 'local delivery failed; retrying with backoff');
      }
      this.backoffMs = this.backoffMs === 0 ? RETRY_FIRST_MS : Math.min(this.backoffMs * 2, RETRY_MAX_MS);
      this.schedule(this.backoffMs);
      throw err;
    }
    if (this.stats.failing) {
      this.stats.failing = false;
      this.backoffMs = 0;
      this.log.info({ vips: this.added.size }, 'local delivery recovered');
      this.schedule(this.opts.verifyMs ?? VERIFY_MS);
    }
  }

  /** The next periodic check (or retry, while failing). */
  private schedule(ms: number): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (!this.started || ms <= 0) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const failing = this.stats.failing;
      this.serial(() => this.attempt()).then(
        () => {
          if (!failing && this.timer === undefined) this.schedule(this.opts.verifyMs ?? VERIFY_MS);
        },
        () => undefined,
      );
    }, ms);
  }

  private async apply(): Promise<void> {
    for (const x of this.preexisting) if (!this.desired.has(x)) this.preexisting.delete(x);
    const candidates = [...this.desired].filter((x) => !this.added.has(x) && !this.preexisting.has(x));
    if (candidates.length > 0) {
      const v4 = candidates.some((x) => family(x) === 4) ? await foreignLocalRoutes(this.opts.runner) : new Set<string>();
      const v6 = candidates.some((x) => family(x) === 6) ? await v6Addresses(this.opts.runner) : new Set<string>();
      const theirs = candidates.filter((x) => (family(x) === 4 ? v4 : v6).has(x));
      for (const x of theirs) this.preexisting.add(x);
      if (theirs.length > 0) {
        this.log.warn({ ips: theirs }, 'VIP already configured on this host (an address or a route l2vip did not add): leaving it as it is, never removing it');
      }
    }
    const target = new Set([...this.desired].filter((x) => !this.preexisting.has(x)));
    const plan = planDelivery(this.added, target);
    if (plan.ip.length === 0) return;
    // A change is followed by a full check (the table it edited may be gone).
    this.lastNftCheck = -Infinity;
    // Record first: a crash between the commands and the write must not lose track of an address.
    await this.saveState(new Set([...this.added, ...target]));
    try {
      if (plan.nftBefore.length > 0) await this.nft(plan.nftBefore);
      await this.ipBatch(plan.ip);
      if (plan.nftAfter.length > 0) await this.nft(plan.nftAfter);
    } catch (err) {
      await this.resync(new Set([...this.added, ...target]));
      throw err;
    }
    this.added = target;
    await this.saveState();
  }

  /**
   * After a failed batch (`ip -batch` runs every line and fails if one did): what l2vip added
   * is read back from the kernel, and the nftables set made to match.
   */
  private async resync(tried: ReadonlySet<string>): Promise<void> {
    const routes = await taggedRoutes(this.opts.runner);
    if (routes === undefined) {
      // Cannot read: assume the worst, so that stop() still removes everything it may have added.
      this.added = new Set([...tried]);
      return;
    }
    const lo = await loAddresses(this.opts.runner);
    this.added = new Set([...routes, ...[...tried].filter((x) => family(x) === 6 && lo.has(x))]);
    await this.saveState().catch(() => undefined);
    await this.nft(nftRestore(this.v4Added())).catch(() => undefined);
  }

  /**
   * Checks that nobody lowered a sysctl, and, when due (an event, the safety period, or a change
   * just made), that nobody removed or changed the nftables table; restores them.
   */
  private async verify(): Promise<void> {
    if (!this.started) return;
    if (this.clock.now() - this.lastNftCheck >= this.nftCheckMs()) await this.verifyNft();
    await this.raiseSysctls([...this.announcing]);
  }

  private async verifyNft(): Promise<void> {
    this.lastNftCheck = this.clock.now();
    const r = await this.opts.runner.run('nft', ['list', 'table', 'arp', NFT_TABLE]);
    const want = this.v4Added();
    const have = r.code === 0 ? nftSetElements(r.stdout) : undefined;
    const rules = r.code === 0 && nftRulesIntact(r.stdout);
    if (have === undefined || !rules || have.size !== want.length || want.some((x) => !have.has(x))) {
      // Before the restore: its own deletions come back as events while it runs.
      this.lastRepair = this.clock.now();
      await this.nft(nftRestore(want));
      this.stats.repairs++;
      this.log.warn({ reason: have === undefined ? 'table deleted' : rules ? 'set changed' : 'rules changed' }, 'the nftables table of l2vip was deleted or changed (a firewall reload?): restored');
    }
  }

  private async raiseSysctls(names: readonly string[]): Promise<void> {
    for (const name of names) {
      for (const key of SYSCTL_NAMES) {
        const now = await this.sysctl.read(name, key);
        if (now === undefined) continue; // no such interface (yet), or no IPv4 on it
        const saved = this.saved.get(name) ?? {};
        if (saved[key] === undefined) {
          this.saved.set(name, { ...saved, [key]: now });
          // Record first: a crash right after the write must still restore the old value.
          await this.saveState();
        }
        if (Number(now) >= INTERFACE_SYSCTLS[key]) continue;
        try {
          await this.sysctl.write(name, key, String(INTERFACE_SYSCTLS[key]));
        } catch (err) {
          throw new DeliveryFailure('sysctl', `cannot set net.ipv4.conf.${name}.${key}: ${(err as Error).message}`);
        }
        // A value lowered after we raised it: someone (a sysctl reload) changed it back.
        if (saved[key] !== undefined) {
          this.stats.repairs++;
          this.log.warn({ iface: name, reason: key }, `net.ipv4.conf.${name}.${key} was lowered by someone else: raised again`);
        }
      }
    }
  }

  private v4Added(): string[] {
    return [...this.added].filter((x) => family(x) === 4);
  }

  private removeLeftovers(): Promise<LeftoverReport> {
    return removeLeftovers({ runner: this.opts.runner, logger: this.log, sysctl: this.sysctl, statePath: this.statePath });
  }

  /** Writes what a crash would leave behind: our IPv6 addresses (of `added`) and the saved sysctls. */
  private async saveState(added: ReadonlySet<string> = this.added): Promise<void> {
    try {
      await writeState(this.statePath, {
        v6: [...added].filter((x) => family(x) === 6),
        sysctls: Object.fromEntries(this.saved),
      });
    } catch (err) {
      throw new DeliveryFailure('state-file', `cannot write ${this.statePath}: ${(err as Error).message}`);
    }
  }

  private async ipBatch(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const r = await this.opts.runner.run('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
    if (r.code !== 0) throw new DeliveryFailure('ip', `ip failed for local delivery: ${r.stderr.trim()}`);
  }

  private async nft(script: string): Promise<void> {
    const r = await this.opts.runner.run('nft', ['-f', '-'], script + '\n');
    if (r.code !== 0) {
      throw new DeliveryFailure('nft', `nft failed for local delivery (is the nf_tables arp family available?): ${r.stderr.trim()}`);
    }
  }
}

/** Both drop rules of nftRuleset() in the output of `nft list table` (a flushed chain has none). */
export function nftRulesIntact(text: string): boolean {
  return (text.match(/@vips drop/g) ?? []).length === 2;
}

/** The IPv4 elements in the output of `nft list set` or `nft list table`. */
export function nftSetElements(text: string): Set<string> {
  const m = /elements\s*=\s*\{([^}]*)\}/.exec(text);
  return new Set(m?.[1]?.match(/\d+\.\d+\.\d+\.\d+/g) ?? []);
}
