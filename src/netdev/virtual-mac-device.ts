import { writeFile } from 'node:fs/promises';
import type { CommandRunner } from '../host/command-runner.js';
import { HostSetupError } from '../errors.js';
import { VIRTUAL_MAC_DEVICE_PATTERN, virtualMacDeviceName } from '../announcer/virtual-mac.js';

/**
 * Port: makes this host accept (or stop accepting) frames sent to a virtual MAC on an interface.
 * The speaker's virtual MAC gate (src/speaker/virtual-mac-gate.ts) drives it.
 */
export interface VirtualMacDevicePort {
  /** Accepts frames to `mac` arriving on `parent` from now on (creating what is needed). */
  accept(parent: string, mac: string): Promise<void>;
  /** Stops accepting them. Kept ready, so the next accept is one step. */
  release(parent: string, mac: string): Promise<void>;
  /** Removes everything this port made in this network namespace, also what a killed run left; returns the devices removed. */
  removeAll(): Promise<readonly string[]>;
}

export interface MacvlanDevicesOptions {
  readonly runner: CommandRunner;
  /** Writes a sysctl file under /proc/sys (tests record the writes). */
  readonly writeSysctl?: (path: string, value: string) => Promise<void>;
}

/**
 * The kernel side of a virtual MAC: one macvlan device per (interface, virtual MAC), named
 * `l2v<12 hex>` (virtualMacDeviceName), mode private, ARP off, no IPv6 address generation,
 * reverse-path filter loose. Why a macvlan (docs/virtual-mac.md):
 *
 * - Only a device whose own address is the virtual MAC makes the kernel deliver the frames: a
 *   MAC merely added to the parent's unicast filter (`bridge fdb add MAC dev eth0 self`) lets
 *   them in with pkt_type OTHERHOST, which the IP layer drops; promiscuous mode takes every
 *   frame on the wire. An up macvlan adds its MAC to the parent's unicast filter (dev_uc_add)
 *   and its receive handler hands frames to that MAC to itself as PACKET_HOST; IP then delivers
 *   them to the VIP (a local route or a `lo` address of local delivery, any interface: Linux
 *   is a weak host).
 * - It has no addresses and NOARP, so the kernel never answers ARP or NDP on it, never sends a
 *   frame from the virtual MAC (our responder does, over the parent's AF_PACKET socket), and
 *   `addrgenmode none` means no link-local address, so no DAD, no MLD for it, no router
 *   solicitation; `accept_ra=0`, `autoconf=0` keep SLAAC off. Mode private: it never talks to
 *   the host's other macvlans. rp_filter=2 (loose): packets arrive on the macvlan but the route
 *   back to the client is through the parent, which strict mode (1) would drop.
 * - Replies leave through the parent with the parent's MAC as source; clients do not learn
 *   neighbour entries from IP frames, so their entry for the VIP stays the virtual MAC.
 * - The device is down while this node does not own the service: a down macvlan is not in the
 *   parent's unicast filter and receives nothing. Going up is one netlink request, the least
 *   work on the failover path; the device is created on the first gain only.
 * - The kernel refuses to bring up two macvlans with the same MAC on one parent (EADDRINUSE):
 *   a second line of defence behind the collision check.
 */
export class MacvlanDevices implements VirtualMacDevicePort {
  private readonly created = new Set<string>();
  private readonly writeSysctl: (path: string, value: string) => Promise<void>;

  constructor(private readonly o: MacvlanDevicesOptions) {
    this.writeSysctl = o.writeSysctl ?? ((path, value) => writeFile(path, value));
  }

  async accept(parent: string, mac: string): Promise<void> {
    const name = virtualMacDeviceName(parent, mac);
    if (!this.created.has(name)) {
      // A device of that name from a killed run: start from a known state.
      await this.o.runner.run('ip', ['link', 'del', name]);
      await this.ip(['link', 'add', 'link', parent, 'name', name, 'address', mac, 'type', 'macvlan', 'mode', 'private']);
      this.created.add(name);
      await this.ip(['link', 'set', name, 'arp', 'off', 'addrgenmode', 'none']);
      for (const [path, value] of [
        [`/proc/sys/net/ipv4/conf/${name}/rp_filter`, '2'],
        [`/proc/sys/net/ipv6/conf/${name}/accept_ra`, '0'],
        [`/proc/sys/net/ipv6/conf/${name}/autoconf`, '0'],
      ] as const) {
        await this.writeSysctl(path, value).catch((err: unknown) => {
          // IPv6 disabled on the host: nothing to keep off.
          if (!path.includes('/ipv6/')) throw new HostSetupError(`writing ${path}: ${(err as Error).message}`, { cause: err });
        });
      }
    }
    await this.ip(['link', 'set', name, 'up']);
  }

  async release(parent: string, mac: string): Promise<void> {
    const name = virtualMacDeviceName(parent, mac);
    if (this.created.has(name)) await this.ip(['link', 'set', name, 'down']);
  }

  async removeAll(): Promise<readonly string[]> {
    const r = await this.o.runner.run('ip', ['-o', 'link', 'show', 'type', 'macvlan']);
    const names = new Set(this.created);
    for (const line of r.stdout.split('\n')) {
      const m = /^\d+:\s+([^@:\s]+)/.exec(line);
      if (m !== null && VIRTUAL_MAC_DEVICE_PATTERN.test(m[1]!)) names.add(m[1]!);
    }
    const removed: string[] = [];
    for (const n of names) if ((await this.o.runner.run('ip', ['link', 'del', n])).code === 0) removed.push(n);
    this.created.clear();
    return removed;
  }

  private async ip(args: string[]): Promise<void> {
    const r = await this.o.runner.run('ip', args);
    if (r.code !== 0) throw new HostSetupError(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  }
}
