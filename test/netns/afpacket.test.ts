import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, type NetnsProcess } from './helpers/netns.js';

const FRAME_AGENT = 'test/netns/helpers/frame-agent.ts';
const LINK_AGENT = 'test/netns/helpers/link-agent.ts';

// Every frame the test sends carries this source MAC, so the kernel's own traffic (IPv6 DAD,
// MLD, router solicitations) on the same link is told apart.
const marker = `02${randomBytes(5).toString('hex')}`;
const BROADCAST = 'ffffffffffff';

const frames = {
  // RFC 826 request: who has 10.0.0.2, tell 10.0.0.1.
  arp: `${BROADCAST}${marker}0806` + `0001080006040001${marker}0a000001` + `0000000000000a000002`,
  // IPv4 UDP 10.0.0.1:53 -> 10.0.0.2:53 (RFC 791, RFC 768); checksums do not matter to a packet socket.
  udp4: `${BROADCAST}${marker}0800` + '4500001c' + '00000000' + '40110000' + '0a000001' + '0a000002' + '0035003500080000',
  // The ARP request behind an 802.1Q tag, VLAN 10 (IEEE 802.1Q §9.6).
  taggedArp: `${BROADCAST}${marker}8100000a0806` + `0001080006040001${marker}0a000001` + `0000000000000a000002`,
  // IPv6 (RFC 8200 §3) fe80::1 -> ff02::1:ff00:2, payload 24 bytes, next header 58, hop limit 255,
  // then an ICMPv6 Neighbor Solicitation for fe80::2 (RFC 4861 §4.3).
  ns:
    `3333ff000002${marker}86dd` +
    '6000000000183aff' +
    'fe800000000000000000000000000001' +
    'ff0200000000000000000001ff000002' +
    '8700000000000000' +
    'fe800000000000000000000000000002',
};

const fromUs = (m: Record<string, unknown>): boolean => m.event === 'frame' && typeof m.hex === 'string' && m.hex.slice(12, 24) === marker;

describe.skipIf(!NetnsLab.supported())('AF_PACKET socket and rtnetlink in network namespaces', () => {
  let lab: NetnsLab;
  let a = '';
  let b = '';

  beforeAll(async () => {
    lab = new NetnsLab();
    a = await lab.namespace('a');
    b = await lab.namespace('b');
    await lab.veth([a, 'eth0'], [b, 'eth0']);
  });
  afterAll(() => lab?.cleanup());

  async function agent(ns: string, args: string[], wrapper: string[] = []): Promise<NetnsProcess> {
    const p = lab.spawnNode(ns, FRAME_AGENT, args, wrapper);
    await p.waitFor((m) => m.event === 'ready' || m.event === 'error', 15_000);
    return p;
  }

  it('delivers what the BPF filter accepts (ARP, NS) and nothing else (IPv4, VLAN-tagged ARP)', async () => {
    const sender = await agent(a, ['eth0']);
    const receiver = await agent(b, ['eth0', 'arp-ndp']);
    const unfiltered = await agent(b, ['eth0']);
    for (const hex of [frames.udp4, frames.taggedArp, frames.arp, frames.ns]) sender.send({ op: 'send', hex });
    await receiver.waitFor((m) => fromUs(m) && m.hex === frames.ns);
    expect(receiver.messages.filter(fromUs).map((m) => m.hex)).toEqual([frames.arp, frames.ns]);
    expect(receiver.messages.filter(fromUs).map((m) => m.type)).toEqual(['broadcast', 'multicast']);
    // Why the filter checks the VLAN metadata: the kernel strips the tag before packet sockets
    // see the frame, so without the filter the tagged ARP arrives looking untagged.
    await unfiltered.waitFor((m) => fromUs(m) && m.hex === frames.ns);
    expect(unfiltered.messages.filter(fromUs).map((m) => m.hex)).toEqual([frames.udp4, frames.arp, frames.arp, frames.ns]);
    await Promise.all([sender.kill(), receiver.kill(), unfiltered.kill()]);
  });

  it('never delivers frames the host itself sends (PACKET_IGNORE_OUTGOING)', async () => {
    const peer = await agent(a, ['eth0']);
    const self = await agent(b, ['eth0']);
    self.send({ op: 'send', hex: frames.arp });
    await peer.waitFor((m) => fromUs(m) && m.hex === frames.arp);
    // The peer's frame arrives after ours was sent, so ours would have been seen by now.
    peer.send({ op: 'send', hex: frames.udp4 });
    await self.waitFor((m) => fromUs(m) && m.hex === frames.udp4);
    expect(self.messages.filter(fromUs).map((m) => m.hex)).toEqual([frames.udp4]);
    await Promise.all([peer.kill(), self.kill()]);
  });

  it('joins and leaves link-layer multicast groups; closing leaves them', async () => {
    const group = '3333ff123456';
    const shown = async (): Promise<boolean> => (await lab.run(b, 'ip', 'maddr', 'show', 'dev', 'eth0')).includes('33:33:ff:12:34:56');
    const p = await agent(b, ['eth0']);
    expect(await shown()).toBe(false);
    p.send({ op: 'join', mac: group });
    await p.waitFor((m) => m.event === 'done' && m.op === 'join');
    expect(await shown()).toBe(true);
    p.send({ op: 'leave', mac: group });
    await p.waitFor((m) => m.event === 'done' && m.op === 'leave');
    expect(await shown()).toBe(false);
    const from = p.messages.length;
    p.send({ op: 'join', mac: group });
    p.send({ op: 'close' });
    await p.waitFor((m) => m.event === 'done' && m.op === 'close', 5000, from);
    expect(await shown()).toBe(false);
    p.send({ op: 'send', hex: frames.arp });
    expect(await p.waitFor((m) => m.event === 'error' && m.op === 'send', 5000, from)).toMatchObject({ name: 'SocketError', code: 'L2VIP_SOCKET' });
    await p.kill();
  });

  it('reports ENETDOWN when its interface goes down and receives again once it is back up', async () => {
    const peer = await agent(a, ['eth0']);
    const p = await agent(b, ['eth0']);
    await lab.run(b, 'ip', 'link', 'set', 'eth0', 'down');
    expect(await p.waitFor((m) => m.event === 'error' && m.op === 'receive')).toMatchObject({ name: 'SocketError', errno: 'ENETDOWN' });
    const from = p.messages.length;
    p.send({ op: 'send', hex: frames.arp });
    expect(await p.waitFor((m) => m.event === 'error' && m.op === 'send', 5000, from)).toMatchObject({ name: 'SocketError' });
    await lab.run(b, 'ip', 'link', 'set', 'eth0', 'up');
    peer.send({ op: 'send', hex: frames.arp });
    await p.waitFor((m) => fromUs(m) && m.hex === frames.arp, 5000, from);
    await Promise.all([peer.kill(), p.kill()]);
  });

  it('maps a missing CAP_NET_RAW to PermissionError and a missing interface to InterfaceError', async () => {
    const unprivileged = await agent(b, ['eth0'], ['setpriv', '--inh-caps=-net_raw', '--bounding-set=-net_raw']);
    expect(unprivileged.messages[0]).toMatchObject({ event: 'error', name: 'PermissionError', code: 'L2VIP_PERMISSION' });
    expect(unprivileged.messages[0]?.message).toMatch(/eth0: raw sockets need CAP_NET_RAW: run as root/);
    const missing = await agent(b, ['nope0']);
    expect(missing.messages[0]).toMatchObject({ event: 'error', name: 'InterfaceError', code: 'L2VIP_INTERFACE' });
  });

  describe('link watcher', () => {
    // Namespaces of its own: the socket tests above toggle links in a and b.
    let c = '';
    let d = '';
    let watcher: NetnsProcess;
    /**
     * Runs `command` in `ns` and returns when the watcher reports a matching event, with its delay
     * after the command returned (the kernel work, e.g. dev_close's RCU waits, is not ours to count).
     */
    async function expectEvent(ns: string, command: string[], match: (m: Record<string, unknown>) => boolean): Promise<number> {
      const from = watcher.messages.length;
      await lab.run(ns, command[0]!, ...command.slice(1));
      const done = Date.now();
      const event = await watcher.waitFor(match, 3000, from);
      return (event.at as number) - done;
    }

    beforeAll(async () => {
      c = await lab.namespace('c');
      d = await lab.namespace('d');
      await lab.veth([c, 'eth0'], [d, 'eth0']);
      watcher = lab.spawnNode(d, LINK_AGENT);
      await watcher.waitFor((m) => m.event === 'ready', 15_000);
    });

    it('lists interfaces with their MAC, flags and kind', async () => {
      const list = (await watcher.waitFor((m) => m.event === 'interfaces')).list as Record<string, unknown>[];
      const mac = (await lab.run(d, 'cat', '/sys/class/net/eth0/address')).trim().replaceAll(':', '');
      expect(list.find((i) => i.name === 'eth0')).toMatchObject({
        mac,
        kind: 'veth',
        master: null,
        flags: { up: true, broadcast: true, noarp: false, loopback: false },
      });
      expect(list.find((i) => i.name === 'lo')).toMatchObject({ index: 1, flags: { loopback: true } });
    });

    it('reports `ip link set down` within 100 ms, and carrier loss when the peer goes down', async () => {
      const down = await expectEvent(d, ['ip', 'link', 'set', 'eth0', 'down'], (m) => m.event === 'link' && m.name === 'eth0' && m.up === false);
      expect(down).toBeLessThan(100);
      await expectEvent(d, ['ip', 'link', 'set', 'eth0', 'up'], (m) => m.event === 'link' && m.name === 'eth0' && m.up === true);
      // Carrier changes reach rtnetlink through the kernel's linkwatch, which batches them at
      // most once a second (net/core/link_watch.c): right after another link change, up to 1 s late.
      const carrier = await expectEvent(c, ['ip', 'link', 'set', 'eth0', 'down'], (m) => m.event === 'link' && m.name === 'eth0' && m.lowerUp === false);
      expect(carrier).toBeLessThan(1100);
      await expectEvent(c, ['ip', 'link', 'set', 'eth0', 'up'], (m) => m.event === 'link' && m.name === 'eth0' && m.lowerUp === true);
    });

    it('reports IPv4 and IPv6 addresses added and removed', async () => {
      const added = await expectEvent(d, ['ip', 'addr', 'add', '10.9.0.2/24', 'dev', 'eth0'], (m) => m.event === 'address' && m.type === 'added' && m.address === '10.9.0.2');
      expect(added).toBeLessThan(100);
      await expectEvent(d, ['ip', '-6', 'addr', 'add', 'fd00:9::2/64', 'dev', 'eth0', 'nodad'], (m) => m.event === 'address' && m.type === 'added' && m.address === 'fd00:9::2' && m.prefixLength === 64);
      await expectEvent(d, ['ip', 'addr', 'del', '10.9.0.2/24', 'dev', 'eth0'], (m) => m.event === 'address' && m.type === 'removed' && m.address === '10.9.0.2');
      await expectEvent(d, ['ip', '-6', 'addr', 'del', 'fd00:9::2/64', 'dev', 'eth0'], (m) => m.event === 'address' && m.type === 'removed' && m.address === 'fd00:9::2');
    });

    it('reports links added, enslaved, released and removed; leaving a bridge is not a removal (AF_BRIDGE RTM_DELLINK)', async () => {
      await expectEvent(d, ['ip', 'link', 'add', 'br9', 'type', 'bridge'], (m) => m.event === 'link' && m.type === 'added' && m.name === 'br9');
      await expectEvent(d, ['ip', 'link', 'add', 'vx9', 'type', 'veth', 'peer', 'name', 'vy9'], (m) => m.event === 'link' && m.type === 'added' && m.name === 'vx9');
      await expectEvent(d, ['ip', 'link', 'set', 'vx9', 'master', 'br9'], (m) => m.event === 'link' && m.name === 'vx9' && typeof m.master === 'number');
      const from = watcher.messages.length;
      await expectEvent(d, ['ip', 'link', 'set', 'vx9', 'nomaster'], (m) => m.event === 'link' && m.name === 'vx9' && m.master === null);
      await expectEvent(d, ['ip', 'link', 'del', 'vx9'], (m) => m.event === 'link' && m.type === 'removed' && m.name === 'vy9');
      const removals = watcher.messages.slice(from).filter((m) => m.event === 'link' && m.type === 'removed');
      expect(removals.map((m) => m.name).sort()).toEqual(['vx9', 'vy9']);
    });

    it('recovers from lost notifications (ENOBUFS) by reloading, and reports what it missed', async () => {
      // A 4 KiB queue and a blocked event loop: 100 new links overflow it for certain.
      const small = lab.spawnNode(d, LINK_AGENT, ['4096']);
      await small.waitFor((m) => m.event === 'ready', 15_000);
      const dir = mkdtempSync(join(tmpdir(), 'l2t-'));
      const batch = join(dir, 'links');
      const names = Array.from({ length: 50 }, (_, i) => [`va${i}`, `vb${i}`]).flat();
      writeFileSync(batch, Array.from({ length: 50 }, (_, i) => `link add va${i} type veth peer name vb${i}\n`).join(''));
      // Blocked long enough for the whole batch even on a loaded machine (CI runs the unit
      // tests beside these): the overflow must happen while nobody reads.
      small.send({ op: 'block', ms: 3000 });
      await small.waitFor((m) => m.event === 'blocking');
      await lab.run(d, 'ip', '-batch', batch);
      rmSync(dir, { recursive: true });
      await small.waitFor((m) => m.reason === 'ENOBUFS', 15_000);
      for (const name of names) await small.waitFor((m) => m.event === 'link' && m.type === 'added' && m.name === name, 15_000);
      const from = small.messages.length;
      small.send({ op: 'count' });
      const expected = (await lab.run(d, 'ip', '-o', 'link')).trim().split('\n').length;
      expect((await small.waitFor((m) => m.event === 'count', 15_000, from)).count).toBe(expected);
      await small.kill();
    }, 60_000);
  });
});
