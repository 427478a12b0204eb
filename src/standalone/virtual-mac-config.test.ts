import { describe, expect, it } from 'vitest';
import { deriveVirtualMac } from '../announcer/virtual-mac.js';
import { parseStandaloneConfig } from './standalone-config.js';

const BASE = `
node: n1
cluster:
  bind: 192.168.77.11:7946
  peers:
    - { name: n1, address: 192.168.77.11:7946 }
  secretFile: /etc/l2vip/secret
interfaces: [eth0]
`;

const parse = (text: string) => parseStandaloneConfig(BASE + text, 'n1');
const macs = (text: string) => parse(text).config?.services.map((s) => s.virtualMac);

describe('standalone config: virtualMac', () => {
  it('is off by default; services[].virtualMac: true derives the MAC from the service name', () => {
    expect(macs('services:\n  - { name: web, addresses: [192.0.2.1] }\n')).toEqual([undefined]);
    expect(macs('services:\n  - { name: web, addresses: [192.0.2.1], virtualMac: true }\n')).toEqual([deriveVirtualMac('web')]);
  });

  it('takes an explicit locally administered unicast MAC, canonicalised', () => {
    expect(macs('services:\n  - { name: web, addresses: [192.0.2.1], virtualMac: "02-AA-00-00-00-01" }\n')).toEqual(['02:aa:00:00:00:01']);
  });

  it('top-level virtualMac is the default; a service can turn it off', () => {
    expect(macs('virtualMac: true\nservices:\n  - { name: a, addresses: [192.0.2.1] }\n  - { name: b, addresses: [192.0.2.2], virtualMac: false }\n')).toEqual([
      deriveVirtualMac('a'),
      undefined,
    ]);
  });

  it('refuses a MAC that is not locally administered unicast, with the field path', () => {
    const p = parse('services:\n  - { name: web, addresses: [192.0.2.1], virtualMac: "00:11:22:33:44:55" }\n').problems;
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: 'services[0].virtualMac' });
    expect(p[0]!.message).toMatch(/locally administered/);
    expect(parse('services:\n  - { name: web, addresses: [192.0.2.1], virtualMac: "01:00:00:00:00:01" }\n').problems[0]!.message).toMatch(/multicast/);
  });

  it('refuses two services with the same virtual MAC on one interface, not on disjoint ones', () => {
    const p = parse('services:\n  - { name: a, addresses: [192.0.2.1], virtualMac: "02:00:00:00:00:01" }\n  - { name: b, addresses: [192.0.2.2], virtualMac: "02:00:00:00:00:01" }\n').problems;
    expect(p).toHaveLength(1);
    expect(p[0]).toMatchObject({ path: 'services[1].virtualMac' });
    expect(p[0]!.message).toContain('already used by service "a" on eth0');
    expect(
      parse('services:\n  - { name: a, addresses: [192.0.2.1], virtualMac: "02:00:00:00:00:01", interfaces: [eth0] }\n  - { name: b, addresses: [192.0.2.2], virtualMac: "02:00:00:00:00:01", interfaces: [eth1] }\n').problems,
    ).toEqual([]);
  });
});
