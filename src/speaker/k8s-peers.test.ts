import type { V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { peerAddress, peersFromPods, type PodLike } from './k8s-peers.js';

const SEL = { namespace: 'l2vip-system', selector: { matchLabels: { app: 'l2vip', component: 'speaker' } }, port: 7946 };
function pod(name: string, node: string | undefined, ip: string | undefined, o: { ns?: string; labels?: Record<string, string>; phase?: string; deleting?: boolean } = {}): PodLike {
  return {
    metadata: {
      name,
      namespace: o.ns ?? 'l2vip-system',
      labels: o.labels ?? { app: 'l2vip', component: 'speaker' },
      ...(o.deleting === true ? { deletionTimestamp: new Date(0) } : {}),
    },
    spec: node !== undefined ? { nodeName: node } : {},
    status: { phase: o.phase ?? 'Running', ...(ip !== undefined ? { podIP: ip } : {}) },
  };
}

describe('Kubernetes peers from speaker pods', () => {
  it('name each peer after its node, at its pod IP and the --bind port, bracketing IPv6', () => {
    const peers = peersFromPods([pod('s-2', 'node-b', 'fd00::0b'), pod('s-1', 'node-a', '192.168.1.10')], SEL);
    expect(peers).toEqual([
      { name: 'node-a', address: '192.168.1.10:7946' },
      { name: 'node-b', address: '[fd00::b]:7946' },
    ]);
  });

  it('leave out pods elsewhere, not matching the selector, unscheduled, without an IP, or finished', () => {
    const pods = [
      pod('other-ns', 'node-a', '10.0.0.1', { ns: 'default' }),
      pod('other-app', 'node-b', '10.0.0.2', { labels: { app: 'l2vip', component: 'controller' } }),
      pod('pending', undefined, undefined, { phase: 'Pending' }),
      pod('no-ip', 'node-c', undefined, { phase: 'Pending' }),
      pod('done', 'node-d', '10.0.0.4', { phase: 'Succeeded' }),
      pod('failed', 'node-e', '10.0.0.5', { phase: 'Failed' }),
      pod('bad-ip', 'node-f', 'not-an-ip'),
      pod('ok', 'node-g', '10.0.0.7', { phase: 'Pending' }),
    ];
    expect(peersFromPods(pods, SEL)).toEqual([{ name: 'node-g', address: '10.0.0.7:7946' }]);
  });

  it('pick one pod per node during a rolling update: the one not being deleted', () => {
    const old = pod('s-old', 'node-a', '10.0.0.1', { deleting: true });
    const fresh = pod('s-new', 'node-a', '10.0.0.9', { phase: 'Pending' });
    expect(peersFromPods([old, fresh], SEL)).toEqual([{ name: 'node-a', address: '10.0.0.9:7946' }]);
    expect(peersFromPods([fresh, old], SEL)).toEqual([{ name: 'node-a', address: '10.0.0.9:7946' }]);
  });

  it('give the same peers whatever the order of the pods', () => {
    const arb = fc.record({
      name: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
      node: fc.constantFrom('n1', 'n2'),
      ip: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1'),
      phase: fc.constantFrom('Running', 'Pending'),
      deleting: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.uniqueArray(arb, { selector: (p) => p.name }), (specs) => {
        const pods = specs.map((s) => pod(s.name, s.node, s.ip, { phase: s.phase, deleting: s.deleting }));
        expect(peersFromPods([...pods].reverse(), SEL)).toEqual(peersFromPods(pods, SEL));
      }),
    );
  });

  it('format addresses canonically', () => {
    expect(peerAddress('::ffff:10.0.0.1', 1)).toBe('10.0.0.1:1');
    expect(peerAddress('FD00:0:0::1', 7946)).toBe('[fd00::1]:7946');
    expect(peerAddress('', 7946)).toBeUndefined();
  });

  it('accept @kubernetes/client-node pods as they are', () => {
    const p: V1Pod = { metadata: { name: 's', namespace: 'l2vip-system', labels: { app: 'l2vip', component: 'speaker' } }, spec: { nodeName: 'n', containers: [] }, status: { podIP: '10.0.0.3' } };
    expect(peersFromPods([p], SEL)).toEqual([{ name: 'n', address: '10.0.0.3:7946' }]);
  });
});
