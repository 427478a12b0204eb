import { describe, expect, it } from 'vitest';
import { Allocator } from '../allocator/index.js';
import { configOf } from '../../test/helpers/allocator.js';
import { CONFIG_WARNING_CODES } from '../config/index.js';
import {
  configErrorEvents,
  ipFamiliesOf,
  processingOrder,
  readPools,
  ServiceReconciler,
  sharingKeyChanged,
  toServiceInput,
  type ServiceObject,
} from './controller-logic.js';
import { clampInt64, INT64_CLAMP, poolStatus, poolStatusEqual } from './pool-status.js';

function svc(name: string, o: { ips?: string[]; annotations?: Record<string, string>; spec?: ServiceObject['spec'] } = {}): ServiceObject {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, ...(o.annotations ? { annotations: o.annotations } : {}) },
    spec: { type: 'LoadBalancer', ports: [{ port: 80 }], ...o.spec },
    ...(o.ips ? { status: { loadBalancer: { ingress: o.ips.map((ip) => ({ ip })) } } } : {}),
  };
}

const pools = configOf([{ name: 'main', addresses: ['192.0.2.0/30'] }]);

describe('controller logic: ServiceReconciler', () => {
  it('allocates, asks for status and annotation, and reports IPAllocated once', () => {
    const r = new ServiceReconciler(new Allocator(pools));
    const d = r.reconcile(svc('web'));
    expect(d).toMatchObject({ key: 'default/web', outcome: 'allocated', ingress: ['192.0.2.0'], poolAnnotation: 'main', freed: false });
    expect(d.events).toEqual([{ type: 'Normal', reason: 'IPAllocated', message: 'Assigned IP ["192.0.2.0"]' }]);
    // The status came back through the watch: nothing left to do.
    const again = r.reconcile(svc('web', { ips: ['192.0.2.0'], annotations: { 'metallb.io/ip-allocated-from-pool': 'main' } }));
    expect(again).toEqual({ key: 'default/web', outcome: 'allocated', events: [], freed: false });
  });

  it('after a restart, keeps the status IPs without an event', () => {
    const r = new ServiceReconciler(new Allocator(pools));
    const d = r.reconcile(svc('web', { ips: ['192.0.2.2'], annotations: { 'metallb.io/ip-allocated-from-pool': 'main' } }));
    expect(d).toEqual({ key: 'default/web', outcome: 'allocated', events: [], freed: false });
  });

  it('reports one AllocationFailed per distinct reason, not one per reprocess', () => {
    const r = new ServiceReconciler(new Allocator(configOf([{ name: 'one', addresses: ['192.0.2.1/32'] }])));
    r.reconcile(svc('a'));
    const first = r.reconcile(svc('b'));
    expect(first.outcome).toBe('failed');
    expect(first.events).toEqual([{ type: 'Warning', reason: 'AllocationFailed', message: 'Failed to allocate IP for "default/b": no available IPs' }]);
    expect(r.reconcile(svc('b')).events).toEqual([]);
    expect(r.forget('default/a')).toBe(true);
    expect(r.reconcile(svc('b')).ingress).toEqual(['192.0.2.1']);
  });

  it('clears an IP the configuration no longer allows (ClearAssignment) and allocates anew', () => {
    const alloc = new Allocator(pools);
    const r = new ServiceReconciler(alloc);
    r.reconcile(svc('web'));
    alloc.setConfig(configOf([{ name: 'other', addresses: ['198.51.100.0/30'] }]));
    const d = r.reconcile(svc('web', { ips: ['192.0.2.0'], annotations: { 'metallb.io/ip-allocated-from-pool': 'main' } }));
    expect(d.ingress).toEqual(['198.51.100.0']);
    expect(d.poolAnnotation).toBe('other');
    expect(d.events.map((e) => e.reason)).toEqual(['ClearAssignment', 'IPAllocated']);
    expect(d.events[0]?.message).toContain('"192.0.2.0"');
  });

  it('clears status and annotation when the Service is no longer a LoadBalancer, and says it freed addresses', () => {
    const r = new ServiceReconciler(new Allocator(pools));
    r.reconcile(svc('web'));
    const d = r.reconcile(svc('web', { ips: ['192.0.2.0'], annotations: { 'metallb.io/ip-allocated-from-pool': 'main' }, spec: { type: 'ClusterIP' } }));
    expect(d).toEqual({ key: 'default/web', outcome: 'released', events: [], freed: true, ingress: [], poolAnnotation: null });
  });

  it('leaves Services of another class alone', () => {
    const r = new ServiceReconciler(new Allocator(pools));
    const d = r.reconcile(svc('theirs', { ips: ['203.0.113.9'], spec: { loadBalancerClass: 'example.com/lb' } }));
    expect(d).toEqual({ key: 'default/theirs', outcome: 'ignored', events: [], freed: false });
  });
});

describe('controller logic: reading Services', () => {
  it('orders Services holding IPs first, most IPs first', () => {
    const order = processingOrder([svc('a'), svc('b', { ips: ['192.0.2.1'] }), svc('c', { ips: ['192.0.2.2', '2001:db8::2'] })]);
    expect(order.map((s) => s.metadata?.name)).toEqual(['c', 'b', 'a']);
  });

  it('takes the IP families from spec.ipFamilies, else from spec.clusterIPs', () => {
    expect(ipFamiliesOf(svc('a', { spec: { ipFamilies: ['IPv6'], clusterIPs: ['10.0.0.1'] } }))).toEqual(['IPv6']);
    expect(ipFamiliesOf(svc('a', { spec: { clusterIPs: ['fd00::1', '10.0.0.1'] } }))).toEqual(['IPv6', 'IPv4']);
    expect(ipFamiliesOf(svc('a', { spec: { clusterIP: 'None' } }))).toBeUndefined();
    expect(toServiceInput(svc('a', { spec: { clusterIPs: ['fd00::1'] } })).spec?.ipFamilies).toEqual(['IPv6']);
  });

  it('notices a changed sharing key (stable or deprecated spelling)', () => {
    expect(sharingKeyChanged(svc('a'), svc('a', { annotations: { 'metallb.universe.tf/allow-shared-ip': 'k' } }))).toBe(true);
    expect(sharingKeyChanged(svc('a', { annotations: { 'metallb.io/allow-shared-ip': 'k' } }), svc('a', { annotations: { 'metallb.io/allow-shared-ip': 'k' } }))).toBe(false);
    expect(sharingKeyChanged(undefined, svc('a'))).toBe(false);
  });
});

describe('controller logic: pools', () => {
  const poolObj = (name: string, spec: Record<string, unknown>): unknown => ({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: 'metallb-system' }, spec });

  it('reads pools without L2Advertisements and without a "not advertised" warning', () => {
    const r = readPools([poolObj('p', { addresses: ['192.0.2.0/24'], futureField: 1 })]);
    expect(r.config?.pools.map((p) => p.name)).toEqual(['p']);
    expect(r.warnings.map((w) => w.code)).toEqual([CONFIG_WARNING_CODES.unknownField]);
  });

  it('turns errors into one InvalidConfiguration Event per object', () => {
    const r = readPools([poolObj('a', { addresses: ['192.0.2.0/24'] }), poolObj('b', { addresses: ['192.0.2.0/25', 'nonsense'] })]);
    expect(r.config).toBeUndefined();
    const events = configErrorEvents(r.errors);
    expect(events.map((e) => e.object.name)).toContain('b');
    expect(new Set(events.map((e) => e.object.name)).size).toBe(events.length);
    const b = events.find((e) => e.object.name === 'b');
    expect(b?.event.reason).toBe('InvalidConfiguration');
    expect(b?.event.message).toContain('keeping the last valid one');
    expect(b?.event.message).toContain('nonsense');
  });
});

describe('IPAddressPool status', () => {
  it('reports counts, clamped to what an int64 JSON field accepts', () => {
    const alloc = new Allocator(configOf([{ name: 'big', addresses: ['192.0.2.0/30', '2001:db8::/32'] }]));
    const st = poolStatus(alloc.poolStats('big') ?? { assignedV4: 0n, assignedV6: 0n, availableV4: 0n, availableV6: 0n });
    expect(st).toEqual({ assignedIPv4: 0, assignedIPv6: 0, availableIPv4: 4, availableIPv6: INT64_CLAMP });
    expect(JSON.stringify(st.availableIPv6)).toBe('9223372036854775000');
    expect(BigInt(JSON.stringify(st.availableIPv6)) < 2n ** 63n).toBe(true);
    expect(clampInt64(2n ** 53n)).toBe(2 ** 53);
    expect(clampInt64(-1n)).toBe(0);
    expect(poolStatusEqual({ ...st }, st)).toBe(true);
    expect(poolStatusEqual({ assignedIPv4: 0 }, st)).toBe(false);
  });
});
