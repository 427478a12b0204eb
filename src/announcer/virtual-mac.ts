import { createHash } from 'node:crypto';
import { isMulticastMac, macToString, parseMac } from '../packet/mac.js';

/**
 * Virtual MACs (docs/virtual-mac.md): a service that has one is answered and announced with
 * this MAC instead of the interface's, and only its owner accepts frames sent to it, so a
 * client's neighbour entry for the VIP never changes on failover.
 *
 * Setting, as written in a config: `true` derives the MAC from the service's name, a MAC text
 * sets it, `false` (or nothing) means none.
 */
export type VirtualMacSetting = boolean | string;

/** The derivation's domain separator: another use of sha256(name) never yields the same bytes. */
const DERIVATION_PREFIX = 'l2vip-vmac\0';

/**
 * The derived virtual MAC of a service: 02 followed by the first five bytes of
 * sha256("l2vip-vmac\0" + name). 0x02 sets the locally administered bit and clears the group
 * bit (IEEE 802 §8.2), so it is a unicast MAC no vendor assigns. Stable: every node derives the
 * same MAC for the same service.
 */
export function deriveVirtualMac(serviceName: string): string {
  const h = createHash('sha256').update(DERIVATION_PREFIX + serviceName, 'utf8').digest();
  return macToString(new Uint8Array([0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!]));
}

/**
 * Why a configured MAC cannot be a virtual MAC (undefined: it can). It must be a unicast,
 * locally administered address (so it never clashes with a NIC's burned-in MAC) and not all zeros.
 */
export function virtualMacProblem(text: string): string | undefined {
  const mac = parseMac(text);
  if (mac === undefined) return `"${text}" is not a MAC address (write six hex octets, e.g. 02:00:5e:10:00:01)`;
  if (isMulticastMac(mac)) return `${macToString(mac)} is a multicast address (the first octet must be even)`;
  if ((mac[0]! & 0x02) === 0) return `${macToString(mac)} is not locally administered (the first octet needs bit 0x02, e.g. 02:...)`;
  return undefined;
}

/**
 * The canonical virtual MAC (lower case, ':'-separated) of a service, or undefined when it has
 * none. Throws nothing: a bad explicit MAC must be refused first with virtualMacProblem.
 */
export function resolveVirtualMac(setting: VirtualMacSetting | undefined, serviceName: string): string | undefined {
  if (setting === undefined || setting === false) return undefined;
  if (setting === true) return deriveVirtualMac(serviceName);
  const mac = parseMac(setting);
  return mac === undefined ? undefined : macToString(mac);
}

/** A service with a virtual MAC and the interfaces it may be announced on (undefined: the defaults). */
export interface VirtualMacUse {
  readonly service: string;
  readonly mac: string;
  readonly interfaces?: readonly string[] | undefined;
}

/** Two services that would use the same virtual MAC on one interface. */
export interface VirtualMacCollision {
  readonly mac: string;
  /** The service that keeps it (the first in the given order). */
  readonly kept: string;
  /** The service refused (standalone) or left without a virtual MAC (Kubernetes). */
  readonly refused: string;
  /** The interface they share; `*` for services on the default interfaces. */
  readonly iface: string;
}

/**
 * Services that would share a virtual MAC on an interface. A service on the default interfaces
 * (`interfaces` undefined) can meet any other service, so it collides with every service that
 * has the same MAC. Two services on disjoint named interfaces may share a MAC (each interface is
 * its own broadcast domain). The first service in `uses` keeps the MAC; each later one that
 * meets an earlier one is reported once.
 */
export function virtualMacCollisions(uses: readonly VirtualMacUse[]): VirtualMacCollision[] {
  const out: VirtualMacCollision[] = [];
  const kept: VirtualMacUse[] = [];
  for (const u of uses) {
    const hit = kept.find((k) => k.mac === u.mac && sharedInterface(k.interfaces, u.interfaces) !== undefined);
    if (hit === undefined) {
      kept.push(u);
      continue;
    }
    out.push({ mac: u.mac, kept: hit.service, refused: u.service, iface: sharedInterface(hit.interfaces, u.interfaces)! });
  }
  return out;
}

function sharedInterface(a: readonly string[] | undefined, b: readonly string[] | undefined): string | undefined {
  if (a === undefined) return b?.[0] ?? '*';
  if (b === undefined) return a[0] ?? '*';
  return a.find((x) => b.includes(x));
}
