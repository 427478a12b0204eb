import type { AddressEvent, LinkEvent, LinkWatcherPort, NetInterface } from '../../src/netdev/link-watcher.js';
import type { InterfaceAddress } from '../../src/netdev/interface-table.js';

/** A link as the fake kernel keeps it: the interface, and whether its far end gives it carrier. */
interface FakeLink {
  readonly iface: NetInterface;
  readonly carrier: boolean;
}

/**
 * A LinkWatcherPort over a hand-made interface table, which is also the fake kernel: its
 * methods change links and addresses and emit the events LinkWatcher would. After stop() the
 * snapshot stays as it was and nothing is emitted; start() reloads it. Passes the LinkWatcher
 * compliance suite (test/compliance/link-watcher.ts).
 */
export class FakeLinks implements LinkWatcherPort {
  private readonly kernel = new Map<number, FakeLink>();
  private view = new Map<number, NetInterface>();
  private watching = true;
  private readonly linkListeners = new Set<(e: LinkEvent) => void>();
  private readonly addressListeners = new Set<(e: AddressEvent) => void>();

  constructor(
    names: readonly string[] = ['eth0'],
    private readonly macSeed = 1,
  ) {
    names.forEach((name, i) => this.kernel.set(i + 2, { iface: FakeLinks.iface(name, i + 2, macSeed), carrier: true }));
    this.reload();
  }

  /** An Ethernet veth end, up with carrier. */
  static iface(name: string, index: number, macSeed: number): NetInterface {
    return {
      index,
      name,
      mac: Uint8Array.from([2, 0, 0, 0, macSeed & 0xff, index & 0xff]),
      linkType: 1,
      flags: { up: true, broadcast: true, loopback: false, pointToPoint: false, running: true, noarp: false, multicast: true, lowerUp: true },
      operState: 'up',
      mtu: 1500,
      master: null,
      kind: 'veth',
      addresses: [],
    };
  }

  start(): Promise<void> {
    if (!this.watching) this.reload();
    this.watching = true;
    return Promise.resolve();
  }

  stop(): void {
    this.watching = false;
  }

  interfaces(): readonly NetInterface[] {
    return [...this.view.values()].sort((a, b) => a.index - b.index);
  }

  get(key: number | string): NetInterface | undefined {
    if (typeof key === 'number') return this.view.get(key);
    return [...this.view.values()].find((i) => i.name === key);
  }

  onLink(listener: (event: LinkEvent) => void): () => void {
    this.linkListeners.add(listener);
    return () => this.linkListeners.delete(listener);
  }

  onAddress(listener: (event: AddressEvent) => void): () => void {
    this.addressListeners.add(listener);
    return () => this.addressListeners.delete(listener);
  }

  /** A new Ethernet link, administratively down, whose far end is up (it gets carrier once up). */
  addLink(name: string): void {
    if (this.find(name) !== undefined) throw new Error(`interface ${name} exists`);
    const index = Math.max(1, ...this.kernel.keys()) + 1;
    const up = FakeLinks.iface(name, index, this.macSeed);
    const link = { iface: withState(up, false, true), carrier: true };
    this.kernel.set(index, link);
    this.notifyLink({ type: 'added', iface: link.iface });
  }

  removeLink(name: string): void {
    const link = this.link(name);
    this.kernel.delete(link.iface.index);
    this.notifyLink({ type: 'removed', iface: link.iface });
  }

  setUp(name: string, up: boolean): void {
    const link = this.link(name);
    this.change(link, withState(link.iface, up, link.carrier), link.carrier);
  }

  /** Carrier from the far end; shows (lowerUp, running, operState) only while the link is up. */
  setCarrier(name: string, carrier: boolean): void {
    const link = this.link(name);
    this.change(link, withState(link.iface, link.iface.flags.up, carrier), carrier);
  }

  rename(name: string, to: string): void {
    const link = this.link(name);
    if (this.find(to) !== undefined) throw new Error(`interface ${to} exists`);
    this.change(link, { ...link.iface, name: to }, link.carrier);
  }

  /** mac: 'aa:bb:cc:dd:ee:ff'. */
  setMac(name: string, mac: string): void {
    const link = this.link(name);
    this.change(link, { ...link.iface, mac: Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16))) }, link.carrier);
  }

  /** An IPv4 address, '192.0.2.1/24'. */
  addAddress(name: string, cidr: string): void {
    const link = this.link(name);
    const address = ipv4Address(cidr);
    const iface = { ...link.iface, addresses: [...link.iface.addresses, address] };
    this.kernel.set(iface.index, { iface, carrier: link.carrier });
    this.notifyAddress({ type: 'added', iface, address });
  }

  removeAddress(name: string, cidr: string): void {
    const link = this.link(name);
    const gone = ipv4Address(cidr);
    const address = link.iface.addresses.find((a) => a.address === gone.address && a.prefixLength === gone.prefixLength);
    if (address === undefined) throw new Error(`no address ${cidr} on ${name}`);
    const iface = { ...link.iface, addresses: link.iface.addresses.filter((a) => a !== address) };
    this.kernel.set(iface.index, { iface, carrier: link.carrier });
    this.notifyAddress({ type: 'removed', iface, address });
  }

  private find(name: string): FakeLink | undefined {
    return [...this.kernel.values()].find((l) => l.iface.name === name);
  }

  private link(name: string): FakeLink {
    const link = this.find(name);
    if (link === undefined) throw new Error(`no interface ${name}`);
    return link;
  }

  private change(link: FakeLink, iface: NetInterface, carrier: boolean): void {
    this.kernel.set(iface.index, { iface, carrier });
    this.notifyLink({ type: 'changed', iface, previous: link.iface });
  }

  private reload(): void {
    this.view = new Map([...this.kernel].map(([i, l]) => [i, l.iface]));
  }

  private notifyLink(e: LinkEvent): void {
    if (!this.watching) return;
    if (e.type === 'removed') this.view.delete(e.iface.index);
    else this.view.set(e.iface.index, e.iface);
    for (const l of this.linkListeners) l(e);
  }

  private notifyAddress(e: AddressEvent): void {
    if (!this.watching) return;
    this.view.set(e.iface.index, e.iface);
    for (const l of this.addressListeners) l(e);
  }
}

/** The flags and operState Linux shows for an Ethernet link with this admin state and carrier. */
function withState(iface: NetInterface, up: boolean, carrier: boolean): NetInterface {
  const lower = up && carrier;
  return {
    ...iface,
    flags: { ...iface.flags, up, lowerUp: lower, running: lower },
    operState: !up ? 'down' : carrier ? 'up' : 'lowerlayerdown',
  };
}

function ipv4Address(cidr: string): InterfaceAddress {
  const [address = '', length = '32'] = cidr.split('/');
  return { family: 4, address, prefixLength: Number(length), linkLocal: address.startsWith('169.254.'), tentative: false, dadFailed: false };
}
