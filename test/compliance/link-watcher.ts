import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AddressEvent, LinkEvent, LinkWatcherPort, NetInterface } from '../../src/netdev/link-watcher.js';

/**
 * A LinkWatcherPort (not started yet) and the means to change the links it watches: the kernel
 * through `ip` in a namespace, or the fake's own table. Links are Ethernet links (veth ends);
 * a new link starts administratively down, with its far end up, so setting it up gives it carrier.
 */
export interface LinkWorld {
  readonly watcher: LinkWatcherPort;
  addLink(name: string): Promise<void>;
  removeLink(name: string): Promise<void>;
  /** Administrative state (IFF_UP). */
  setUp(name: string, up: boolean): Promise<void>;
  /** The carrier of an up link: its far end going down or up (a cable pulled, plugged in). */
  setCarrier(name: string, carrier: boolean): Promise<void>;
  /** Renames a link that is down (Linux refuses to rename an up link). */
  rename(name: string, to: string): Promise<void>;
  /** mac as 'aa:bb:cc:dd:ee:ff'. */
  setMac(name: string, mac: string): Promise<void>;
  /** An IPv4 address as '192.0.2.1/24'. */
  addAddress(name: string, cidr: string): Promise<void>;
  removeAddress(name: string, cidr: string): Promise<void>;
  /** Lets pending notifications arrive (nothing to wait for in a fake; a few ms for rtnetlink). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

const macText = (mac: Uint8Array | null): string | null => (mac === null ? null : [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':'));

/**
 * The LinkWatcherPort contract (src/netdev/link-watcher.ts), run against every implementation:
 * LinkWatcher over rtnetlink in a namespace (test/netns) and FakeLinks (test/fakes). What the
 * speaker relies on: a snapshot at start, then one event per kind of change, each carrying the
 * interface as it is now (and, for 'changed', as it was). A real kernel may send more than one
 * notification for one change, so the suite looks for the event it expects among those seen.
 */
export function describeLinkWatcherCompliance(name: string, makeWorld: () => Promise<LinkWorld>): void {
  describe(`LinkWatcher compliance: ${name}`, () => {
    let world: LinkWorld;
    let links: LinkEvent[];
    let addresses: AddressEvent[];

    /** Settles until an event matches, or 2 s have passed; returns it. */
    async function expectEvent<E>(events: readonly E[], what: string, match: (e: E) => boolean): Promise<E> {
      const end = Date.now() + 2000;
      for (;;) {
        const found = events.find(match);
        if (found !== undefined) return found;
        if (Date.now() > end) throw new Error(`no ${what} event; saw ${JSON.stringify(events.map((e) => summary(e)))}`);
        await world.settle();
      }
    }
    const summary = (e: unknown): unknown => {
      const ev = e as { type: string; iface: NetInterface; address?: { address: string } };
      return { type: ev.type, name: ev.iface.name, up: ev.iface.flags.up, lowerUp: ev.iface.flags.lowerUp, mac: macText(ev.iface.mac), address: ev.address?.address };
    };
    /** Starts the watcher with listeners recording every event. */
    async function start(): Promise<void> {
      world.watcher.onLink((e) => links.push(e));
      world.watcher.onAddress((e) => addresses.push(e));
      await world.watcher.start();
    }
    /** Adds a link and waits until the watcher reports it; returns its ifindex. */
    async function added(linkName: string): Promise<number> {
      await world.addLink(linkName);
      const e = await expectEvent(links, `added ${linkName}`, (x) => x.type === 'added' && x.iface.name === linkName);
      return e.iface.index;
    }

    beforeEach(async () => {
      links = [];
      addresses = [];
      world = await makeWorld();
    });
    afterEach(async () => {
      world.watcher.stop();
      await world.close();
    });

    it('loads a snapshot at start: links made before are there, by ascending ifindex, by name and by index', async () => {
      await world.addLink('lwa0');
      await start();
      const list = world.watcher.interfaces();
      const a = world.watcher.get('lwa0');
      expect(a).toBeDefined();
      expect(world.watcher.get(a!.index)).toEqual(a);
      expect(list.map((i) => i.index)).toEqual([...list.map((i) => i.index)].sort((x, y) => x - y));
      expect(list.some((i) => i.name === 'lwa0')).toBe(true);
      expect(a).toMatchObject({ linkType: 1, flags: { up: false, lowerUp: false } });
      expect(a!.mac).toHaveLength(6);
    });

    it('reports an added link, then its removal', async () => {
      await start();
      const index = await added('lwb0');
      const iface = world.watcher.get('lwb0');
      expect(iface).toMatchObject({ index, name: 'lwb0', linkType: 1 });
      expect(iface!.mac).toHaveLength(6);
      await world.removeLink('lwb0');
      await expectEvent(links, 'removed lwb0', (e) => e.type === 'removed' && e.iface.index === index && e.iface.name === 'lwb0');
      expect(world.watcher.get('lwb0')).toBeUndefined();
      expect(world.watcher.get(index)).toBeUndefined();
    });

    it('reports a link set up and down, with the state before', async () => {
      await start();
      await added('lwc0');
      await world.setUp('lwc0', true);
      const up = await expectEvent(links, 'up', (e) => e.type === 'changed' && e.iface.name === 'lwc0' && e.iface.flags.up && !e.previous.flags.up);
      expect(up.type === 'changed' && up.previous.name).toBe('lwc0');
      await expectEvent(links, 'carrier with up', (e) => e.type === 'changed' && e.iface.name === 'lwc0' && e.iface.flags.lowerUp);
      expect(world.watcher.get('lwc0')!.flags).toMatchObject({ up: true, lowerUp: true, running: true });
      expect(world.watcher.get('lwc0')!.operState).toBe('up');
      links.length = 0;
      await world.setUp('lwc0', false);
      await expectEvent(links, 'down', (e) => e.type === 'changed' && e.iface.name === 'lwc0' && !e.iface.flags.up && e.previous.flags.up);
      expect(world.watcher.get('lwc0')!.flags).toMatchObject({ up: false, lowerUp: false });
    });

    it('reports carrier loss and return on an up link (lowerUp, running, operState)', async () => {
      await start();
      await added('lwd0');
      await world.setUp('lwd0', true);
      await expectEvent(links, 'carrier', (e) => e.type === 'changed' && e.iface.name === 'lwd0' && e.iface.flags.lowerUp);
      links.length = 0;
      await world.setCarrier('lwd0', false);
      const lost = await expectEvent(links, 'carrier lost', (e) => e.type === 'changed' && e.iface.name === 'lwd0' && !e.iface.flags.lowerUp);
      expect(lost.type === 'changed' && lost.previous.flags.lowerUp).toBe(true);
      expect(world.watcher.get('lwd0')).toMatchObject({ flags: { up: true, lowerUp: false, running: false }, operState: 'lowerlayerdown' });
      links.length = 0;
      await world.setCarrier('lwd0', true);
      await expectEvent(links, 'carrier back', (e) => e.type === 'changed' && e.iface.name === 'lwd0' && e.iface.flags.lowerUp && e.iface.flags.running);
      expect(world.watcher.get('lwd0')!.operState).toBe('up');
    });

    it('reports a rename as a change of the same ifindex, with the old name before', async () => {
      await start();
      const index = await added('lwe0');
      await world.rename('lwe0', 'lwe1');
      const e = await expectEvent(links, 'rename', (x) => x.type === 'changed' && x.iface.name === 'lwe1');
      expect(e.iface.index).toBe(index);
      expect(e.type === 'changed' && e.previous.name).toBe('lwe0');
      expect(world.watcher.get('lwe0')).toBeUndefined();
      expect(world.watcher.get('lwe1')!.index).toBe(index);
      expect(world.watcher.get(index)!.name).toBe('lwe1');
    });

    it('reports a MAC address change, with the old address before', async () => {
      await start();
      await added('lwf0');
      const before = macText(world.watcher.get('lwf0')!.mac);
      await world.setMac('lwf0', '02:00:5e:10:20:30');
      const e = await expectEvent(links, 'MAC change', (x) => x.type === 'changed' && macText(x.iface.mac) === '02:00:5e:10:20:30');
      expect(e.type === 'changed' && macText(e.previous.mac)).toBe(before);
      expect(macText(world.watcher.get('lwf0')!.mac)).toBe('02:00:5e:10:20:30');
    });

    it('reports an IPv4 address added and removed, and lists it on the interface meanwhile', async () => {
      await start();
      await added('lwg0');
      await world.addAddress('lwg0', '192.0.2.7/24');
      const add = await expectEvent(addresses, 'address added', (e) => e.type === 'added' && e.address.address === '192.0.2.7');
      expect(add.iface.name).toBe('lwg0');
      expect(add.address).toMatchObject({ family: 4, prefixLength: 24, linkLocal: false, tentative: false });
      expect(world.watcher.get('lwg0')!.addresses.map((a) => a.address)).toContain('192.0.2.7');
      await world.removeAddress('lwg0', '192.0.2.7/24');
      await expectEvent(addresses, 'address removed', (e) => e.type === 'removed' && e.address.address === '192.0.2.7' && e.iface.name === 'lwg0');
      expect(world.watcher.get('lwg0')!.addresses.map((a) => a.address)).not.toContain('192.0.2.7');
    });

    it('stops calling a listener once it unsubscribed', async () => {
      const mine: LinkEvent[] = [];
      const unsubscribe = world.watcher.onLink((e) => mine.push(e));
      await start();
      await added('lwh0');
      expect(mine.some((e) => e.iface.name === 'lwh0')).toBe(true);
      unsubscribe();
      mine.length = 0;
      await added('lwh1');
      expect(mine).toEqual([]);
    });

    it('reports nothing after stop, and keeps the last snapshot readable', async () => {
      await start();
      const index = await added('lwi0');
      world.watcher.stop();
      links.length = 0;
      await world.removeLink('lwi0');
      await world.addLink('lwi1');
      for (let i = 0; i < 3; i++) await world.settle();
      expect(links).toEqual([]);
      expect(world.watcher.get('lwi0')?.index).toBe(index);
      expect(world.watcher.get('lwi1')).toBeUndefined();
    });
  });
}
