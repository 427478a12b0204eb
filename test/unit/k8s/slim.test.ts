import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1EndpointSlice, type V1Node, type V1Service } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientInformer } from '../../../src/k8s/informer.js';
import { ResilientInformerCore } from '../../../src/k8s/informer-core.js';
import { LiteClient } from '../../../src/k8s/lite/client.js';
import { loadLiteKubeconfig } from '../../../src/k8s/lite/config.js';
import { liteInformerOptions } from '../../../src/k8s/lite/informer.js';
import { slimEndpointSlice, slimL2Status, slimNode, slimService } from '../../../src/k8s/slim.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { kubernetesDesiredState } from '../../../src/speaker/kubernetes-desired.js';
import { parseConfigObjects } from '../../../src/config/parse.js';
import { kubeconfigYaml, startFakeApiServer, type FakeApi } from '../../fakes/api-server/index.js';

const managedFields = [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:ports': {} } } }];

const service: V1Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'u1',
    resourceVersion: '7',
    labels: { team: 'red' },
    annotations: { 'metallb.io/allow-shared-ip': 'k' },
    managedFields,
  },
  spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerClass: 'x', ports: [{ port: 80 }], selector: { app: 'web' }, clusterIP: '10.96.0.9' },
  status: { loadBalancer: { ingress: [{ ip: '10.0.0.1', ipMode: 'VIP' }] } },
};

const slice: V1EndpointSlice = {
  addressType: 'IPv4',
  metadata: { name: 'web-x', namespace: 'shop', resourceVersion: '8', labels: { 'kubernetes.io/service-name': 'web' }, managedFields },
  endpoints: [
    { addresses: ['10.244.0.5'], nodeName: 'n1', conditions: { ready: false, serving: true, terminating: true }, targetRef: { kind: 'Pod', name: 'web-1' } },
    { addresses: ['10.244.1.5'] },
  ],
  ports: [{ port: 8080 }],
};

const node: V1Node = {
  metadata: { name: 'n1', resourceVersion: '9', labels: { zone: 'a' }, annotations: { big: 'x'.repeat(1000) }, managedFields },
  status: {
    conditions: [{ type: 'NetworkUnavailable', status: 'False', reason: 'RouteCreated', message: 'ok', lastHeartbeatTime: new Date() }],
    addresses: [{ type: 'InternalIP', address: '192.0.2.1' }],
    images: [{ names: ['registry/x:1'], sizeBytes: 1e9 }],
  },
};

describe('Slim copies of the objects the speaker caches', () => {
  it('keep of a Service only what the rules read, and the resourceVersion', () => {
    expect(slimService(service)).toEqual({
      metadata: { name: 'web', namespace: 'shop', uid: 'u1', resourceVersion: '7', labels: { team: 'red' }, annotations: { 'metallb.io/allow-shared-ip': 'k' } },
      spec: { type: 'LoadBalancer', loadBalancerClass: 'x', externalTrafficPolicy: 'Local' },
      status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } },
    });
  });

  it('keep of an EndpointSlice the service label and each endpoint\'s node and conditions, no addresses', () => {
    expect(slimEndpointSlice(slice)).toEqual({
      addressType: 'IPv4',
      metadata: { name: 'web-x', namespace: 'shop', resourceVersion: '8', labels: { 'kubernetes.io/service-name': 'web' } },
      endpoints: [{ addresses: [], nodeName: 'n1', conditions: { ready: false, serving: true } }, { addresses: [] }],
    });
  });

  it('keep of a Node its labels, condition types and statuses and its addresses; no images, no annotations', () => {
    expect(slimNode(node)).toEqual({
      metadata: { name: 'n1', resourceVersion: '9', labels: { zone: 'a' } },
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'False' }], addresses: [{ type: 'InternalIP', address: '192.0.2.1' }] },
    });
  });

  it('keep of a ServiceL2Status its labels, owner references and status', () => {
    const o = {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'ServiceL2Status',
      metadata: { name: 'l2-abc', namespace: 'ns', resourceVersion: '3', labels: { 'metallb.io/node': 'n1' }, ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'p', uid: 'u' }], managedFields },
      status: { node: 'n1', serviceName: 'web', serviceNamespace: 'shop' },
    };
    const { managedFields: _dropped, ...metadata } = o.metadata;
    expect(slimL2Status(o)).toEqual({ ...o, metadata });
  });

  it('decide what the full objects decide', () => {
    const r = parseConfigObjects([
      { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p', namespace: 'ns' }, spec: { addresses: ['10.0.0.0/24'] } },
      { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'a', namespace: 'ns' }, spec: { ipAddressPools: ['p'] } },
    ]);
    if (r.config === undefined) throw new Error('bad test config');
    const full = { self: 'n1', config: r.config, services: [{ ...service, spec: { ...service.spec, loadBalancerClass: undefined } }], endpointSlices: [slice], nodes: [node] };
    const slim = { ...full, services: full.services.map(slimService), endpointSlices: [slimEndpointSlice(slice)], nodes: [slimNode(node)] };
    const want = kubernetesDesiredState(full);
    expect(want.services.map((s) => s.name)).toEqual(['shop/web']);
    expect(kubernetesDesiredState(slim)).toEqual(want);
  });
});

describe('the speaker\'s informer (ResilientInformerCore over the lite informer) with a slim function', () => {
  let api: FakeApi | undefined;
  let dir = '';
  let informer: ResilientInformerCore<V1Service> | undefined;
  afterEach(async () => {
    await informer?.stop();
    await api?.close();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('caches slim copies of listed and of watched objects, and still sees updates', async () => {
    api = await startFakeApiServer();
    dir = mkdtempSync(join(tmpdir(), 'l2vip-slim-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(file, kubeconfigYaml(`http://127.0.0.1:${api.port}`, 'token'));
    const client = new LiteClient((await loadLiteKubeconfig({ file })).connection);
    const big = { apiVersion: 'v1', kind: 'Service', spec: { type: 'LoadBalancer', ports: [{ port: 80 }], selector: { app: 'x' } } };
    api.objects.create({ ...big, metadata: { name: 'listed', namespace: 'shop' } });
    const updates: V1Service[] = [];
    informer = new ResilientInformerCore<V1Service>(
      liteInformerOptions(client, {
        name: 'services',
        path: '/api/v1/services',
        list: () => client.list<V1Service>('/api/v1/services'),
        log: silentLogger(),
        slim: slimService,
        onUpdate: (s) => updates.push(s),
      }),
    );
    informer.start();
    await informer.whenSynced();
    api.objects.create({ ...big, metadata: { name: 'watched', namespace: 'shop' } });
    const until = async (ok: () => boolean) => {
      for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(ok()).toBe(true);
    };
    await until(() => informer?.get('watched', 'shop') !== undefined);
    for (const name of ['listed', 'watched']) {
      const s = informer.get(name, 'shop');
      expect(s?.spec).toEqual({ type: 'LoadBalancer', externalTrafficPolicy: 'Cluster' });
      expect(s?.metadata?.resourceVersion).toBeDefined();
    }
    api.objects.patchStatus('v1', 'Service', 'shop', 'watched', { loadBalancer: { ingress: [{ ip: '10.0.0.7' }] } });
    await until(() => updates.length > 0);
    expect(informer.get('watched', 'shop')?.status).toEqual({ loadBalancer: { ingress: [{ ip: '10.0.0.7' }] } });
  });
});

describe('the controller\'s informer (client-node)', () => {
  it('refuses a slim function: slim copies are the lite informer\'s', () => {
    const list = () => Promise.resolve({ apiVersion: 'v1', kind: 'ServiceList', metadata: {}, items: [] as V1Service[] });
    expect(() => new ResilientInformer<V1Service>(new KubeConfig(), { name: 'services', path: '/api/v1/services', list, log: silentLogger(), slim: slimService })).toThrow(/lite informer/);
  });
});
