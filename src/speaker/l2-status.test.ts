import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CreatedL2Statuses, desiredL2Status, diffL2Statuses, type L2StatusAction, type L2StatusContext, type L2StatusLike } from './l2-status.js';

const CTX: L2StatusContext = { node: 'node-a', namespace: 'l2vip-system', speakerPod: { name: 'speaker-xyz', uid: 'uid-1' } };

function existing(name: string, node: string, service: string, interfaces?: readonly string[], extra: Partial<L2StatusLike['metadata']> = {}): L2StatusLike {
  const [ns = '', svc = ''] = service.split('/');
  return {
    metadata: {
      name,
      namespace: 'l2vip-system',
      labels: { 'metallb.io/node': node, 'metallb.io/service-name': svc, 'metallb.io/service-namespace': ns },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'speaker-xyz', uid: 'uid-1' }],
      ...extra,
    },
    status: { node, serviceName: svc, serviceNamespace: ns, ...(interfaces ? { interfaces: interfaces.map((n) => ({ name: n })) } : {}) },
  };
}

const brief = (actions: L2StatusAction[]) => actions.map((a) => (a.type === 'create' ? `create ${a.service}` : `${a.type} ${a.name}`));

describe('ServiceL2Status objects', () => {
  it('describe an announced Service as MetalLB does: generateName l2-, three labels, status, owner pod', () => {
    expect(desiredL2Status(CTX, { service: 'shop/web', interfaces: ['eth1', 'eth0', 'eth1'] })).toEqual({
      apiVersion: 'metallb.io/v1beta1',
      kind: 'ServiceL2Status',
      metadata: {
        generateName: 'l2-',
        namespace: 'l2vip-system',
        labels: { 'metallb.io/node': 'node-a', 'metallb.io/service-name': 'web', 'metallb.io/service-namespace': 'shop' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'speaker-xyz', uid: 'uid-1' }],
      },
      status: { node: 'node-a', serviceName: 'web', serviceNamespace: 'shop', interfaces: [{ name: 'eth0' }, { name: 'eth1' }] },
    });
  });

  it('leave out interfaces when announced on all, and the owner when the pod is not known', () => {
    const o = desiredL2Status({ node: 'node-a', namespace: 'ns' }, { service: 'shop/web' });
    expect(o.status).toEqual({ node: 'node-a', serviceName: 'web', serviceNamespace: 'shop' });
    expect(o.metadata.ownerReferences).toBeUndefined();
    expect(desiredL2Status(CTX, { service: 'shop/web', interfaces: [] }).status.interfaces).toBeUndefined();
  });
});

describe('ServiceL2Status diff', () => {
  it('create one object per newly announced Service', () => {
    const actions = diffL2Statuses(CTX, [{ service: 'shop/web' }, { service: 'a/api', interfaces: ['eth1'] }], []);
    expect(brief(actions)).toEqual(['create a/api', 'create shop/web']);
    const [first] = actions;
    expect(first?.type === 'create' && first.object.status.interfaces).toEqual([{ name: 'eth1' }]);
  });

  it('do nothing when the objects already match', () => {
    const have = [existing('l2-aaa', 'node-a', 'shop/web', ['eth1']), existing('l2-bbb', 'node-a', 'a/api')];
    expect(diffL2Statuses(CTX, [{ service: 'shop/web', interfaces: ['eth1'] }, { service: 'a/api' }], have)).toEqual([]);
  });

  it('delete our object when we stop announcing, but never another node\'s for a Service we do not announce', () => {
    const have = [existing('l2-aaa', 'node-a', 'shop/web'), existing('l2-bbb', 'node-b', 'a/api')];
    expect(brief(diffL2Statuses(CTX, [], have))).toEqual(['delete l2-aaa']);
  });

  it('as the announcer, delete other nodes\' objects for the Service and our duplicates (MetalLB)', () => {
    const have = [existing('l2-old', 'node-b', 'shop/web'), existing('l2-z', 'node-a', 'shop/web'), existing('l2-y', 'node-a', 'shop/web', ['eth9'])];
    const actions = diffL2Statuses(CTX, [{ service: 'shop/web' }], have);
    // l2-z already says the right thing, so it is kept rather than the first by name.
    expect(brief(actions)).toEqual(['delete l2-old', 'delete l2-y']);
  });

  it('with liveness given, leave a live node\'s object alone (no delete loop between two announcers in a partition)', () => {
    const have = [existing('l2-old', 'node-b', 'shop/web'), existing('l2-dead', 'node-c', 'shop/web')];
    const actions = diffL2Statuses({ ...CTX, live: new Set(['node-a', 'node-b']) }, [{ service: 'shop/web' }], have);
    expect(brief(actions)).toEqual(['delete l2-dead', 'create shop/web']);
  });

  it('update the status when the interfaces change, comparing them as a set', () => {
    const have = [existing('l2-aaa', 'node-a', 'shop/web', ['eth1', 'eth0'])];
    expect(diffL2Statuses(CTX, [{ service: 'shop/web', interfaces: ['eth0', 'eth1'] }], have)).toEqual([]);
    const [u] = diffL2Statuses(CTX, [{ service: 'shop/web' }], have);
    expect(u).toMatchObject({ type: 'update', name: 'l2-aaa', statusChanged: true, metadataChanged: false });
    expect(u?.type === 'update' && u.object.metadata).toEqual({
      name: 'l2-aaa',
      namespace: 'l2vip-system',
      labels: { 'metallb.io/node': 'node-a', 'metallb.io/service-name': 'web', 'metallb.io/service-namespace': 'shop' },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'speaker-xyz', uid: 'uid-1' }],
    });
  });

  it('set the owner to the current speaker pod, replacing a reference to the same pod name, keeping other owners', () => {
    const refs = [
      { apiVersion: 'v1', kind: 'Pod', name: 'speaker-xyz', uid: 'old-uid' },
      { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'speaker', uid: 'ds' },
    ];
    const [u] = diffL2Statuses(CTX, [{ service: 'shop/web' }], [existing('l2-aaa', 'node-a', 'shop/web', undefined, { ownerReferences: refs })]);
    expect(u).toMatchObject({ type: 'update', statusChanged: false, metadataChanged: true });
    expect(u?.type === 'update' && u.object.metadata.ownerReferences).toEqual([refs[1], { apiVersion: 'v1', kind: 'Pod', name: 'speaker-xyz', uid: 'uid-1' }]);
  });

  it('ignore objects in other namespaces or without the three labels', () => {
    const foreign = { ...existing('l2-x', 'node-a', 'shop/web'), metadata: { ...existing('l2-x', 'node-a', 'shop/web').metadata, namespace: 'elsewhere' } };
    const unlabelled: L2StatusLike = { metadata: { name: 'l2-u', namespace: 'l2vip-system', labels: { 'metallb.io/node': 'node-a' } } };
    expect(brief(diffL2Statuses(CTX, [], [foreign, unlabelled]))).toEqual([]);
  });

  it('converge: applying the actions to the objects leaves nothing to do, and one object of ours per announced Service', () => {
    const svcs = ['a/x', 'a/y', 'b/x'];
    const arbObj = fc.record({ node: fc.constantFrom('node-a', 'node-b'), service: fc.constantFrom(...svcs), ifaces: fc.constantFrom(undefined, ['eth0'], ['eth1', 'eth0']) });
    const arbAnn = fc.uniqueArray(fc.record({ service: fc.constantFrom(...svcs), interfaces: fc.constantFrom(undefined, ['eth0'], ['eth0', 'eth1']) }), { selector: (a) => a.service });
    fc.assert(
      fc.property(fc.array(arbObj, { maxLength: 8 }), arbAnn, (objs, announced) => {
        let store = new Map<string, L2StatusLike>(objs.map((o, i) => [`l2-${i}`, existing(`l2-${i}`, o.node, o.service, o.ifaces)]));
        let n = 100;
        const apply = (actions: L2StatusAction[]) => {
          store = new Map(store);
          for (const a of actions) {
            if (a.type === 'delete') store.delete(a.name);
            else if (a.type === 'create') {
              const name = `l2-${n++}`;
              store.set(name, { ...a.object, metadata: { ...a.object.metadata, name } });
            } else store.set(a.name, a.object);
          }
        };
        apply(diffL2Statuses(CTX, announced, [...store.values()]));
        expect(diffL2Statuses(CTX, announced, [...store.values()])).toEqual([]);
        const ours = [...store.values()].filter((o) => o.metadata?.labels?.['metallb.io/node'] === 'node-a');
        expect(ours.map((o) => `${o.status?.serviceNamespace}/${o.status?.serviceName}`).sort()).toEqual(announced.map((a) => a.service).sort());
        for (const o of store.values()) {
          const key = `${o.metadata?.labels?.['metallb.io/service-namespace']}/${o.metadata?.labels?.['metallb.io/service-name']}`;
          // Another node's object survives only for a Service we do not announce.
          if (o.metadata?.labels?.['metallb.io/node'] !== 'node-a') expect(announced.some((a) => a.service === key)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('ServiceL2Status objects created but not yet reported by the informer', () => {
  const made = (name: string, service: string): L2StatusLike => existing(name, 'node-a', service);

  it('count until the informer reports them, however long it lags: a timed expiry made the next sync create a second object', () => {
    const created = new CreatedL2Statuses();
    created.add(made('l2-a', 'shop/web'), 1);
    // Any number of syncs later, with an informer that has shown nothing yet (it lags a burst of writes).
    for (let i = 0; i < 5; i++) {
      const existingNow = created.pending(1, () => false);
      expect(brief(diffL2Statuses(CTX, [{ service: 'shop/web' }], existingNow))).toEqual([]);
    }
    created.reported('l2-a', false);
    expect(created.pending(1, () => false)).toEqual([]);
  });

  it('stop counting an object deleted before a sync saw it (the deletion is not masked: the next sync creates it again)', () => {
    const created = new CreatedL2Statuses();
    created.add(made('l2-a', 'shop/web'), 1);
    // ADDED and DELETED (another node cleaned up) both arrive between two syncs.
    created.reported('l2-a', false);
    created.reported('l2-a', true);
    expect(brief(diffL2Statuses(CTX, [{ service: 'shop/web' }], created.pending(1, () => false)))).toEqual(['create shop/web']);
  });

  it('ignore a creation answered after the watch already reported the object deleted', () => {
    const created = new CreatedL2Statuses();
    created.reported('l2-a', true);
    created.add(made('l2-a', 'shop/web'), 1);
    expect(created.size).toBe(0);
  });

  it('leave it to the cache once a list started after the creation is applied (a restarted watch may have lost the events)', () => {
    const created = new CreatedL2Statuses();
    created.add(made('l2-a', 'shop/web'), 3);
    expect(created.pending(3, () => false)).toHaveLength(1);
    expect(created.pending(4, () => false)).toEqual([]);
    created.add(made('l2-b', 'shop/api'), 4);
    expect(created.pending(4, (name) => name === 'l2-b')).toEqual([]);
  });

  it('converge to exactly one object per announced Service and never hold two, whatever the informer lag, relists and ownership changes', () => {
    const svcs = ['shop/web', 'shop/api', 'db/pg'];
    const arbStep = fc.record({
      announced: fc.subarray(svcs),
      lag: fc.integer({ min: 0, max: 100 }),
      // A relist now and then (it resets the cache to the truth), a sync on most steps.
      relist: fc.nat(9).map((x) => x === 0),
      sync: fc.nat(3).map((x) => x > 0),
    });
    fc.assert(
      fc.property(fc.array(arbStep, { minLength: 1, maxLength: 40 }), (steps) => {
        const store = new Map<string, L2StatusLike>();
        const cache = new Map<string, L2StatusLike>();
        const created = new CreatedL2Statuses();
        // One watch: events arrive in the order of the writes, each some time after it.
        let events: { at: number; name: string; obj: L2StatusLike | undefined }[] = [];
        const emit = (at: number, name: string, obj: L2StatusLike | undefined) => events.push({ at: Math.max(at, events.at(-1)?.at ?? 0), name, obj });
        let listsStarted = 1;
        let lastListApplied = 1;
        let n = 0;
        const deliver = (now: number) => {
          const due = events.filter((e) => e.at <= now);
          events = events.filter((e) => e.at > now);
          for (const e of due) {
            if (e.obj === undefined) cache.delete(e.name);
            else cache.set(e.name, e.obj);
            created.reported(e.name, e.obj === undefined);
          }
        };
        const sync = (announced: readonly string[], lag: number, now: number) => {
          const seen = [...cache.values(), ...created.pending(lastListApplied, (name) => cache.has(name))];
          for (const a of diffL2Statuses(CTX, announced.map((service) => ({ service })), seen)) {
            if (a.type === 'create') {
              const name = `l2-${n++}`;
              const obj = { ...a.object, metadata: { ...a.object.metadata, name } };
              store.set(name, obj);
              emit(now + lag, name, obj);
              created.add(obj, listsStarted);
            } else if (a.type === 'delete') {
              store.delete(a.name);
              emit(now + lag, a.name, undefined);
              created.forget(a.name);
            } else {
              store.set(a.name, a.object);
              emit(now + lag, a.name, a.object);
            }
          }
          for (const service of svcs) {
            const ours = [...store.values()].filter((o) => `${o.status?.serviceNamespace}/${o.status?.serviceName}` === service);
            expect(ours.length).toBeLessThanOrEqual(1);
          }
        };
        let last: readonly string[] = [];
        for (const [t, step] of steps.entries()) {
          deliver(t);
          if (step.relist) {
            // The watch restarts: its pending events are lost, the list brings the store as it is.
            listsStarted++;
            events = [];
            cache.clear();
            for (const [name, o] of store) cache.set(name, o);
            lastListApplied = listsStarted;
          }
          last = step.announced;
          if (step.sync) sync(step.announced, step.lag, t);
        }
        deliver(Infinity);
        sync(last, 0, 1_000);
        deliver(Infinity);
        const services = [...store.values()].map((o) => `${o.status?.serviceNamespace}/${o.status?.serviceName}`).sort();
        expect(services).toEqual([...last].sort());
      }),
      { numRuns: 500 },
    );
  });
});
