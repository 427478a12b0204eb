/**
 * Which interfaces may carry ARP and NDP announcements, by MetalLB's rules
 * (internal/layer2/announcer.go updateInterfaces): up, not enslaved to a bridge, bond or VRF,
 * not NOARP, and for ARP the BROADCAST flag, for NDP an IPv6 link-local address; and a name
 * that does not match the exclude list. Pure.
 *
 * The name rule is kept apart from the structural ones: an interface named explicitly by the
 * operator (`announce --interface veth0`) skips the exclude list, never the structural checks.
 */
import { ConfigError } from '../errors.js';
import type { NetInterface } from './interface-table.js';

/**
 * MetalLB's default `announcedInterfacesToExclude` (config/native/exclude-l2-config.yaml and the
 * Helm chart), plus the Calico VXLAN devices.
 */
export const DEFAULT_EXCLUDE_PATTERNS: readonly string[] = [
  '^docker.*',
  '^cbr.*',
  '^dummy.*',
  '^virbr.*',
  '^lxcbr.*',
  '^veth.*',
  '^lo$',
  '^cali.*',
  '^tunl.*',
  '^flannel.*',
  '^kube-ipvs.*',
  '^cni.*',
  '^nodelocaldns.*',
  '^lxc.*',
  '^vxlan.calico.*',
  '^vxlan-v6.calico.*',
];

export type AnnounceProtocol = 'arp' | 'ndp';

/** A compiled exclude list. MetalLB joins the patterns into one unanchored alternation `(p1)|(p2)|...`. */
export interface ExcludeList {
  readonly patterns: readonly string[];
  readonly regex: RegExp | null;
}

/** Compiles `patterns`; an empty list excludes nothing. Throws ConfigError naming a bad pattern. */
export function compileExcludeList(patterns: readonly string[] = DEFAULT_EXCLUDE_PATTERNS): ExcludeList {
  patterns.forEach((p, i) => {
    try {
      new RegExp(p);
    } catch (err) {
      const message = `interface exclude pattern ${JSON.stringify(p)} is not a valid regular expression`;
      throw new ConfigError(message, [{ path: `excludeInterfaces[${i}]`, message: String(err) }]);
    }
  });
  return { patterns, regex: patterns.length === 0 ? null : new RegExp(patterns.map((p) => `(${p})`).join('|')) };
}

/** The first pattern that matches `name`, or undefined if the name is not excluded. */
export function excludedBy(name: string, list: ExcludeList): string | undefined {
  if (list.regex === null || !list.regex.test(name)) return undefined;
  return list.patterns.find((p) => new RegExp(p).test(name));
}

/**
 * Why `iface` cannot carry `protocol` regardless of its name, or undefined if it can.
 * `lookup` resolves the master's ifindex to name it in the reason.
 */
export function structuralIneligibility(
  iface: NetInterface,
  protocol: AnnounceProtocol,
  lookup: (ifindex: number) => NetInterface | undefined = () => undefined,
): string | undefined {
  if (!iface.flags.up) return 'it is down';
  if (iface.master !== null) {
    const master = lookup(iface.master);
    const name = master?.name ?? `ifindex ${iface.master}`;
    if (master?.kind === 'bridge') return `it is a bridge port (master ${name})`;
    if (master?.kind === 'bond' || master?.kind === 'team') return `it is a ${master.kind} member (master ${name})`;
    return `it is enslaved to ${name}${master?.kind != null ? ` (a ${master.kind})` : ''}`;
  }
  if (iface.flags.noarp) return 'it has the NOARP flag';
  if (protocol === 'arp' && !iface.flags.broadcast) return 'it has no BROADCAST flag, so ARP cannot work on it';
  if (protocol === 'ndp' && !iface.addresses.some((a) => a.family === 6 && a.linkLocal)) {
    return 'it has no IPv6 link-local address';
  }
  return undefined;
}

export interface EligibilityOptions {
  /** Names to skip; null ignores the exclude list (an interface the operator named explicitly). */
  readonly exclude: ExcludeList | null;
  readonly lookup?: (ifindex: number) => NetInterface | undefined;
}

/** Why `iface` is not eligible for `protocol`, or undefined if it is. MetalLB checks the name first. */
export function ineligibilityReason(iface: NetInterface, protocol: AnnounceProtocol, options: EligibilityOptions): string | undefined {
  const pattern = options.exclude === null ? undefined : excludedBy(iface.name, options.exclude);
  if (pattern !== undefined) return `its name matches the exclude pattern ${pattern}`;
  return structuralIneligibility(iface, protocol, options.lookup);
}

export function isEligible(iface: NetInterface, protocol: AnnounceProtocol, options: EligibilityOptions): boolean {
  return ineligibilityReason(iface, protocol, options) === undefined;
}

/** "interface eth0 is not eligible for ARP: it is a bridge port (master br0)". */
export function ineligibilityMessage(iface: NetInterface, protocol: AnnounceProtocol, reason: string): string {
  return `interface ${iface.name} is not eligible for ${protocol.toUpperCase()}: ${reason}`;
}
