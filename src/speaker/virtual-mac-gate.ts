import type { OwnedSet } from '../announcer/announcer.js';
import { toOwnedIp } from '../announcer/owned-ips.js';
import type { VirtualMacDevicePort } from '../netdev/virtual-mac-device.js';
import type { Logger } from '../observability/logger.js';
import { parseMac } from '../packet/mac.js';
import type { ServiceSpec } from './ownership.js';
import type { AnnouncerPort } from './speaker.js';

type DeviceState = 'down' | 'up' | 'failed';

/**
 * Sits between the speaker and the announcer for services with a virtual MAC
 * (docs/virtual-mac.md). An IP of such a service is handed to the announcer on an interface
 * only once this host accepts the virtual MAC there (its device is up), so no client is ever
 * told a MAC this host would drop; a lost IP is withdrawn first and its device taken down
 * after. A device that cannot be brought up (no macvlan support, say) is logged and its IPs are
 * announced with the interface's MAC: the service keeps working, with today's failover.
 * Device changes run one at a time, in order; after each the latest owned set is applied again.
 */
export class VirtualMacGate implements AnnouncerPort {
  /** Canonical IP -> its service's virtual MAC (canonical text). */
  private macs = new Map<string, string>();
  private readonly macBytes = new Map<string, Uint8Array>();
  /** `iface|mac` -> state. */
  private readonly devices = new Map<string, DeviceState>();
  private latest: OwnedSet = new Map();
  private chain: Promise<void> = Promise.resolve();
  private pumping = false;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private readonly inner: AnnouncerPort,
    private readonly port: VirtualMacDevicePort,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'virtual-mac' });
  }

  /** The services' virtual MACs, from the desired state. */
  setServices(services: readonly ServiceSpec[]): void {
    const m = new Map<string, string>();
    for (const s of services) {
      if (s.virtualMac === undefined) continue;
      for (const a of s.addresses) {
        const ip = toOwnedIp(a);
        // Both forms: the owned set's keys are the addresses as the service wrote them.
        m.set(a, s.virtualMac);
        if (ip !== undefined) m.set(ip.ip, s.virtualMac);
      }
      if (!this.macBytes.has(s.virtualMac)) {
        const b = parseMac(s.virtualMac);
        if (b !== undefined) this.macBytes.set(s.virtualMac, b);
      }
    }
    this.macs = m;
  }

  /** The MAC to answer `ip` with on `iface` (the announcer's sourceMac): its virtual MAC while its device is up. */
  sourceMac(ip: string, iface: string): Uint8Array | undefined {
    const mac = this.macs.get(ip);
    if (mac === undefined || this.devices.get(key(iface, mac)) !== 'up') return undefined;
    return this.macBytes.get(mac);
  }

  setOwned(owned: OwnedSet): void {
    this.latest = owned;
    this.apply();
    this.pump();
  }

  /** Resolves when every device change asked for so far is done (tests, stop). */
  idle(): Promise<void> {
    return this.chain;
  }

  reannounce(iface: string): void {
    this.inner.reannounce(iface);
  }

  defend(ip: string): void {
    this.inner.defend(ip);
  }

  onConflict(handler: (ip: string, iface: string, mac: Uint8Array) => void): () => void {
    return this.inner.onConflict(handler);
  }

  prepare(ifaces: Iterable<string>): void {
    this.inner.prepare(ifaces);
  }

  forgetInterface(iface: string): void {
    this.inner.forgetInterface(iface);
  }

  stop(): void {
    this.stopped = true;
    this.inner.stop();
  }

  /** After stop: removes every device (awaits the changes in flight first). */
  async close(): Promise<void> {
    this.stopped = true;
    await this.removeLeftovers();
  }

  /** Removes every virtual MAC device of this network namespace, also those a killed run left (before start). */
  async removeLeftovers(): Promise<void> {
    await this.chain;
    await this.port.removeAll().catch((err: unknown) => this.log.warn({ err }, 'removing the virtual MAC devices failed'));
    this.devices.clear();
  }

  /** Hands the announcer the latest owned set, without the virtual-MAC IPs whose device is not up yet. */
  private apply(): void {
    // No virtual MAC anywhere: the owned set as it is, at no cost (thousands of VIPs).
    if (this.macs.size === 0) {
      this.inner.setOwned(this.latest);
      return;
    }
    const out = new Map<string, ReadonlySet<string>>();
    for (const [ip, ifaces] of this.latest) {
      const mac = this.macs.get(ip);
      if (mac === undefined) {
        out.set(ip, ifaces);
        continue;
      }
      // Up: announced with the virtual MAC; failed: with the interface's; down or not created yet: not yet.
      const ready = new Set([...ifaces].filter((i) => {
        const st = this.devices.get(key(i, mac));
        return st === 'up' || st === 'failed';
      }));
      if (ready.size > 0) out.set(ip, ready);
    }
    this.inner.setOwned(out);
  }

  /** Devices that should be up: every (interface, virtual MAC) of an owned IP. */
  private wanted(): Set<string> {
    const want = new Set<string>();
    for (const [ip, ifaces] of this.latest) {
      const mac = this.macs.get(ip);
      if (mac !== undefined) for (const i of ifaces) want.add(key(i, mac));
    }
    return want;
  }

  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    this.chain = this.chain.then(async () => {
      try {
        for (;;) {
          if (this.stopped) return;
          const want = this.wanted();
          // Releases first: a handoff stops accepting before anything else.
          const down = [...this.devices].find(([k, s]) => s === 'up' && !want.has(k))?.[0];
          const up = [...want].find((k) => !this.devices.has(k) || this.devices.get(k) === 'down');
          const next = down ?? up;
          if (next === undefined) return;
          const [iface, mac] = split(next);
          if (next === down) {
            await this.port.release(iface, mac).catch((err: unknown) => this.log.warn({ err, iface, mac }, 'releasing a virtual MAC failed'));
            this.devices.set(next, 'down');
          } else {
            try {
              await this.port.accept(iface, mac);
              this.devices.set(next, 'up');
              this.log.info({ iface, mac }, 'accepting a virtual MAC');
            } catch (err) {
              this.devices.set(next, 'failed');
              this.log.error({ err, iface, mac }, 'cannot accept a virtual MAC: announcing its VIPs with the interface MAC');
            }
          }
          this.apply();
        }
      } finally {
        this.pumping = false;
      }
    });
  }
}

function key(iface: string, mac: string): string {
  return `${iface}|${mac}`;
}

function split(k: string): [string, string] {
  const i = k.indexOf('|');
  return [k.slice(0, i), k.slice(i + 1)];
}
