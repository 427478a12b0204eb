import type { CommandRunner } from '../host/command-runner.js';
import { HostSetupError, MissingToolError } from '../errors.js';
import { createHash } from 'node:crypto';

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

export interface NftVirtualMacsOptions {
  readonly runner: CommandRunner;
}

/** The nftables table (netdev family) that marks frames to an owned virtual MAC as this host's. */
export const VMAC_NFT_TABLE = 'l2vip_vmac';

/**
 * The kernel side of a virtual MAC, on the interface itself, with no extra device:
 *
 * 1. `bridge fdb add MAC dev IFACE self` puts the MAC in the interface's unicast filter
 *    (dev_uc_add: the NIC's hardware filter; a NIC without one, like veth, goes promiscuous, as
 *    for any macvlan), so the frames get in.
 * 2. Such frames still come up with pkt_type OTHERHOST (their destination is not the device's
 *    own address), and IP drops those. An nftables chain on the interface's ingress hook
 *    (netdev family, table l2vip_vmac, one chain and one set per interface) sets
 *    `meta pkttype host` for frames to a MAC in the set. It runs after packet taps (our
 *    AF_PACKET responder sees every frame either way) and before IP, which then delivers them
 *    as any frame to the interface's own MAC: same interface, same routes, same rp_filter, same
 *    firewall, so local delivery and kube-proxy work unchanged.
 *
 * Owning adds the MAC to both, losing removes it from both (the set first: the host stops
 * accepting at once). The table itself stays while l2vip runs; `removeAll` (stop, start after a
 * crash, `l2vip cleanup`) deletes it and the filter entries its sets name.
 *
 * Why not a macvlan device with the virtual MAC (keepalived's use_vmac): a device without an
 * IPv4 address fails every reverse-path check (rp_filter 1 or 2 drops all its packets, and the
 * effective value is the maximum of `all` and the device's, so hosts with
 * net.ipv4.conf.all.rp_filter=2 would have to lower it host-wide, as keepalived does); giving it
 * the VIP as an address changes routes and ARP behaviour; and an interface enslaved to a bridge
 * or bond cannot carry a macvlan (one rx_handler per device). Measured in namespaces:
 * docs/virtual-mac.md.
 */
export class NftVirtualMacs implements VirtualMacDevicePort {
  /** Parents whose chain and set exist. */
  private readonly chains = new Set<string>();
  private readonly accepted = new Set<string>();

  constructor(private readonly o: NftVirtualMacsOptions) {}

  async accept(parent: string, mac: string): Promise<void> {
    const id = interfaceId(parent);
    const lines: string[] = [];
    if (!this.chains.has(parent)) {
      lines.push(
        `add table netdev ${VMAC_NFT_TABLE}`,
        `add set netdev ${VMAC_NFT_TABLE} m${id} { type ether_addr; comment "${parent}"; }`,
        `add chain netdev ${VMAC_NFT_TABLE} i${id} { type filter hook ingress device "${parent}" priority filter; policy accept; }`,
        `flush chain netdev ${VMAC_NFT_TABLE} i${id}`,
        `add rule netdev ${VMAC_NFT_TABLE} i${id} ether daddr @m${id} meta pkttype set host`,
      );
    }
    lines.push(`add element netdev ${VMAC_NFT_TABLE} m${id} { ${mac} }`);
    await this.nft(lines.join('\n') + '\n');
    this.chains.add(parent);
    this.accepted.add(`${parent}|${mac}`);
    // Already there (a restart): fine.
    const r = await this.o.runner.run('bridge', ['fdb', 'replace', mac, 'dev', parent, 'self', 'permanent']);
    if (r.code !== 0) throw new HostSetupError(`bridge fdb replace ${mac} dev ${parent} self: ${r.stderr.trim()}`);
  }

  async release(parent: string, mac: string): Promise<void> {
    if (!this.accepted.delete(`${parent}|${mac}`)) return;
    const id = interfaceId(parent);
    await this.nft(`delete element netdev ${VMAC_NFT_TABLE} m${id} { ${mac} }\n`);
    await this.o.runner.run('bridge', ['fdb', 'del', mac, 'dev', parent, 'self']);
  }

  async removeAll(): Promise<readonly string[]> {
    // No nft on the host: l2vip never accepted a virtual MAC here, nothing to remove.
    const r = await this.o.runner.run('nft', ['list', 'table', 'netdev', VMAC_NFT_TABLE]).catch((err: unknown) => {
      if (err instanceof MissingToolError) return { code: 1, stdout: '', stderr: '' };
      throw err;
    });
    const removed: string[] = [];
    if (r.code === 0) {
      // Each set names its interface in its comment; its elements are the MACs accepted there.
      for (const m of r.stdout.matchAll(/set m[0-9a-f]+ \{([^}]*)\}/g)) {
        const body = m[1]!;
        const parent = /comment "([^"]+)"/.exec(body)?.[1];
        const macs = /elements = \{([^}]*)/.exec(body)?.[1]?.match(/[0-9a-f]{2}(:[0-9a-f]{2}){5}/g) ?? [];
        if (parent === undefined) continue;
        for (const mac of macs) {
          await this.o.runner.run('bridge', ['fdb', 'del', mac, 'dev', parent, 'self']);
          removed.push(`${mac} on ${parent}`);
        }
      }
      await this.o.runner.run('nft', ['delete', 'table', 'netdev', VMAC_NFT_TABLE]);
      removed.push(`nftables table netdev ${VMAC_NFT_TABLE}`);
    }
    this.chains.clear();
    this.accepted.clear();
    return removed;
  }

  private async nft(script: string): Promise<void> {
    const r = await this.o.runner.run('nft', ['-f', '-'], script);
    if (r.code !== 0) throw new HostSetupError(`nft (virtual MAC): ${r.stderr.trim()}`);
  }
}

/** nftables names for an interface's chain and set: 12 hex digits of sha256(name), valid whatever the interface is called. */
export function interfaceId(parent: string): string {
  return createHash('sha256').update(parent).digest('hex').slice(0, 12);
}
