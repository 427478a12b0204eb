import type { AddressEvent, LinkEvent, LinkWatcherPort, NetInterface } from '../../src/netdev/link-watcher.js';

/** A LinkWatcherPort over a hand-made interface table; `setCarrier` emits link events. */
export class FakeLinks implements LinkWatcherPort {
  private readonly table = new Map<string, NetInterface>();
  private readonly linkListeners = new Set<(e: LinkEvent) => void>();

  constructor(names: readonly string[] = ['eth0'], macSeed = 1) {
    names.forEach((name, i) => this.table.set(name, FakeLinks.iface(name, i + 2, macSeed)));
  }

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
    return Promise.resolve();
  }

  stop(): void {}

  interfaces(): readonly NetInterface[] {
    return [...this.table.values()];
  }

  get(key: number | string): NetInterface | undefined {
    if (typeof key === 'string') return this.table.get(key);
    return [...this.table.values()].find((i) => i.index === key);
  }

  onLink(listener: (event: LinkEvent) => void): () => void {
    this.linkListeners.add(listener);
    return () => this.linkListeners.delete(listener);
  }

  onAddress(_listener: (event: AddressEvent) => void): () => void {
    return () => undefined;
  }

  setCarrier(name: string, carrier: boolean): void {
    const previous = this.table.get(name);
    if (previous === undefined) throw new Error(`no interface ${name}`);
    const iface: NetInterface = { ...previous, flags: { ...previous.flags, lowerUp: carrier, running: carrier }, operState: carrier ? 'up' : 'lowerlayerdown' };
    this.table.set(name, iface);
    for (const l of this.linkListeners) l({ type: 'changed', iface, previous });
  }
}
