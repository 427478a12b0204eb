// The fake API server against the real @kubernetes/client-node 1.4 client.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  V1MicroTime,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
  type V1Service,
} from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeApiServer, type FakeApi, type KubeObject } from '../../fakes/api-server/index.js';

let api: FakeApi;
let dir: string;
let kc: KubeConfig;
let informers: Informer<V1Service>[] = [];

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function service(name: string, namespace = 'default', extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
    ...extra,
  };
}

async function apiError(p: Promise<unknown>): Promise<ApiException<string>> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) return err as ApiException<string>;
    throw err;
  }
  throw new Error('expected an ApiException');
}

function statusOf(e: ApiException<string>): Record<string, unknown> {
  return JSON.parse(e.body) as Record<string, unknown>;
}

function serviceInformer(): Informer<V1Service> & ObjectCache<V1Service> {
  const core = kc.makeApiClient(CoreV1Api);
  const inf = makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces());
  informers.push(inf);
  return inf;
}

beforeEach(async () => {
  api = await startFakeApiServer();
  dir = mkdtempSync(join(tmpdir(), 'fake-api-'));
  kc = new KubeConfig();
  kc.loadFromFile(api.writeKubeconfig(dir));
});

afterEach(async () => {
  for (const inf of informers) await inf.stop();
  informers = [];
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('fake API server with @kubernetes/client-node', () => {
  it('lists and watches Services through an informer (add, update, delete)', async () => {
    api.objects.create(service('before'));
    const inf = serviceInformer();
    const seen: string[] = [];
    inf.on('add', (s) => seen.push(`add ${s.metadata?.name ?? ''}`));
    inf.on('update', (s) => seen.push(`update ${s.metadata?.name ?? ''} ${s.status?.loadBalancer?.ingress?.[0]?.ip ?? '-'}`));
    inf.on('delete', (s) => seen.push(`delete ${s.metadata?.name ?? ''}`));
    await inf.start();
    await waitFor(() => api.activeWatchCount() === 1, 'the watch');
    api.objects.create(service('after', 'other'));
    api.objects.patchStatus('v1', 'Service', 'default', 'before', { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } });
    api.objects.delete('v1', 'Service', 'other', 'after');
    await waitFor(() => seen.length === 4, 'four events');
    expect(seen).toEqual(['add before', 'add after', 'update before 192.0.2.1', 'delete after']);
    expect(inf.list().map((s) => s.metadata?.name)).toEqual(['before']);
  });

  it('creates, reads and patches status with a merge patch; main writes keep status, status writes keep spec', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedService({ namespace: 'ns1', body: service('web', 'ns1') as V1Service });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof created.metadata?.resourceVersion).toBe('string');
    expect(created.metadata?.generation).toBeUndefined();
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);

    const patched = await core.patchNamespacedServiceStatus(
      { name: 'web', namespace: 'ns1', body: { status: { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } }, spec: { type: 'ClusterIP' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.status?.loadBalancer?.ingress?.[0]?.ip).toBe('192.0.2.7');
    expect(patched.spec?.type).toBe('LoadBalancer');
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));

    const fresh = await core.readNamespacedService({ name: 'web', namespace: 'ns1' });
    fresh.spec = { ...fresh.spec, ports: [{ port: 443, protocol: 'TCP' }] };
    fresh.status = {};
    const replaced = await core.replaceNamespacedService({ name: 'web', namespace: 'ns1', body: fresh });
    expect(replaced.spec?.ports?.[0]?.port).toBe(443);
    expect(replaced.status?.loadBalancer?.ingress?.[0]?.ip).toBe('192.0.2.7');

    const jsonPatched = await core.patchNamespacedService({
      name: 'web',
      namespace: 'ns1',
      body: [{ op: 'add', path: '/metadata/labels', value: { app: 'web' } }],
    });
    expect(jsonPatched.metadata?.labels).toEqual({ app: 'web' });
  });

  it('surfaces 409, 404 and 422 as ApiException with a Status body', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedService({ namespace: 'default', body: service('dup') as V1Service });

    const exists = await apiError(core.createNamespacedService({ namespace: 'default', body: service('dup') as V1Service }));
    expect(exists.code).toBe(409);
    expect(statusOf(exists)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'AlreadyExists',
      code: 409,
      details: { name: 'dup', kind: 'services' },
    });

    const missing = await apiError(core.readNamespacedService({ name: 'nope', namespace: 'default' }));
    expect(missing.code).toBe(404);
    expect(statusOf(missing)).toMatchObject({ reason: 'NotFound', message: 'services "nope" not found', code: 404 });

    const noName = await apiError(core.createNamespacedService({ namespace: 'default', body: { spec: {} } }));
    expect(noName.code).toBe(422);
    expect(statusOf(noName)).toMatchObject({ reason: 'Invalid', details: { causes: [{ field: 'metadata.name' }] } });

    const stale = await core.readNamespacedService({ name: 'dup', namespace: 'default' });
    api.objects.patch('v1', 'Service', 'default', 'dup', { metadata: { labels: { changed: 'yes' } } });
    const conflict = await apiError(core.replaceNamespacedService({ name: 'dup', namespace: 'default', body: stale }));
    expect(conflict.code).toBe(409);
    expect(statusOf(conflict)).toMatchObject({ reason: 'Conflict' });
  });

  it('sends 410 Expired on a watch from a compacted resourceVersion; the informer relists and reports what it missed', async () => {
    api.objects.create(service('kept'));
    api.objects.create(service('gone'));
    const inf = serviceInformer();
    const seen: string[] = [];
    inf.on('add', (s) => seen.push(`add ${s.metadata?.name ?? ''}`));
    inf.on('delete', (s) => seen.push(`delete ${s.metadata?.name ?? ''}`));
    await inf.start();
    await waitFor(() => seen.length === 2 && api.activeWatchCount() === 1, 'the initial list and the watch');
    const listsBefore = api.requests.filter((r) => r.path === '/api/v1/services' && !r.query.includes('watch')).length;

    // In one tick: the watch ends cleanly, changes happen, history is compacted; the informer's
    // re-watch from its old RV gets an ERROR 410 event and relists.
    api.faults.endWatches();
    api.objects.delete('v1', 'Service', 'default', 'gone');
    api.objects.create(service('new'));
    api.faults.compact();

    await waitFor(() => seen.length === 4, 'relist events');
    expect(seen.slice(2).sort()).toEqual(['add new', 'delete gone']);
    const lists = api.requests.filter((r) => r.path === '/api/v1/services' && !r.query.includes('watch')).length;
    expect(lists).toBe(listsBefore + 1);
    expect(inf.list().map((s) => s.metadata?.name).sort()).toEqual(['kept', 'new']);
  });

  it('expireWatches sends an ERROR 410 event in the 200 stream and the informer relists', async () => {
    const inf = serviceInformer();
    const errors: unknown[] = [];
    inf.on('error', (e) => errors.push(e));
    await inf.start();
    await waitFor(() => api.activeWatchCount() === 1, 'the watch');
    const listCount = (): number => api.requests.filter((r) => r.path === '/api/v1/services' && !r.query.includes('watch')).length;
    expect(listCount()).toBe(1);
    api.faults.expireWatches();
    await waitFor(() => listCount() === 2 && api.activeWatchCount() === 1, 'a relist and a new watch');
    expect(errors).toEqual([]);
  });

  it('dropAllWatches makes the informer report an error (it then stops until started again)', async () => {
    const inf = serviceInformer();
    const errors: unknown[] = [];
    inf.on('error', (e) => errors.push(e));
    await inf.start();
    await waitFor(() => api.activeWatchCount() === 1, 'the watch');
    api.faults.dropAllWatches();
    await waitFor(() => errors.length > 0, 'an informer error');
    expect(api.activeWatchCount()).toBe(0);

    // Restarting while the server answers 503 fails again (the error callback, not a rejection).
    const seen: string[] = [];
    inf.on('add', (s) => seen.push(s.metadata?.name ?? ''));
    api.faults.refuseConnections(300, '503');
    api.objects.create(service('while-down'));
    await inf.start();
    await waitFor(() => errors.length > 1, 'a second informer error');

    // Once the server is back, start() re-watches from the last RV and replays what it missed.
    await new Promise((r) => setTimeout(r, 350));
    await inf.start();
    await waitFor(() => seen.includes('while-down'), 'the missed Service');
    expect(api.activeWatchCount()).toBe(1);
  });

  it('serves MetalLB custom resources to KubernetesObjectApi (discovery-driven) and CustomObjectsApi', async () => {
    api.registerMetallbKinds();
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const pool = {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'pool', namespace: 'metallb-system' },
      spec: { addresses: ['192.0.2.0/28'] },
    };
    const created = await objects.create<KubernetesObject & { spec?: unknown }>(pool);
    expect(created.metadata?.uid).toBeDefined();
    const read = await objects.read<KubernetesObject & { spec?: unknown }>({ apiVersion: pool.apiVersion, kind: pool.kind, metadata: { name: 'pool', namespace: 'metallb-system' } });
    expect(read.spec).toEqual({ addresses: ['192.0.2.0/28'] });
    const listed = await objects.list('metallb.io/v1beta1', 'IPAddressPool', 'metallb-system');
    expect(listed.items.map((i) => i.metadata?.name)).toEqual(['pool']);
    await objects.patch({ ...pool, spec: { addresses: ['192.0.2.0/27'] } }, undefined, undefined, 'l2vip', undefined, PatchStrategy.MergePatch);
    expect(api.objects.get('metallb.io/v1beta1', 'IPAddressPool', 'metallb-system', 'pool')?.spec).toEqual({ addresses: ['192.0.2.0/27'] });

    const custom = kc.makeApiClient(CustomObjectsApi);
    await custom.patchNamespacedCustomObjectStatus(
      { group: 'metallb.io', version: 'v1beta1', namespace: 'metallb-system', plural: 'ipaddresspools', name: 'pool', body: { status: { assignedIPv4: 1 } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const got = (await custom.getNamespacedCustomObject({ group: 'metallb.io', version: 'v1beta1', namespace: 'metallb-system', plural: 'ipaddresspools', name: 'pool' })) as KubeObject;
    expect(got.status).toEqual({ assignedIPv4: 1 });
    expect(got.spec).toEqual({ addresses: ['192.0.2.0/27'] });
  });

  it('round-trips Lease MicroTime with six fractional digits and rejects a plain Date (400)', async () => {
    const leases = kc.makeApiClient(CoordinationV1Api);
    const t = new V1MicroTime('2026-11-28T09:00:00.123Z');
    const created = await leases.createNamespacedLease({
      namespace: 'kube-system',
      body: { metadata: { name: 'l2vip' }, spec: { holderIdentity: 'node-a', leaseDurationSeconds: 15, acquireTime: t, renewTime: t } },
    });
    expect(String(created.spec?.renewTime)).toBe('2026-11-28T09:00:00.123000Z');
    const stored = api.objects.get('coordination.k8s.io/v1', 'Lease', 'kube-system', 'l2vip');
    expect((stored?.spec as Record<string, unknown>).acquireTime).toBe('2026-11-28T09:00:00.123000Z');

    const replaced = await leases.replaceNamespacedLease({
      name: 'l2vip',
      namespace: 'kube-system',
      body: { ...created, spec: { ...created.spec, holderIdentity: 'node-b', renewTime: new V1MicroTime('2026-11-28T09:00:05.500Z') } },
    });
    expect(replaced.spec?.holderIdentity).toBe('node-b');
    expect(String(replaced.spec?.renewTime)).toBe('2026-11-28T09:00:05.500000Z');

    const bad = await apiError(
      leases.replaceNamespacedLease({
        name: 'l2vip',
        namespace: 'kube-system',
        body: { ...replaced, spec: { ...replaced.spec, renewTime: new Date('2026-11-28T09:00:06.000Z') } },
      }),
    );
    expect(bad.code).toBe(400);
    expect(statusOf(bad)).toMatchObject({ reason: 'BadRequest' });
  });
});
