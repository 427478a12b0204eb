// The fake API server's wire behaviour, asserted on raw HTTP (lists, watches, subresources,
// patches, errors, CRDs, discovery, faults).

import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApi, type KubeObject } from '../../fakes/api-server/index.js';
import { call, waitFor, watch, type RawWatch } from './raw-client.js';

let api: FakeApi;
let watches: RawWatch[] = [];

beforeEach(async () => {
  api = await startFakeApiServer();
});

afterEach(async () => {
  for (const w of watches) w.close();
  watches = [];
  await api.close();
});

async function openWatch(path: string, accept?: string): Promise<RawWatch> {
  const w = await watch(api.url, path, accept);
  watches.push(w);
  return w;
}

function cm(name: string, namespace = 'default', labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, ...(labels === undefined ? {} : { labels }) }, data: { k: name } };
}

function names(body: Record<string, unknown>): string[] {
  const items = body.items as KubeObject[];
  return items.map((i) => i.metadata?.name ?? '');
}

const CM = '/api/v1/namespaces/default/configmaps';

describe('fake API server: lists', () => {
  it('pages with limit/continue at one resourceVersion, and a continue token from before a compaction is 410', async () => {
    for (const n of ['a', 'b', 'c', 'd', 'e']) api.objects.create(cm(n));
    const first = await call(api.url, 'GET', `${CM}?limit=2`);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { remainingItemCount: 3 } });
    expect(names(first.body)).toEqual(['a', 'b']);
    // Typed lists carry no apiVersion/kind per item (custom resources' lists do).
    expect((first.body.items as KubeObject[])[0]).not.toHaveProperty('kind');
    const meta = first.body.metadata as { continue: string; resourceVersion: string };
    expect(typeof meta.resourceVersion).toBe('string');
    const second = await call(api.url, 'GET', `${CM}?limit=2&continue=${meta.continue}`);
    expect(names(second.body)).toEqual(['c', 'd']);
    const next = (second.body.metadata as { continue: string }).continue;
    const last = await call(api.url, 'GET', `${CM}?limit=2&continue=${next}`);
    expect(names(last.body)).toEqual(['e']);
    expect((last.body.metadata as Record<string, unknown>).continue).toBeUndefined();

    api.objects.create(cm('f'));
    api.faults.compact();
    const gone = await call(api.url, 'GET', `${CM}?limit=2&continue=${meta.continue}`);
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });

    const exact = await call(api.url, 'GET', `${CM}?resourceVersion=${meta.resourceVersion}&resourceVersionMatch=Exact`);
    expect(exact.status).toBe(410);
  });

  it('filters with label selectors (=, !=, in, notin, exists, !key)', async () => {
    api.objects.create(cm('a', 'default', { app: 'x', tier: 'web' }));
    api.objects.create(cm('b', 'default', { app: 'y' }));
    api.objects.create(cm('c', 'default'));
    const q = async (sel: string): Promise<string[]> => names((await call(api.url, 'GET', `${CM}?labelSelector=${encodeURIComponent(sel)}`)).body);
    expect(await q('app=x')).toEqual(['a']);
    expect(await q('app!=x')).toEqual(['b', 'c']);
    expect(await q('app in (x, y)')).toEqual(['a', 'b']);
    expect(await q('app notin (x)')).toEqual(['b', 'c']);
    expect(await q('app')).toEqual(['a', 'b']);
    expect(await q('!app')).toEqual(['c']);
    expect(await q('app=x,tier=web')).toEqual(['a']);
  });

  it('filters with field selectors (metadata.name, metadata.namespace, spec.nodeName, involvedObject.name)', async () => {
    api.objects.create(cm('a', 'one'));
    api.objects.create(cm('b', 'two'));
    const all = async (path: string, sel: string): Promise<string[]> =>
      names((await call(api.url, 'GET', `${path}?fieldSelector=${encodeURIComponent(sel)}`)).body);
    expect(await all('/api/v1/configmaps', 'metadata.name=b')).toEqual(['b']);
    expect(await all('/api/v1/configmaps', 'metadata.namespace!=one')).toEqual(['b']);
    api.objects.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1', namespace: 'x' }, spec: { nodeName: 'node-a' } });
    api.objects.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p2', namespace: 'x' }, spec: { nodeName: 'node-b' } });
    expect(await all('/api/v1/pods', 'spec.nodeName=node-b')).toEqual(['p2']);
    api.objects.create({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1', namespace: 'x' }, involvedObject: { kind: 'Service', name: 'web' }, reason: 'IPAllocated' });
    expect(await all('/api/v1/namespaces/x/events', 'involvedObject.name=web,reason=IPAllocated')).toEqual(['e1']);
    expect(await all('/api/v1/namespaces/x/events', 'involvedObject.name=db')).toEqual([]);
  });

  it('serves a meta.k8s.io/v1 Table when asked (kubectl get)', async () => {
    api.objects.create(cm('a'));
    const r = await call(api.url, 'GET', CM, undefined, 'application/json', 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json');
    expect(r.body).toMatchObject({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', rows: [{ cells: ['a', expect.stringMatching(/^\d+s$/)] }] });
  });
});

describe('fake API server: watches', () => {
  it('replays events newer than the given resourceVersion, then streams live ones', async () => {
    api.objects.create(cm('a'));
    const rv = api.objects.resourceVersion();
    api.objects.patch('v1', 'ConfigMap', 'default', 'a', { data: { k: 'changed' } });
    api.objects.create(cm('b'));
    const w = await openWatch(`${CM}?watch=true&resourceVersion=${rv}`);
    expect(w.status).toBe(200);
    await waitFor(() => w.events.length === 2, 'the replay');
    api.objects.delete('v1', 'ConfigMap', 'default', 'a');
    await waitFor(() => w.events.length === 3, 'the live event');
    expect(w.events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual(['MODIFIED a', 'ADDED b', 'DELETED a']);
    const rvs = w.events.map((e) => Number(e.object.metadata?.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
    expect(w.events[0]?.object).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
  });

  it('starts with synthetic ADDED events for resourceVersion 0 and only sees its namespace', async () => {
    api.objects.create(cm('a'));
    api.objects.create(cm('other', 'elsewhere'));
    const w = await openWatch(`${CM}?watch=1&resourceVersion=0`);
    await waitFor(() => w.events.length === 1, 'the initial ADDED');
    api.objects.create(cm('b', 'elsewhere'));
    api.objects.create(cm('c'));
    await waitFor(() => w.events.length === 2, 'a live event');
    expect(w.events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`)).toEqual(['ADDED a', 'ADDED c']);
  });

  it('turns label changes into ADDED/DELETED for a selector watch', async () => {
    api.objects.create(cm('a', 'default', { app: 'no' }));
    const w = await openWatch(`${CM}?watch=true&labelSelector=app%3Dyes&resourceVersion=${api.objects.resourceVersion()}`);
    api.objects.patch('v1', 'ConfigMap', 'default', 'a', { metadata: { labels: { app: 'yes' } } });
    api.objects.patch('v1', 'ConfigMap', 'default', 'a', { data: { k: 'v2' } });
    api.objects.patch('v1', 'ConfigMap', 'default', 'a', { metadata: { labels: { app: 'no' } } });
    await waitFor(() => w.events.length === 3, 'three events');
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('sends an ERROR event with a 410 Expired Status in a 200 stream for a compacted resourceVersion', async () => {
    api.objects.create(cm('a'));
    const old = api.objects.resourceVersion();
    api.objects.create(cm('b'));
    api.faults.compact();
    const w = await openWatch(`${CM}?watch=true&resourceVersion=${old}`);
    expect(w.status).toBe(200);
    expect(await w.done).toBe('end');
    expect(w.events).toEqual([
      {
        type: 'ERROR',
        object: expect.objectContaining({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 }) as unknown,
      },
    ]);
  });

  it('forgets history beyond historyLimit (older resourceVersions are 410)', async () => {
    await api.close();
    api = await startFakeApiServer({ historyLimit: 2 });
    const start = api.objects.resourceVersion();
    for (const n of ['a', 'b', 'c']) api.objects.create(cm(n));
    const w = await openWatch(`${CM}?watch=true&resourceVersion=${start}`);
    await w.done;
    expect(w.events[0]?.object.code).toBe(410);
    const recent = await openWatch(`${CM}?watch=true&resourceVersion=${Number(start) + 1}`);
    await waitFor(() => recent.events.length === 2, 'the kept history');
    expect(recent.events.map((e) => e.object.metadata?.name)).toEqual(['b', 'c']);
  });

  it('sends BOOKMARK events only when allowWatchBookmarks=true, and ends at timeoutSeconds', async () => {
    const rv = api.objects.resourceVersion();
    const with_ = await openWatch(`${CM}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=${rv}`);
    const without = await openWatch(`${CM}?watch=true&resourceVersion=${rv}`);
    await waitFor(() => api.activeWatchCount() === 2, 'both watches');
    api.objects.create(cm('a'));
    api.faults.sendBookmarks();
    await waitFor(() => with_.events.length === 2 && without.events.length === 1, 'events');
    expect(with_.events[1]).toEqual({
      type: 'BOOKMARK',
      object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: api.objects.resourceVersion() } },
    });
    const t0 = Date.now();
    expect(await with_.done).toBe('end');
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(api.activeWatchCount()).toBe(1);
    expect(without.events.map((e) => e.type)).toEqual(['ADDED']);
  });

  it('sends periodic bookmarks at bookmarkIntervalMs and honours sendInitialEvents', async () => {
    await api.close();
    api = await startFakeApiServer({ bookmarkIntervalMs: 50 });
    api.objects.create(cm('a'));
    const w = await openWatch(`${CM}?watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`);
    await waitFor(() => w.events.length >= 3, 'initial events and a periodic bookmark');
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'a' } } });
    expect(w.events[1]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
    expect(w.events[2]?.type).toBe('BOOKMARK');
  });

  it('dropAllWatches breaks the connection; expireWatches sends 410 and ends cleanly; endWatches ends cleanly', async () => {
    const a = await openWatch(`${CM}?watch=true`);
    await waitFor(() => api.activeWatchCount() === 1, 'watch a');
    api.faults.dropAllWatches();
    expect(await a.done).toBe('error');

    const b = await openWatch(`${CM}?watch=true`);
    await waitFor(() => api.activeWatchCount() === 1, 'watch b');
    api.faults.expireWatches();
    expect(await b.done).toBe('end');
    expect(b.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });

    const c = await openWatch(`${CM}?watch=true`);
    await waitFor(() => api.activeWatchCount() === 1, 'watch c');
    api.faults.endWatches();
    expect(await c.done).toBe('end');
    expect(c.events).toEqual([]);
  });
});

describe('fake API server: writes', () => {
  const SVC = '/api/v1/namespaces/default/services';
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } };

  it('keeps status out of main-resource writes and spec out of status writes', async () => {
    const created = await call(api.url, 'POST', SVC, svc);
    expect(created.status).toBe(201);
    expect(created.body.status).toBeUndefined();
    const body = created.body as KubeObject;
    expect(body.spec).toMatchObject({ type: 'LoadBalancer', clusterIP: expect.stringMatching(/^10\.96\./) as unknown, ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' });

    const st = await call(api.url, 'PUT', `${SVC}/web/status`, { ...body, spec: { type: 'ClusterIP' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.2' }] } } });
    expect(st.status).toBe(200);
    // Like a 1.32 server, ingress entries of LoadBalancer Services get ipMode VIP.
    expect(st.body).toMatchObject({ spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.2', ipMode: 'VIP' }] } } });

    const main = await call(api.url, 'PUT', `${SVC}/web`, { ...(st.body as KubeObject), spec: { ...(body.spec as object), sessionAffinity: 'ClientIP' }, status: {} });
    expect(main.body).toMatchObject({ spec: { sessionAffinity: 'ClientIP' }, status: { loadBalancer: { ingress: [{ ip: '192.0.2.2' }] } } });
    expect((main.body as KubeObject).metadata).not.toHaveProperty('generation');

    const noStatus = await call(api.url, 'PATCH', '/api/v1/namespaces/default/configmaps/none/status', {}, 'application/merge-patch+json');
    expect(noStatus.status).toBe(404);
  });

  it('does not bump the resourceVersion or emit an event for a write that changes nothing', async () => {
    api.objects.create(cm('a'));
    const before = api.objects.get('v1', 'ConfigMap', 'default', 'a');
    const events: string[] = [];
    api.objects.onEvent((e) => events.push(e.type));
    const same = await call(api.url, 'PATCH', `${CM}/a`, { data: { k: 'a' } }, 'application/merge-patch+json');
    expect((same.body as KubeObject).metadata?.resourceVersion).toBe(before?.metadata?.resourceVersion);
    expect(events).toEqual([]);
  });

  it('answers 409 for a stale resourceVersion in a merge patch, 422 for bad names, 400 for a namespace mismatch', async () => {
    api.objects.create(cm('a'));
    const stale = await call(api.url, 'PATCH', `${CM}/a`, { metadata: { resourceVersion: '1' }, data: { k: 'x' } }, 'application/merge-patch+json');
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ reason: 'Conflict', code: 409, details: { name: 'a', kind: 'configmaps' } });
    const upper = await call(api.url, 'POST', CM, cm('Bad_Name'));
    expect(upper.status).toBe(422);
    expect(upper.body).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422, details: { name: 'Bad_Name', kind: 'ConfigMap' } });
    const withRv = await call(api.url, 'POST', CM, { ...cm('y'), metadata: { name: 'y', resourceVersion: '5' } });
    expect(withRv.status).toBe(500);
    expect(withRv.body).toMatchObject({ message: 'Internal error occurred: resourceVersion should not be set on objects to be created' });
    const ns = await call(api.url, 'POST', CM, cm('x', 'other'));
    expect(ns.status).toBe(400);
    expect(ns.body).toMatchObject({ reason: 'BadRequest' });
  });

  it('answers 422 for invalid label values, annotation keys and Service status IPs, with the field path', async () => {
    const bad = await call(api.url, 'POST', CM, { metadata: { name: 'x', labels: { ip: 'fd00::1' } } });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ reason: 'Invalid', details: { causes: [{ field: 'metadata.labels' }] } });
    expect((await call(api.url, 'POST', CM, { metadata: { name: 'x', annotations: { 'Bad Key': 'v' } } })).status).toBe(422);
    expect((await call(api.url, 'POST', CM, { metadata: { name: 'x', labels: { 'metallb.io/pool': 'a_b.c' }, annotations: { 'metallb.io/ip': 'fd00::1' } } })).status).toBe(201);
    api.objects.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });
    const st = await call(api.url, 'PATCH', '/api/v1/namespaces/default/services/s/status', { status: { loadBalancer: { ingress: [{ ip: '10.0.0.1/32' }] } } }, 'application/merge-patch+json');
    expect(st.status).toBe(422);
    expect(st.body).toMatchObject({ details: { causes: [{ field: 'status.loadBalancer.ingress[0].ip' }] } });
  });

  it('clears status.loadBalancer when a Service stops being a LoadBalancer, and forbids ingress on other types', async () => {
    const path = '/api/v1/namespaces/default/services/s';
    api.objects.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });
    await call(api.url, 'PATCH', `${path}/status`, { status: { loadBalancer: { ingress: [{ ip: '192.0.2.5' }] } } }, 'application/merge-patch+json');
    const toClusterIP = await call(api.url, 'PATCH', path, { spec: { type: 'ClusterIP' } }, 'application/merge-patch+json');
    expect(toClusterIP.status).toBe(200);
    expect(toClusterIP.body.status).toEqual({ loadBalancer: {} });
    const forbidden = await call(api.url, 'PATCH', `${path}/status`, { status: { loadBalancer: { ingress: [{ ip: '192.0.2.5' }] } } }, 'application/merge-patch+json');
    expect(forbidden.status).toBe(422);
    expect(forbidden.body).toMatchObject({ details: { causes: [{ reason: 'FieldValueForbidden', field: 'status.loadBalancer.ingress' }] } });
  });

  it('generates names, returns the deleted object, honours dryRun, and delays deletion while finalizers remain', async () => {
    const gen = await call(api.url, 'POST', CM, { metadata: { generateName: 'job-' }, data: {} });
    const name = (gen.body as KubeObject).metadata?.name ?? '';
    expect(name).toMatch(/^job-[a-z0-9]{5}$/);

    const dry = await call(api.url, 'POST', `${CM}?dryRun=All`, cm('dry'));
    expect(dry.status).toBe(201);
    expect(api.objects.get('v1', 'ConfigMap', 'default', 'dry')).toBeUndefined();

    // ConfigMaps answer DELETE with a Status, Services with the deleted object (as a real server).
    const del = await call(api.url, 'DELETE', `${CM}/${name}`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({ kind: 'Status', status: 'Success', details: { name, kind: 'configmaps' } });
    expect((await call(api.url, 'DELETE', `${CM}/${name}`)).status).toBe(404);
    api.objects.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec: { ports: [{ port: 1 }] } });
    const rvBefore = Number(api.objects.resourceVersion());
    const svcDel = await call(api.url, 'DELETE', '/api/v1/namespaces/default/services/s');
    expect(svcDel.body).toMatchObject({ kind: 'Service', metadata: { name: 's' } });
    expect(Number((svcDel.body as KubeObject).metadata?.resourceVersion)).toBe(rvBefore + 1);

    api.objects.create({ ...cm('fin'), metadata: { name: 'fin', namespace: 'default', finalizers: ['l2vip.io/test'] } });
    const w = await openWatch(`${CM}?watch=true&resourceVersion=${api.objects.resourceVersion()}`);
    const marked = await call(api.url, 'DELETE', `${CM}/fin`);
    expect((marked.body as KubeObject).metadata?.deletionTimestamp).toEqual(expect.any(String));
    expect(api.objects.get('v1', 'ConfigMap', 'default', 'fin')).toBeDefined();
    await call(api.url, 'PATCH', `${CM}/fin`, [{ op: 'remove', path: '/metadata/finalizers' }], 'application/json-patch+json');
    expect(api.objects.get('v1', 'ConfigMap', 'default', 'fin')).toBeUndefined();
    await waitFor(() => w.events.length === 2, 'MODIFIED then DELETED');
    expect(w.events.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED']);
  });

  it('deletes a collection by label selector and returns the deleted items', async () => {
    api.objects.create(cm('a', 'default', { drop: 'yes' }));
    api.objects.create(cm('b', 'default'));
    const r = await call(api.url, 'DELETE', `${CM}?labelSelector=drop%3Dyes`);
    expect(r.status).toBe(200);
    expect(names(r.body)).toEqual(['a']);
    expect(api.objects.list('v1', 'ConfigMap').map((o) => o.metadata?.name)).toEqual(['b']);
  });

  it('requires the Namespace object when requireNamespaces is set', async () => {
    await api.close();
    api = await startFakeApiServer({ requireNamespaces: true });
    const r = await call(api.url, 'POST', '/api/v1/namespaces/missing/configmaps', cm('a', 'missing'));
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ reason: 'NotFound', message: 'namespaces "missing" not found' });
    expect((await call(api.url, 'POST', '/api/v1/namespaces', { metadata: { name: 'missing' } })).body).toMatchObject({ status: { phase: 'Active' } });
    expect((await call(api.url, 'POST', '/api/v1/namespaces/missing/configmaps', cm('a', 'missing'))).status).toBe(201);
  });

  it('keeps an unchanged CRD unchanged when it is written again', async () => {
    const crd = { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'gadgets.example.com' }, spec: { group: 'example.com', scope: 'Namespaced', names: { plural: 'gadgets', kind: 'Gadget' }, versions: [{ name: 'v1', served: true, storage: true }] } };
    const made = (await call(api.url, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).body as KubeObject;
    await new Promise((r) => setTimeout(r, 1100));
    const again = (await call(api.url, 'PUT', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com', made)).body as KubeObject;
    expect(again.metadata?.resourceVersion).toBe(made.metadata?.resourceVersion);
  });

  it('rejects protobuf with 415 and unknown patch types with 415', async () => {
    const pb = await call(api.url, 'POST', CM, 'k8s\u0000', 'application/vnd.kubernetes.protobuf');
    expect(pb.status).toBe(415);
    expect(pb.body).toMatchObject({ kind: 'Status', reason: 'UnsupportedMediaType', code: 415 });
    api.objects.create(cm('a'));
    const bad = await call(api.url, 'PATCH', `${CM}/a`, {}, 'application/json');
    expect(bad.status).toBe(415);
  });

  it('rejects a three-digit MicroTime on events.k8s.io/v1 Events with 400', async () => {
    const path = '/apis/events.k8s.io/v1/namespaces/default/events';
    const ev = (eventTime: string): unknown => ({ metadata: { name: 'e' }, eventTime, reason: 'X', action: 'Y', reportingController: 'l2vip', reportingInstance: 'a' });
    expect((await call(api.url, 'POST', path, ev('2026-11-28T09:00:00.123Z'))).status).toBe(400);
    expect((await call(api.url, 'POST', path, ev('2026-11-28T09:00:00.123456Z'))).status).toBe(201);
  });
});

describe('fake API server: NodePorts', () => {
  const svc = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec });
  const nodePorts = (o: KubeObject | undefined): unknown[] => ((o?.spec as { ports: { nodePort?: number }[] }).ports ?? []).map((p) => p.nodePort);

  it('allocates, keeps, frees and refuses NodePorts like a real server (the range holds 2 768)', async () => {
    const a = api.objects.create(svc('a', { type: 'LoadBalancer', ports: [{ port: 80 }, { port: 443 }] }));
    expect(nodePorts(a)).toEqual([30000, 30001]);
    expect(nodePorts(api.objects.create(svc('b', { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false, ports: [{ port: 80 }] })))).toEqual([undefined]);
    const taken = await call(api.url, 'POST', '/api/v1/namespaces/default/services', svc('c', { type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] }));
    expect(taken.status).toBe(422);
    expect(taken.body).toMatchObject({ details: { causes: [{ field: 'spec.ports[0].nodePort' }] } });

    // A PUT without the allocated NodePorts keeps them; a switch to ClusterIP frees them.
    const put = await call(api.url, 'PUT', '/api/v1/namespaces/default/services/a', svc('a', { type: 'LoadBalancer', ports: [{ port: 80 }, { port: 443 }] }));
    expect(nodePorts(put.body as KubeObject)).toEqual([30000, 30001]);
    const toClusterIP = await call(api.url, 'PATCH', '/api/v1/namespaces/default/services/a', { spec: { type: 'ClusterIP' } }, 'application/merge-patch+json');
    expect(nodePorts(toClusterIP.body as KubeObject)).toEqual([undefined, undefined]);
    expect(nodePorts(api.objects.create(svc('d', { type: 'NodePort', ports: [{ port: 80 }] })))).toEqual([30000]);

    for (let i = 0; i < 2767; i++) api.objects.create(svc(`fill-${i}`, { type: 'NodePort', ports: [{ port: 80 }] }));
    const full = await call(api.url, 'POST', '/api/v1/namespaces/default/services', svc('full', { type: 'LoadBalancer', ports: [{ port: 80 }] }));
    expect(full.status).toBe(500);
    expect(full.body).toMatchObject({ reason: 'InternalError', message: 'Internal error occurred: failed to allocate a nodePort: range is full' });
    api.objects.delete('v1', 'Service', 'default', 'd');
    expect((await call(api.url, 'POST', '/api/v1/namespaces/default/services', svc('full', { type: 'LoadBalancer', ports: [{ port: 80 }] }))).status).toBe(201);
  });
});

describe('fake API server: patches', () => {
  const POD = '/api/v1/namespaces/default/pods';
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', labels: { a: '1', b: '2' } },
    spec: { containers: [{ name: 'app', image: 'app:1' }, { name: 'side', image: 'side:1' }] },
  };

  it('merges a strategic merge patch by container name and deletes with $patch', async () => {
    await call(api.url, 'POST', POD, pod);
    const r = await call(
      api.url,
      'PATCH',
      `${POD}/p`,
      { metadata: { labels: { b: null, c: '3' } }, spec: { containers: [{ name: 'app', image: 'app:2' }, { name: 'side', $patch: 'delete' }], $setElementOrder$containers: [] } },
      'application/strategic-merge-patch+json',
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ metadata: { labels: { a: '1', c: '3' } }, spec: { containers: [{ name: 'app', image: 'app:2' }] } });
    expect((r.body as { spec: { containers: unknown[] } }).spec.containers).toHaveLength(1);
  });

  it('applies JSON patches (test failure is 422) and merge patches (null deletes)', async () => {
    await call(api.url, 'POST', POD, pod);
    const ok = await call(api.url, 'PATCH', `${POD}/p`, [{ op: 'test', path: '/metadata/labels/a', value: '1' }, { op: 'replace', path: '/metadata/labels/a', value: 'x' }, { op: 'add', path: '/spec/containers/-', value: { name: 'third', image: 't' } }], 'application/json-patch+json');
    expect(ok.body).toMatchObject({ metadata: { labels: { a: 'x' } } });
    expect((ok.body as { spec: { containers: unknown[] } }).spec.containers).toHaveLength(3);
    const fail = await call(api.url, 'PATCH', `${POD}/p`, [{ op: 'test', path: '/metadata/labels/a', value: '1' }], 'application/json-patch+json');
    expect(fail.status).toBe(422);
    const merge = await call(api.url, 'PATCH', `${POD}/p`, { metadata: { labels: { a: null } }, spec: { containers: [{ name: 'only', image: 'o' }] } }, 'application/merge-patch+json');
    expect(merge.body).toMatchObject({ metadata: { labels: { b: '2' } }, spec: { containers: [{ name: 'only', image: 'o' }] } });
  });

  it('server-side apply creates, then merges; needs a fieldManager', async () => {
    const path = '/apis/coordination.k8s.io/v1/namespaces/default/leases/l';
    const yaml = 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  holderIdentity: a\n';
    const noManager = await call(api.url, 'PATCH', path, yaml, 'application/apply-patch+yaml');
    expect(noManager.status).toBe(422);
    const created = await call(api.url, 'PATCH', `${path}?fieldManager=test&force=true`, yaml, 'application/apply-patch+yaml');
    expect(created.status).toBe(201);
    const merged = await call(api.url, 'PATCH', `${path}?fieldManager=test`, yaml.replace('holderIdentity: a', 'leaseDurationSeconds: 15'), 'application/apply-patch+yaml');
    expect(merged.status).toBe(200);
    expect(merged.body).toMatchObject({ spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } });
  });
});

describe('fake API server: server-side apply on a status subresource', () => {
  it('merges only status, and is 404 when the object does not exist', async () => {
    await api.close();
    api = await startFakeApiServer({ metallb: true });
    const path = '/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses/s1/status?fieldManager=speaker';
    const body = { apiVersion: 'metallb.io/v1beta1', kind: 'ServiceL2Status', metadata: { name: 's1' }, status: { node: 'n1' } };
    expect((await call(api.url, 'PATCH', path, body, 'application/apply-patch+yaml')).status).toBe(404);
    api.objects.create({ apiVersion: 'metallb.io/v1beta1', kind: 'ServiceL2Status', metadata: { name: 's1', namespace: 'metallb-system', labels: { a: 'b' } } });
    const r = await call(api.url, 'PATCH', path, { ...body, metadata: { name: 's1', labels: { a: 'changed' } } }, 'application/apply-patch+yaml');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ metadata: { labels: { a: 'b' } }, status: { node: 'n1' } });
  });
});

describe('fake API server: custom resources and discovery', () => {
  const crd = (scope: 'Namespaced' | 'Cluster', status: boolean): unknown => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      scope,
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
      versions: [{ name: 'v1', served: true, storage: true, ...(status ? { subresources: { status: {} } } : {}) }],
    },
  });

  it('serves a cluster-scoped custom resource once its CRD exists, and removes it with the CRD', async () => {
    expect((await call(api.url, 'GET', '/apis/example.com/v1/widgets')).status).toBe(404);
    const made = await call(api.url, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd('Cluster', true));
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ status: { conditions: expect.arrayContaining([expect.objectContaining({ type: 'Established', status: 'True' })]) as unknown } });
    const w = await call(api.url, 'POST', '/apis/example.com/v1/widgets', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 1 }, status: { ok: true } });
    expect(w.status).toBe(201);
    expect(w.body).toMatchObject({ metadata: { name: 'w1' }, spec: { size: 1 } });
    expect(w.body.status).toBeUndefined();
    expect((w.body as KubeObject).metadata?.namespace).toBeUndefined();
    expect(w.body).toMatchObject({ metadata: { generation: 1 } });
    const st = await call(api.url, 'PATCH', '/apis/example.com/v1/widgets/w1/status', { status: { ok: true } }, 'application/merge-patch+json');
    expect(st.body).toMatchObject({ status: { ok: true }, metadata: { generation: 1 } });
    const spec = await call(api.url, 'PATCH', '/apis/example.com/v1/widgets/w1', { spec: { size: 2 } }, 'application/merge-patch+json');
    expect(spec.body).toMatchObject({ metadata: { generation: 2 } });
    expect((await call(api.url, 'GET', '/apis/example.com/v1/namespaces/default/widgets')).status).toBe(404);
    const listed = await call(api.url, 'GET', '/apis/example.com/v1/widgets');
    expect(listed.body).toMatchObject({ kind: 'WidgetList', apiVersion: 'example.com/v1', items: [{ apiVersion: 'example.com/v1', kind: 'Widget' }] });

    const disc = await call(api.url, 'GET', '/apis/example.com/v1');
    expect(disc.body).toMatchObject({
      kind: 'APIResourceList',
      groupVersion: 'example.com/v1',
      resources: [{ name: 'widgets', namespaced: false, kind: 'Widget', shortNames: ['wd'] }, { name: 'widgets/status' }],
    });

    const watchW = await openWatch(`/apis/example.com/v1/widgets?watch=true&resourceVersion=${api.objects.resourceVersion()}`);
    expect((await call(api.url, 'DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com')).status).toBe(200);
    expect(await watchW.done).toBe('end');
    expect(watchW.events.map((e) => e.type)).toEqual(['DELETED']);
    expect(Number(watchW.events[0]?.object.metadata?.resourceVersion)).toBeLessThan(Number(api.objects.resourceVersion()));
    expect((await call(api.url, 'GET', '/apis/example.com/v1/widgets')).status).toBe(404);
  });

  it('serves a namespaced custom resource without status subresource: main writes change status', async () => {
    await call(api.url, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd('Namespaced', false));
    const w = await call(api.url, 'POST', '/apis/example.com/v1/namespaces/ns/widgets', { metadata: { name: 'w' }, status: { ok: true } });
    expect(w.body).toMatchObject({ metadata: { namespace: 'ns', generation: 1 }, status: { ok: true } });
    const st = await call(api.url, 'PATCH', '/apis/example.com/v1/namespaces/ns/widgets/w', { status: { ok: false } }, 'application/merge-patch+json');
    expect(st.body).toMatchObject({ metadata: { generation: 2 }, status: { ok: false } });
    expect((await call(api.url, 'GET', '/apis/example.com/v1/namespaces/ns/widgets/w/status')).status).toBe(404);
  });

  it('pre-registers the MetalLB kinds with status subresources', async () => {
    await api.close();
    api = await startFakeApiServer({ metallb: true });
    const disc = await call(api.url, 'GET', '/apis/metallb.io/v1beta1');
    const resources = (disc.body.resources as { name: string }[]).map((r) => r.name);
    expect(resources).toEqual(['ipaddresspools', 'ipaddresspools/status', 'l2advertisements', 'l2advertisements/status', 'servicel2statuses', 'servicel2statuses/status']);
    const created = api.objects.create({ apiVersion: 'metallb.io/v1beta1', kind: 'ServiceL2Status', metadata: { name: 'l2-x', namespace: 'metallb-system' }, status: { node: 'n1' } });
    expect(created.status).toEqual({ node: 'n1' });
  });

  it('answers legacy discovery, 406 for aggregated-only, 404 for OpenAPI', async () => {
    expect((await call(api.url, 'GET', '/version')).body).toMatchObject({ major: '1', minor: '32' });
    expect((await call(api.url, 'GET', '/api')).body).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await call(api.url, 'GET', '/apis')).body.groups as { name: string }[];
    expect(groups.map((g) => g.name).sort()).toEqual(['apiextensions.k8s.io', 'coordination.k8s.io', 'discovery.k8s.io', 'events.k8s.io']);
    const core = (await call(api.url, 'GET', '/api/v1')).body.resources as { name: string; shortNames?: string[]; namespaced: boolean; verbs: string[] }[];
    expect(core.find((r) => r.name === 'services')).toMatchObject({ shortNames: ['svc'], namespaced: true, verbs: expect.arrayContaining(['watch', 'patch']) as unknown });
    expect(core.map((r) => r.name)).toContain('services/status');
    expect(core.find((r) => r.name === 'nodes')?.namespaced).toBe(false);
    const agg = await call(api.url, 'GET', '/apis', undefined, 'application/json', 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    expect(agg.status).toBe(406);
    const mixed = await call(api.url, 'GET', '/apis', undefined, 'application/json', 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json');
    expect(mixed.status).toBe(200);
    expect(mixed.contentType).toBe('application/json');
    expect((await call(api.url, 'GET', '/openapi/v2')).status).toBe(404);
  });
});

describe('fake API server: faults and lifecycle', () => {
  it('refuses connections for a while (close or 503), then serves again', async () => {
    api.faults.refuseConnections(200);
    await expect(fetch(`${api.url}/version`)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 250));
    expect((await call(api.url, 'GET', '/version')).status).toBe(200);
    api.faults.refuseConnections(200, '503');
    const r = await call(api.url, 'GET', '/version');
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable', code: 503 });
  });

  it('injects failures by method/path/watch a given number of times, and adds latency', async () => {
    api.faults.injectFailure({ method: 'GET', path: '/api/v1/namespaces/default/configmaps', watch: false, code: 500, times: 2 });
    expect((await call(api.url, 'GET', CM)).body).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    expect((await call(api.url, 'POST', CM, cm('a'))).status).toBe(201);
    const w = await openWatch(`${CM}?watch=true`);
    expect(w.status).toBe(200);
    expect((await call(api.url, 'GET', CM)).status).toBe(500);
    expect((await call(api.url, 'GET', CM)).status).toBe(200);

    api.faults.injectFailure({ path: /\/leases\//, code: 409, times: Infinity });
    expect((await call(api.url, 'GET', '/apis/coordination.k8s.io/v1/namespaces/x/leases/l')).body).toMatchObject({ reason: 'Conflict', code: 409 });
    api.faults.clearFailures();
    expect((await call(api.url, 'GET', '/apis/coordination.k8s.io/v1/namespaces/x/leases/l')).status).toBe(404);

    api.faults.setLatency(100);
    const t0 = Date.now();
    await call(api.url, 'GET', '/version');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    api.faults.setLatency(0);
  });

  it('lists the open watches by resource, namespace and query', async () => {
    await openWatch(`${CM}?watch=true&labelSelector=app%3Dx`);
    await openWatch('/api/v1/services?watch=true');
    await waitFor(() => api.activeWatchCount() === 2, 'two watches');
    expect(api.activeWatches()).toEqual(
      expect.arrayContaining([
        { group: '', version: 'v1', plural: 'configmaps', namespace: 'default', query: 'watch=true&labelSelector=app%3Dx' },
        { group: '', version: 'v1', plural: 'services', namespace: undefined, query: 'watch=true' },
      ]),
    );
  });

  it('objects.waitFor resolves on the change that satisfies the predicate, and times out with the current object', async () => {
    const ready = api.objects.waitFor('v1', 'ConfigMap', 'default', 'a', (o) => o?.data !== undefined && (o.data as Record<string, string>).k === 'ready');
    api.objects.create(cm('a'));
    api.objects.patch('v1', 'ConfigMap', 'default', 'a', { data: { k: 'ready' } });
    expect((await ready)?.data).toEqual({ k: 'ready' });
    const gone = api.objects.waitFor('v1', 'ConfigMap', 'default', 'a', (o) => o === undefined);
    api.objects.delete('v1', 'ConfigMap', 'default', 'a');
    expect(await gone).toBeUndefined();
    await expect(api.objects.waitFor('v1', 'ConfigMap', 'default', 'b', (o) => o !== undefined, 50)).rejects.toThrow(/timed out after 50 ms waiting for ConfigMap default\/b/);
  });

  it('close() ends open watches and frees the port', async () => {
    const w = await openWatch(`${CM}?watch=true`);
    await waitFor(() => api.activeWatchCount() === 1, 'the watch');
    const port = api.port;
    await api.close();
    expect(await w.done).toBe('end');
    await new Promise<void>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
    });
    api = await startFakeApiServer();
  });

  it('requires the configured bearer token when one is set', async () => {
    await api.close();
    api = await startFakeApiServer({ token: 'secret' });
    const r = await call(api.url, 'GET', '/api/v1/namespaces');
    expect(r.status).toBe(401);
    const ok = await fetch(`${api.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer secret' } });
    expect(ok.status).toBe(200);
    await ok.text();
  });
});
