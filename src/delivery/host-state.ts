import { readFileSync } from 'node:fs';
import { mkdir, readFile, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandRunner } from '../host/command-runner.js';
import { HostSetupError, VipHostAddressError } from '../errors.js';
import { canonicalIp } from '../ip/address.js';
import type { Logger } from '../observability/logger.js';

/**
 * What local delivery leaves on the host, and how to remove it: the state file, the lock, and
 * the removal of a crashed run's leftovers, shared by LocalDelivery.start() and `l2vip cleanup`.
 */

/** Routes l2vip adds are tagged with this protocol number (rtnetlink RTPROT_*, 250 is unused by Linux). */
export const ROUTE_PROTO = 250;
/** The nftables table (family `arp`) local delivery installs. */
export const NFT_TABLE = 'l2vip';
export const DEFAULT_STATE_DIR = '/run/l2vip';

/** The sysctls raised on announcing interfaces, with the value l2vip needs at least. */
export const INTERFACE_SYSCTLS = {
  // 2: ARP requests the kernel sends carry the interface's own address, never a VIP.
  arp_announce: 2,
  // 1: the kernel answers ARP only for addresses configured on the interface the request came
  // in on; VIPs are local routes, not addresses, so it never answers for them (what kube-proxy's
  // strictARP and MetalLB ask for). Checked by the kernel per packet: no table to be flushed.
  arp_ignore: 1,
} as const;
export type InterfaceSysctl = keyof typeof INTERFACE_SYSCTLS;
export const SYSCTL_NAMES = Object.keys(INTERFACE_SYSCTLS) as InterfaceSysctl[];

/** Reads and writes /proc/sys; a port so tests need no root. */
export interface SysctlPort {
  /** The value, or undefined if there is no such file (no such interface, or no IPv4 on it). */
  read(iface: string, name: InterfaceSysctl): Promise<string | undefined>;
  write(iface: string, name: InterfaceSysctl, value: string): Promise<void>;
}

/**
 * Read synchronously: a /proc/sys file is a few bytes the kernel formats in memory, while an
 * asynchronous readFile is five thread-pool round trips (open, fstat, read, read, close), each a
 * wakeup of the event loop; the periodic check reads two files per interface every 2 s.
 */
function readSysctl(path: string): Promise<string | undefined> {
  try {
    return Promise.resolve(readFileSync(path, 'utf8').trim());
  } catch {
    return Promise.resolve(undefined);
  }
}

export const procSysctl: SysctlPort = {
  read: (iface, name) => readSysctl(sysctlPath(iface, name)),
  write: (iface, name, value) => writeFile(sysctlPath(iface, name), value),
};

function sysctlPath(iface: string, name: InterfaceSysctl): string {
  return `/proc/sys/net/ipv4/conf/${iface}/${name}`;
}

/** An interface name that is safe in a /proc path. */
export function isSafeInterfaceName(name: string): boolean {
  return /^[\w.:@-]+$/.test(name) && name !== '.' && name !== '..';
}

/** The crash-recovery record. */
export interface DeliveryStateFile {
  /** IPv6 addresses l2vip added to lo. */
  readonly v6: readonly string[];
  /** interface -> sysctl -> value before l2vip raised it. */
  readonly sysctls?: Readonly<Record<string, Partial<Record<InterfaceSysctl, string>>>>;
  /** Older files: interface -> arp_announce before l2vip raised it. */
  readonly arpAnnounce?: Readonly<Record<string, string>>;
}

export interface DeliveryPaths {
  readonly state: string;
  readonly lock: string;
}

/** The state file and lock of this network namespace (one pair per netns: one l2vip per netns). */
export async function deliveryPaths(stateDir = DEFAULT_STATE_DIR): Promise<DeliveryPaths> {
  const ns = await readlink('/proc/self/ns/net').catch(() => 'net:[unknown]');
  const base = join(stateDir, `delivery-${ns.replace(/\D/g, '') || 'default'}`);
  return { state: `${base}.json`, lock: `${base}.pid` };
}

export async function readState(path: string): Promise<DeliveryStateFile> {
  return readFile(path, 'utf8')
    .then((t) => JSON.parse(t) as DeliveryStateFile)
    .then((s) => (Array.isArray(s?.v6) ? s : { v6: [] }))
    .catch((): DeliveryStateFile => ({ v6: [] }));
}

/** Write and rename: a crash mid-write must not leave a file that reads as "nothing to undo". */
export async function writeState(path: string, s: DeliveryStateFile): Promise<void> {
  await writeFile(`${path}.tmp`, JSON.stringify(s));
  await rename(`${path}.tmp`, path);
}

/** The pid of a live l2vip holding the lock in this network namespace, if any. */
export async function lockHolder(lockPath: string): Promise<number | undefined> {
  const holder = Number(await readFile(lockPath, 'utf8').catch(() => ''));
  if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid) return undefined;
  return (await sameNetnsAlive(holder)) ? holder : undefined;
}

/**
 * One l2vip per network namespace manages local delivery: a second one would remove the first
 * one's routes as leftovers. A lock left by a dead process (kill -9) is taken over.
 */
export async function takeLock(lockPath: string): Promise<void> {
  await mkdir(join(lockPath, '..'), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await lockHolder(lockPath);
    if (holder !== undefined) {
      throw new HostSetupError(`another l2vip (pid ${holder}) manages local delivery in this network namespace; stop it first (lock ${lockPath})`);
    }
    await rm(lockPath, { force: true });
  }
  throw new HostSetupError(`cannot take the local delivery lock ${lockPath}`);
}

/** A live process in our network namespace (a reused pid elsewhere does not count). */
async function sameNetnsAlive(pid: number): Promise<boolean> {
  const [theirs, ours] = await Promise.all([readlink(`/proc/${pid}/ns/net`).catch(() => ''), readlink('/proc/self/ns/net').catch(() => '?')]);
  return theirs === ours;
}

/** What a leftover removal found and removed. */
export interface LeftoverReport {
  /** IPv4 VIPs whose `proto 250` local route was removed. */
  readonly routes: readonly string[];
  /** IPv6 VIPs removed from lo. */
  readonly addresses: readonly string[];
  readonly nftTable: boolean;
  /** `iface.name=value` restored. */
  readonly sysctls: readonly string[];
}

export interface LeftoverContext {
  readonly runner: CommandRunner;
  readonly logger: Logger;
  readonly sysctl: SysctlPort;
  readonly statePath: string;
}

/** IPv4 destinations of the `proto 250` routes in table local: the ones l2vip added. */
export async function taggedRoutes(runner: CommandRunner): Promise<string[] | undefined> {
  const r = await runner.run('ip', ['-j', '-4', 'route', 'show', 'table', 'local', 'proto', String(ROUTE_PROTO)]);
  if (r.code !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout || '[]') as { dst?: string }[]).flatMap((x) => (x.dst === undefined ? [] : [x.dst.replace(/\/32$/, '')]));
  } catch {
    return undefined;
  }
}

/**
 * Removes what a run of local delivery left: the tagged routes, the recorded IPv6 addresses,
 * the nftables table, and restores the recorded sysctls; then deletes the state file. Never
 * touches a route or address it has no record of adding. Tolerates what is already gone.
 */
export async function removeLeftovers(ctx: LeftoverContext): Promise<LeftoverReport> {
  const state = await readState(ctx.statePath);
  const routes = (await taggedRoutes(ctx.runner)) ?? [];
  const present = await loAddresses(ctx.runner);
  const addresses = state.v6.filter((x) => present.has(x));
  const lines = addresses.map((x) => `address del ${x}/128 dev lo`);
  lines.push(`route flush table local proto ${ROUTE_PROTO}`);
  await ctx.runner.run('ip', ['-force', '-batch', '-'], lines.join('\n') + '\n');
  const r = await ctx.runner.run('nft', ['delete', 'table', 'arp', NFT_TABLE]);
  const nftTable = r.code === 0;
  if (!nftTable && !/No such file|does not exist/i.test(r.stderr)) {
    ctx.logger.warn({ reason: r.stderr.trim() }, 'could not delete the nftables table');
  }
  const saved: Record<string, Partial<Record<InterfaceSysctl, string>>> = {};
  for (const [iface, value] of Object.entries(state.arpAnnounce ?? {})) saved[iface] = { arp_announce: value };
  for (const [iface, values] of Object.entries(state.sysctls ?? {})) saved[iface] = { ...saved[iface], ...values };
  const sysctls: string[] = [];
  for (const [iface, values] of Object.entries(saved)) {
    if (!isSafeInterfaceName(iface)) continue;
    for (const name of SYSCTL_NAMES) {
      const value = values[name];
      if (value === undefined || !/^\d$/.test(String(value))) continue;
      const now = await ctx.sysctl.read(iface, name);
      if (now === undefined || now === String(value)) continue;
      await ctx.sysctl.write(iface, name, String(value)).then(
        () => sysctls.push(`${iface}.${name}=${value}`),
        () => undefined,
      );
    }
  }
  await rm(ctx.statePath, { force: true });
  return { routes, addresses, nftTable, sysctls };
}

/** IPv6 addresses on lo, canonical. */
/** IPv4 destinations in table local that l2vip did not add (the host's own addresses, another tool's routes). */
export async function foreignLocalRoutes(runner: CommandRunner): Promise<Set<string>> {
  const r = await runner.run('ip', ['-j', '-4', 'route', 'show', 'table', 'local']);
  const out = new Set<string>();
  if (r.code !== 0) return out;
  try {
    for (const x of JSON.parse(r.stdout || '[]') as { dst?: string; protocol?: string }[]) {
      if (x.dst !== undefined && x.protocol !== String(ROUTE_PROTO)) out.add(x.dst.replace(/\/32$/, ''));
    }
  } catch {
    // unreadable output: nothing known
  }
  return out;
}

export async function loAddresses(runner: CommandRunner): Promise<Set<string>> {
  return v6Addresses(runner, ['dev', 'lo']);
}

/** IPv6 addresses on the host (or on one device), canonical. */
export async function v6Addresses(runner: CommandRunner, where: readonly string[] = []): Promise<Set<string>> {
  const r = await runner.run('ip', ['-j', '-6', 'address', 'show', ...where]);
  const out = new Set<string>();
  if (r.code !== 0) return out;
  try {
    for (const l of JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[]) {
      for (const a of l.addr_info ?? []) {
        const ip = a.local === undefined ? undefined : canonicalIp(a.local);
        if (ip !== undefined) out.add(ip);
      }
    }
  } catch {
    // unreadable output: nothing known
  }
  return out;
}

/**
 * Refuses VIPs that are addresses of this host (`ip address`), except those l2vip itself put on
 * lo (`ours`).
 */
export async function refuseHostAddressVips(runner: CommandRunner, vips: Iterable<string>, ours: ReadonlySet<string> = new Set()): Promise<void> {
  const r = await runner.run('ip', ['-j', 'address', 'show']);
  if (r.code !== 0) throw new HostSetupError(`cannot list this host's addresses: ${r.stderr.trim()}`);
  const onHost = new Map<string, string>();
  try {
    for (const l of JSON.parse(r.stdout || '[]') as { ifname?: string; addr_info?: { local?: string }[] }[]) {
      for (const a of l.addr_info ?? []) {
        const ip = a.local === undefined ? undefined : canonicalIp(a.local);
        if (ip !== undefined && !onHost.has(ip)) onHost.set(ip, l.ifname ?? '?');
      }
    }
  } catch {
    throw new HostSetupError("cannot read this host's addresses (unexpected output of ip -j address show)");
  }
  const clash = [...new Set(vips)].filter((v) => onHost.has(v) && !ours.has(v));
  if (clash.length > 0) {
    const list = clash.map((v) => `${v} (on ${onHost.get(v) ?? '?'})`).join(', ');
    throw new VipHostAddressError(`${clash.length === 1 ? 'VIP' : 'VIPs'} ${list} ${clash.length === 1 ? 'is an address' : 'are addresses'} of this host: remove ${clash.length === 1 ? 'it' : 'them'} from the config or from the host`);
  }
}
