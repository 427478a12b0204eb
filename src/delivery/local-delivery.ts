import { mkdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalIp, parseIp } from '../ip/address.js';
import type { CommandRunner } from '../host/command-runner.js';
import { HostSetupError } from '../errors.js';
import type { Logger } from '../observability/logger.js';

/**
 * Local delivery: makes the host accept traffic for VIPs while the kernel itself never answers
 * ARP/NDP for them (only our responder does, so a crashed speaker cannot leave its node
 * answering).
 *
 * - IPv4: a `local` route for VIP/32 in table `local` (tagged `proto 250`), so the kernel
 *   delivers packets to the VIP and lets sockets bind to it, and it is never picked as a source
 *   address. Such a route also makes the kernel answer ARP for the VIP (arp_ignore=0), so an
 *   nftables table in the `arp` family drops, before the kernel's ARP code, every ARP request
 *   for a VIP and every ARP frame from another host claiming one (replies to the kernel's own
 *   requests, which it may send with a VIP as sender, still pass). Our AF_PACKET socket still
 *   sees every frame: packet taps run before arp_rcv() and its NF_ARP_IN hook.
 *   Left alone, the kernel would also put a VIP as *sender* address into its own ARP requests
 *   when it resolves a neighbour for a packet sent from the VIP (arp_announce=0), and a backup
 *   node doing that would steer clients to itself. So `arp_announce` is raised to 2 on the
 *   announcing interfaces only: ARP requests carry the interface's own address, on the owner as
 *   on the backups. (Dropping those requests with nftables instead, on nodes not announcing,
 *   delays the new owner's first answers at failover until the rule is updated: measured
 *   hundreds of ms under load in the lab.)
 * - IPv6: a local route is not enough to bind(2) a socket (EADDRNOTAVAIL), so the VIP is added
 *   to `lo` as VIP/128 with `nodad preferred_lft 0`. Linux answers NS only for addresses on the
 *   interface the NS arrived on (ndisc_recv_ns() looks the target up strictly per device), so it
 *   never answers for a VIP on `lo`; `preferred_lft 0` marks it deprecated so source address
 *   selection (RFC 6724 rule 3) never uses it for outgoing connections.
 *
 * Nothing host-wide is changed. What was added, and the previous arp_announce values, are recorded
 * in a state file per network namespace, so a restart after kill -9 reverts the leftovers before
 * starting.
 */
export const ROUTE_PROTO = 250;
const NFT_TABLE = 'l2vip';

export interface LocalDeliveryOptions {
  readonly runner: CommandRunner;
  readonly logger: Logger;
  /** Directory for the crash-recovery state file. */
  readonly stateDir?: string;
}

interface StateFile {
  readonly v6: readonly string[];
  /** interface -> arp_announce value before we raised it. */
  readonly arpAnnounce?: Readonly<Record<string, string>>;
}

/** net.ipv4.conf.<iface>.arp_announce: 2 = always use the best local address of the interface. */
const ARP_ANNOUNCE_BEST = '2';

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

function family(ip: string): 4 | 6 {
  return parseIp(ip)?.family === 4 ? 4 : 6;
}

/**
 * Pure: the commands that turn the `from` set of delivered VIPs into `to`, in the order they
 * must run: the kernel is silenced for a new VIP before its route exists, and unsilenced for an
 * old one only after its route is gone. `preexisting` IPv6 addresses (configured by the
 * operator) are neither added nor removed.
 */
export function planDelivery(from: ReadonlySet<string>, to: ReadonlySet<string>, preexisting: ReadonlySet<string> = new Set()): DeliveryPlan {
  const added = [...to].filter((x) => !from.has(x));
  const removed = [...from].filter((x) => !to.has(x));
  const vips = (op: 'add' | 'delete', ips: string[]): string => (ips.length > 0 ? `${op} element arp ${NFT_TABLE} vips { ${ips.join(', ')} }` : '');
  const ip: string[] = [];
  for (const x of added) {
    if (family(x) === 4) ip.push(`route replace local ${x}/32 dev lo table local proto ${ROUTE_PROTO} scope host`);
    else if (!preexisting.has(x)) ip.push(`address add ${x}/128 dev lo nodad preferred_lft 0`);
  }
  for (const x of removed) {
    if (family(x) === 4) ip.push(`route del local ${x}/32 dev lo table local proto ${ROUTE_PROTO}`);
    else if (!preexisting.has(x)) ip.push(`address del ${x}/128 dev lo`);
  }
  return {
    nftBefore: vips('add', added.filter((x) => family(x) === 4)),
    ip,
    nftAfter: vips('delete', removed.filter((x) => family(x) === 4)),
  };
}

/** Local delivery on this host (this network namespace). start() before use, stop() to revert. */
export class LocalDelivery {
  private delivered = new Set<string>();
  private readonly preexisting = new Set<string>();
  /** interface -> arp_announce before we raised it. */
  private readonly savedArpAnnounce = new Map<string, string>();
  private statePath = '';
  private lockPath = '';
  private started = false;
  private readonly log: Logger;

  constructor(private readonly opts: LocalDeliveryOptions) {
    this.log = opts.logger.child({ component: 'delivery' });
  }

  /**
   * Reverts leftovers of a crashed run, installs the nftables table and raises arp_announce on
   * the announcing interfaces.
   */
  async start(interfaces: Iterable<string>): Promise<void> {
    const dir = this.opts.stateDir ?? '/run/l2vip';
    const ns = await readlink('/proc/self/ns/net').catch(() => 'net:[unknown]');
    const base = join(dir, `delivery-${ns.replace(/\D/g, '') || 'default'}`);
    this.statePath = `${base}.json`;
    this.lockPath = `${base}.pid`;
    await mkdir(dir, { recursive: true });
    await this.lock();
    await this.cleanupLeftovers();
    await this.nft(nftRuleset());
    this.started = true;
    await this.announceOn(interfaces);
  }

  /** Raises arp_announce on more interfaces (an interface that appeared, a config reload). */
  async announceOn(interfaces: Iterable<string>): Promise<void> {
    let changed = false;
    for (const name of interfaces) {
      if (!/^[\w.:@-]+$/.test(name) || name === '.' || name === '..') continue;
      const path = arpAnnouncePath(name);
      const now = await readFile(path, 'utf8').then((t) => t.trim(), () => undefined);
      if (now === undefined) continue; // no such interface (yet), or no IPv4 on it
      if (!this.savedArpAnnounce.has(name)) {
        this.savedArpAnnounce.set(name, now);
        changed = true;
        // Record first: a crash right after the write must still restore the old value.
        await this.writeState();
      }
      // Also when an interface was deleted and created again: it comes back at the default.
      if (Number(now) < 2) await writeFile(path, ARP_ANNOUNCE_BEST);
    }
    if (changed) await this.writeState();
  }

  /** Sets which VIPs the host delivers to local sockets. */
  async set(delivered: Iterable<string>): Promise<void> {
    if (!this.started) throw new Error('LocalDelivery.set() before start()');
    const to = new Set(delivered);
    const newV6 = [...to].filter((x) => family(x) === 6 && !this.delivered.has(x));
    if (newV6.length > 0) {
      const present = await this.v6AddressesPresent();
      for (const x of newV6) {
        if (present.has(x)) {
          this.preexisting.add(x);
          this.log.warn({ ip: x }, 'IPv6 VIP is already configured on this host; leaving it as it is (if it is on an announcing interface, the kernel answers NS for it too)');
        }
      }
    }
    const plan = planDelivery(this.delivered, to, this.preexisting);
    // Record first: a crash between the commands and the write must not lose track of an address.
    await this.writeState(new Set([...this.delivered, ...to]));
    if (plan.nftBefore.length > 0) await this.nft(plan.nftBefore);
    await this.ipBatch(plan.ip);
    if (plan.nftAfter.length > 0) await this.nft(plan.nftAfter);
    this.delivered = to;
    await this.writeState();
  }

  /** Removes every route, address and rule this instance added, and restores arp_announce. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.cleanupLeftovers();
    this.delivered.clear();
    this.savedArpAnnounce.clear();
    await rm(this.lockPath, { force: true });
  }

  /**
   * One l2vip per network namespace manages local delivery: a second one would flush the first
   * one's routes as leftovers. A lock left by a dead process (kill -9) is taken over.
   */
  private async lock(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await writeFile(this.lockPath, String(process.pid), { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = Number(await readFile(this.lockPath, 'utf8').catch(() => ''));
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && (await sameNetnsAlive(holder))) {
        throw new HostSetupError(`another l2vip (pid ${holder}) manages local delivery in this network namespace; stop it first (lock ${this.lockPath})`);
      }
      await rm(this.lockPath, { force: true });
    }
    throw new HostSetupError(`cannot take the local delivery lock ${this.lockPath}`);
  }

  private async cleanupLeftovers(): Promise<void> {
    const state = await readFile(this.statePath, 'utf8')
      .then((t) => JSON.parse(t) as StateFile)
      .then((s) => (Array.isArray(s?.v6) ? s : { v6: [] }))
      .catch((): StateFile => ({ v6: [] }));
    const lines = state.v6.map((x) => `address del ${x}/128 dev lo`);
    lines.push(`route flush table local proto ${ROUTE_PROTO}`);
    await this.ipBatch(lines, true);
    const r = await this.opts.runner.run('nft', ['delete', 'table', 'arp', NFT_TABLE]);
    if (r.code !== 0 && !/No such file|does not exist/i.test(r.stderr)) {
      this.log.warn({ reason: r.stderr.trim() }, 'could not delete the nftables table');
    }
    for (const [name, value] of Object.entries(state.arpAnnounce ?? {})) {
      if (!/^[\w.:@-]+$/.test(name) || name === '.' || name === '..' || !/^\d$/.test(String(value))) continue;
      await writeFile(arpAnnouncePath(name), String(value)).catch(() => undefined);
    }
    await rm(this.statePath, { force: true });
  }

  private async v6AddressesPresent(): Promise<Set<string>> {
    const r = await this.opts.runner.run('ip', ['-j', '-6', 'address', 'show']);
    const out = new Set<string>();
    if (r.code !== 0) return out;
    const links = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
    for (const l of links) {
      for (const a of l.addr_info ?? []) {
        // The same canonical text as the VIPs we are given, so the two compare.
        const ip = a.local === undefined ? undefined : canonicalIp(a.local);
        if (ip !== undefined) out.add(ip);
      }
    }
    return out;
  }

  /** Writes what a crash would leave behind: our IPv6 addresses (of `delivered`) and the saved sysctls. */
  private async writeState(delivered: ReadonlySet<string> = this.delivered): Promise<void> {
    const s: StateFile = {
      v6: [...delivered].filter((x) => family(x) === 6 && !this.preexisting.has(x)),
      arpAnnounce: Object.fromEntries(this.savedArpAnnounce),
    };
    // Write and rename: a crash mid-write must not leave a file that reads as "nothing to undo".
    await writeFile(`${this.statePath}.tmp`, JSON.stringify(s));
    await rename(`${this.statePath}.tmp`, this.statePath);
  }

  private async ipBatch(lines: readonly string[], tolerant = false): Promise<void> {
    if (lines.length === 0) return;
    const r = await this.opts.runner.run('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
    if (r.code !== 0 && !tolerant) {
      throw new HostSetupError(`ip failed for local delivery: ${r.stderr.trim()}`);
    }
  }

  private async nft(script: string): Promise<void> {
    const r = await this.opts.runner.run('nft', ['-f', '-'], script + '\n');
    if (r.code !== 0) {
      throw new HostSetupError(`nft failed for local delivery (is the nf_tables arp family available?): ${r.stderr.trim()}`);
    }
  }
}

/** A live process in our network namespace (a reused pid elsewhere does not count). */
async function sameNetnsAlive(pid: number): Promise<boolean> {
  const [theirs, ours] = await Promise.all([readlink(`/proc/${pid}/ns/net`).catch(() => ''), readlink('/proc/self/ns/net').catch(() => '?')]);
  return theirs === ours;
}

function arpAnnouncePath(iface: string): string {
  return `/proc/sys/net/ipv4/conf/${iface}/arp_announce`;
}
