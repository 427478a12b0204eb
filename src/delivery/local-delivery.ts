import { mkdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
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
 *   sees every frame: packet taps run before arp_rcv() and its NF_ARP_IN hook. The same table drops the kernel's own ARP requests that would carry
 *   a VIP as sender IP from a node that is not announcing it (`standby`), so a backup node can
 *   never steer clients to itself.
 * - IPv6: a local route is not enough to bind(2) a socket (EADDRNOTAVAIL), so the VIP is added
 *   to `lo` as VIP/128 with `nodad preferred_lft 0`. Linux answers NS only for addresses on the
 *   interface the NS arrived on (ndisc_recv_ns() looks the target up strictly per device), so it
 *   never answers for a VIP on `lo`; `preferred_lft 0` marks it deprecated so source address
 *   selection (RFC 6724 rule 3) never uses it for outgoing connections.
 *
 * Nothing host-wide is changed (no sysctl). What was added is recorded in a state file per
 * network namespace, so a restart after kill -9 removes the leftovers before starting.
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
}

/** The nftables ruleset, as one `nft -f` script. */
export function nftRuleset(): string {
  return [
    `table arp ${NFT_TABLE} {`,
    '  set vips { type ipv4_addr; }',
    '  set standby { type ipv4_addr; }',
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    arp operation request arp daddr ip @vips drop',
    '    arp saddr ip @vips drop',
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    '    arp saddr ip @standby drop',
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
  return ipaddr.parse(ip).kind() === 'ipv4' ? 4 : 6;
}

/**
 * Pure: the commands that turn the `from` state into the `to` state. `preexisting` IPv6
 * addresses (configured by the operator) are neither added nor removed.
 */
export function planDelivery(
  from: { delivered: ReadonlySet<string>; standby: ReadonlySet<string> },
  to: { delivered: ReadonlySet<string>; standby: ReadonlySet<string> },
  preexisting: ReadonlySet<string> = new Set(),
): DeliveryPlan {
  const ip: string[] = [];
  const before: string[] = [];
  const after: string[] = [];
  const elements = (out: string[], set: string, op: 'add' | 'delete', ips: string[]): void => {
    if (ips.length > 0) out.push(`${op} element arp ${NFT_TABLE} ${set} { ${ips.join(', ')} }`);
  };
  const added = [...to.delivered].filter((x) => !from.delivered.has(x));
  const removed = [...from.delivered].filter((x) => !to.delivered.has(x));
  elements(before, 'vips', 'add', added.filter((x) => family(x) === 4));
  elements(before, 'standby', 'delete', [...from.standby].filter((x) => !to.standby.has(x)));
  elements(before, 'standby', 'add', [...to.standby].filter((x) => !from.standby.has(x)));
  for (const x of added) {
    if (family(x) === 4) ip.push(`route replace local ${x}/32 dev lo table local proto ${ROUTE_PROTO} scope host`);
    else if (!preexisting.has(x)) ip.push(`address add ${x}/128 dev lo nodad preferred_lft 0`);
  }
  for (const x of removed) {
    if (family(x) === 4) ip.push(`route del local ${x}/32 dev lo table local proto ${ROUTE_PROTO}`);
    else if (!preexisting.has(x)) ip.push(`address del ${x}/128 dev lo`);
  }
  elements(after, 'vips', 'delete', removed.filter((x) => family(x) === 4));
  return { nftBefore: before.join('\n'), ip, nftAfter: after.join('\n') };
}

/** Local delivery on this host (this network namespace). start() before use, stop() to revert. */
export class LocalDelivery {
  private delivered = new Set<string>();
  private standby = new Set<string>();
  private preexisting = new Set<string>();
  private statePath = '';
  private started = false;
  private readonly log: Logger;

  constructor(private readonly opts: LocalDeliveryOptions) {
    this.log = opts.logger.child({ component: 'delivery' });
  }

  /** Removes leftovers of a crashed run, then installs the nftables table. */
  async start(): Promise<void> {
    const dir = this.opts.stateDir ?? '/run/l2vip';
    const ns = await readlink('/proc/self/ns/net').catch(() => 'net:[unknown]');
    this.statePath = join(dir, `delivery-${ns.replace(/\D/g, '') || 'default'}.json`);
    await mkdir(dir, { recursive: true });
    await this.cleanupLeftovers();
    await this.nft(`${nftRuleset()}`);
    this.started = true;
  }

  /**
   * Sets which VIPs are delivered locally, and which of those this node does not announce
   * (standby: the kernel must not use them as ARP sender addresses).
   */
  async set(delivered: Iterable<string>, announced: Iterable<string>): Promise<void> {
    if (!this.started) throw new Error('LocalDelivery.set() before start()');
    const to = { delivered: new Set(delivered), standby: new Set<string>() };
    const ann = new Set(announced);
    for (const x of to.delivered) if (family(x) === 4 && !ann.has(x)) to.standby.add(x);
    const newV6 = [...to.delivered].filter((x) => family(x) === 6 && !this.delivered.has(x));
    if (newV6.length > 0) {
      const present = await this.v6AddressesPresent();
      for (const x of newV6) {
        if (present.has(x)) {
          this.preexisting.add(x);
          this.log.warn({ ip: x }, 'IPv6 VIP is already configured on this host; leaving it as it is (if it is on an announcing interface, the kernel answers NS for it too)');
        }
      }
    }
    const plan = planDelivery({ delivered: this.delivered, standby: this.standby }, to, this.preexisting);
    // Record first: a crash between the commands and the write must not lose track of an address.
    const ours = new Set([...this.delivered, ...to.delivered].filter((x) => family(x) === 6 && !this.preexisting.has(x)));
    await this.writeState({ v6: [...ours] });
    if (plan.nftBefore.length > 0) await this.nft(plan.nftBefore);
    await this.ipBatch(plan.ip);
    if (plan.nftAfter.length > 0) await this.nft(plan.nftAfter);
    this.delivered = to.delivered;
    this.standby = to.standby;
    await this.writeState({ v6: [...this.delivered].filter((x) => family(x) === 6 && !this.preexisting.has(x)) });
  }

  /** Removes every route, address and rule this instance added. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.cleanupLeftovers();
    this.delivered.clear();
    this.standby.clear();
  }

  private async cleanupLeftovers(): Promise<void> {
    const state = await readFile(this.statePath, 'utf8')
      .then((t) => JSON.parse(t) as StateFile)
      .catch(() => ({ v6: [] }));
    const lines = state.v6.map((x) => `address del ${x}/128 dev lo`);
    lines.push(`route flush table local proto ${ROUTE_PROTO}`);
    await this.ipBatch(lines, true);
    const r = await this.opts.runner.run('nft', ['delete', 'table', 'arp', NFT_TABLE]);
    if (r.code !== 0 && !/No such file|does not exist/i.test(r.stderr)) {
      this.log.warn({ reason: r.stderr.trim() }, 'could not delete the nftables table');
    }
    await rm(this.statePath, { force: true });
  }

  private async v6AddressesPresent(): Promise<Set<string>> {
    const r = await this.opts.runner.run('ip', ['-j', '-6', 'address', 'show']);
    const out = new Set<string>();
    if (r.code !== 0) return out;
    const links = JSON.parse(r.stdout) as { addr_info?: { local?: string }[] }[];
    for (const l of links) for (const a of l.addr_info ?? []) if (a.local) out.add(ipaddr.parse(a.local).toString());
    return out;
  }

  private async writeState(s: StateFile): Promise<void> {
    await writeFile(this.statePath, JSON.stringify(s));
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
