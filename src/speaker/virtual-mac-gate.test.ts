import { describe, expect, it } from 'vitest';
import type { VirtualMacDevicePort } from '../netdev/virtual-mac-device.js';
import { silentLogger } from '../observability/logger.js';
import { macToString } from '../packet/mac.js';
import { desiredDigest } from './speaker.js';
import { RecordingAnnouncer } from '../../test/fakes/recording-announcer.js';
import { VirtualMacGate } from './virtual-mac-gate.js';

const VMAC = '02:aa:bb:cc:dd:ee';


class FakeDevices implements VirtualMacDevicePort {
  readonly log: string[] = [];
  fail = false;
  /** What the announcer had been told when each step ran. */
  constructor(private readonly announcer: RecordingAnnouncer) {}
  accept(parent: string, mac: string): Promise<void> {
    this.log.push(`accept ${parent} ${mac} (announced: ${JSON.stringify(this.announcer.last())})`);
    return this.fail ? Promise.reject(new Error('EOPNOTSUPP')) : Promise.resolve();
  }
  release(parent: string, mac: string): Promise<void> {
    this.log.push(`release ${parent} ${mac} (announced: ${JSON.stringify(this.announcer.last())})`);
    return Promise.resolve();
  }
  removeAll(): Promise<readonly string[]> {
    this.log.push('removeAll');
    return Promise.resolve([]);
  }
}

function setup() {
  const inner = new RecordingAnnouncer();
  const devices = new FakeDevices(inner);
  const gate = new VirtualMacGate(inner, devices, silentLogger());
  gate.setServices([
    { name: 'v', addresses: ['192.0.2.10'], nodes: ['a'], virtualMac: VMAC },
    { name: 'p', addresses: ['192.0.2.11'], nodes: ['a'] },
  ]);
  return { inner, devices, gate };
}

const owned = (ips: string[]) => new Map(ips.map((ip) => [ip, new Set(['eth0'])]));

describe('virtual MAC gate', () => {
  it('announces a virtual-MAC VIP only after its device accepts the MAC, and with that MAC', async () => {
    const { inner, devices, gate } = setup();
    gate.setOwned(owned(['192.0.2.10', '192.0.2.11']));
    expect(inner.last()).toEqual({ '192.0.2.11': ['eth0'] });
    expect(gate.sourceMac('192.0.2.10', 'eth0')).toBeUndefined();
    await gate.idle();
    expect(devices.log).toEqual([`accept eth0 ${VMAC} (announced: {"192.0.2.11":["eth0"]})`]);
    expect(inner.last()).toEqual({ '192.0.2.10': ['eth0'], '192.0.2.11': ['eth0'] });
    expect(macToString(gate.sourceMac('192.0.2.10', 'eth0')!)).toBe(VMAC);
    expect(gate.sourceMac('192.0.2.11', 'eth0')).toBeUndefined();
  });

  it('withdraws a lost VIP before it stops accepting the MAC', async () => {
    const { inner, devices, gate } = setup();
    gate.setOwned(owned(['192.0.2.10']));
    await gate.idle();
    gate.setOwned(new Map());
    await gate.idle();
    expect(devices.log[1]).toBe(`release eth0 ${VMAC} (announced: {})`);
    expect(gate.sourceMac('192.0.2.10', 'eth0')).toBeUndefined();
    // Owned again: the device goes up again before the VIP is announced.
    gate.setOwned(owned(['192.0.2.10']));
    expect(inner.last()).toEqual({});
    await gate.idle();
    expect(inner.last()).toEqual({ '192.0.2.10': ['eth0'] });
  });

  it('announces with the interface MAC when the MAC cannot be accepted', async () => {
    const { inner, devices, gate } = setup();
    devices.fail = true;
    gate.setOwned(owned(['192.0.2.10']));
    await gate.idle();
    expect(inner.last()).toEqual({ '192.0.2.10': ['eth0'] });
    expect(gate.sourceMac('192.0.2.10', 'eth0')).toBeUndefined();
  });

  it('passes the owned set through untouched when no service has a virtual MAC', () => {
    const inner = new RecordingAnnouncer();
    const gate = new VirtualMacGate(inner, new FakeDevices(inner), silentLogger());
    const o = owned(['192.0.2.11']);
    gate.setOwned(o);
    expect(inner.calls.at(-1)).toBe(o);
  });

  it('close removes every device', async () => {
    const { devices, gate } = setup();
    gate.setOwned(owned(['192.0.2.10']));
    gate.stop();
    await gate.close();
    expect(devices.log.at(-1)).toBe('removeAll');
  });
});

describe('desired-state digest and virtual MACs', () => {
  it('peers that disagree about a virtual MAC have different digests; no virtual MAC keeps the digest', () => {
    const base = { name: 'v', addresses: ['192.0.2.10'], nodes: ['a'] };
    expect(desiredDigest([{ ...base, virtualMac: VMAC }])).not.toBe(desiredDigest([base]));
    expect(desiredDigest([{ ...base, virtualMac: undefined }])).toBe(desiredDigest([base]));
  });
});
