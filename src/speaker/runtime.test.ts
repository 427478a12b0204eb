import { describe, expect, it } from 'vitest';
import { FakeLinks } from '../../test/fakes/fake-links.js';
import { checkNamedInterfaces } from './runtime.js';

describe('speaker runtime: interfaces named by the desired state', () => {
  const svc = (addresses: string[], interfaces?: string[]) => ({ name: 's', addresses, nodes: ['n'], interfaces });

  it('accepts existing Ethernet interfaces, also when they are down', () => {
    const links = new FakeLinks(['eth0', 'eth1']);
    const eth1 = links.get('eth1')!;
    Object.assign(eth1, { flags: { ...eth1.flags, up: false, lowerUp: false } });
    expect(() => checkNamedInterfaces(links, { services: [svc(['192.0.2.1'], ['eth1'])], interfaces: ['eth0'] })).not.toThrow();
  });

  it('names every unknown interface, from defaults and services alike, with what the host has', () => {
    const links = new FakeLinks(['eth0']);
    expect(() => checkNamedInterfaces(links, { services: [svc(['192.0.2.1'], ['eth7'])], interfaces: ['eth9'] })).toThrow(
      /no interface named "eth9", "eth7" \(this host has: eth0\)/,
    );
  });

  it('refuses an interface that cannot carry ARP for an IPv4 VIP', () => {
    const links = new FakeLinks(['eth0']);
    const eth0 = links.get('eth0')!;
    Object.assign(eth0, { flags: { ...eth0.flags, noarp: true } });
    expect(() => checkNamedInterfaces(links, { services: [svc(['192.0.2.1'])], interfaces: ['eth0'] })).toThrow(/NOARP/);
  });

  it('refuses an interface without an Ethernet MAC', () => {
    const links = new FakeLinks(['ib0']);
    Object.assign(links.get('ib0')!, { mac: new Uint8Array(20) });
    expect(() => checkNamedInterfaces(links, { services: [svc(['2001:db8::1'], ['ib0'])] })).toThrow(/no Ethernet MAC/);
  });
});
