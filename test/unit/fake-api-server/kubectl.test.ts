// The fake API server against the real kubectl (1.32). Skips when kubectl is not on PATH.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kubectl, kubectlPath, waitUntil } from '../../helpers/kubectl.js';
import { startFakeApiServer, type FakeApi } from '../../fakes/api-server/index.js';

if (kubectlPath === undefined) console.warn('fake API server kubectl tests skipped: `kubectl` is not on PATH');

// Minimal CRDs (the real ones live in config/crd/).
const CRDS = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ipaddresspools.metallb.io
spec:
  group: metallb.io
  names: { kind: IPAddressPool, listKind: IPAddressPoolList, plural: ipaddresspools, singular: ipaddresspool }
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    subresources: { status: {} }
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: l2advertisements.metallb.io
spec:
  group: metallb.io
  names: { kind: L2Advertisement, listKind: L2AdvertisementList, plural: l2advertisements, singular: l2advertisement }
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
`;

const METALLB_OBJECTS = `
apiVersion: v1
kind: Namespace
metadata: { name: metallb-system }
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: first-pool, namespace: metallb-system }
spec:
  addresses: [192.0.2.0/28, "2001:db8::/124"]
  autoAssign: true
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: { name: l2, namespace: metallb-system }
spec:
  ipAddressPools: [first-pool]
`;

const SERVICE = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  type: LoadBalancer
  ports: [{ port: 80, targetPort: 8080 }]
`;

let api: FakeApi;
let dir: string;
let kubeconfig: string;
const k = new Kubectl(() => ({ kubeconfig, dir }));
const spawnKubectl = (args: string[]) => k.spawn(args);
const kubectl = (args: string[], timeoutMs = 10_000) => k.run(args, timeoutMs);
const ok = (args: string[]) => k.ok(args, 10_000);
const file = (name: string, text: string) => k.file(name, text);
const waitFor = (cond: () => boolean, what: string, timeoutMs = 8000) => waitUntil(cond, what, timeoutMs);

beforeEach(async () => {
  api = await startFakeApiServer();
  dir = mkdtempSync(join(tmpdir(), 'fake-api-kubectl-'));
  kubeconfig = api.writeKubeconfig(dir);
});

afterEach(async () => {
  k.killAll();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(kubectlPath === undefined)('fake API server with kubectl', () => {
  it('applies CRDs, then MetalLB objects, and serves them back with kubectl get -o json', async () => {
    const crdOut = await ok(['apply', '--validate=false', '-f', file('crds.yaml', CRDS)]);
    expect(crdOut).toContain('customresourcedefinition.apiextensions.k8s.io/ipaddresspools.metallb.io created');
    const applied = await ok(['apply', '--validate=false', '-f', file('metallb.yaml', METALLB_OBJECTS)]);
    expect(applied).toContain('ipaddresspool.metallb.io/first-pool created');
    expect(applied).toContain('l2advertisement.metallb.io/l2 created');

    const list = JSON.parse(await ok(['get', 'ipaddresspools', '-n', 'metallb-system', '-o', 'json'])) as {
      items: { metadata: { name: string; uid: string }; spec: { addresses: string[] } }[];
    };
    expect(list.items.map((i) => i.metadata.name)).toEqual(['first-pool']);
    expect(list.items[0]?.spec.addresses).toEqual(['192.0.2.0/28', '2001:db8::/124']);

    // The CRD's status subresource is honoured for its custom resources.
    const pool = api.store.findKind('metallb.io', 'v1beta1', 'ipaddresspools');
    expect(pool?.hasStatus).toBe(true);
    expect(api.store.findKind('metallb.io', 'v1beta1', 'l2advertisements')?.hasStatus).toBe(false);

    // Re-applying a change is a client-side apply merge patch.
    const changed = METALLB_OBJECTS.replace('autoAssign: true', 'autoAssign: false');
    const again = await ok(['apply', '--validate=false', '-f', file('metallb2.yaml', changed)]);
    expect(again).toContain('ipaddresspool.metallb.io/first-pool configured');
    expect(again).toContain('l2advertisement.metallb.io/l2 unchanged');
    const stored = api.objects.get('metallb.io/v1beta1', 'IPAddressPool', 'metallb-system', 'first-pool');
    expect(stored?.spec).toEqual({ addresses: ['192.0.2.0/28', '2001:db8::/124'], autoAssign: false });
    expect(stored?.metadata?.generation).toBe(2);
  });

  it('kubectl get svc -w sees a status change made through the store and through a status patch', async () => {
    await ok(['apply', '--validate=false', '-f', file('svc.yaml', SERVICE)]);
    const watcher = spawnKubectl(['get', 'svc', '-w']);
    let out = '';
    watcher.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /web\s+LoadBalancer/.test(out), 'the first row');
    expect(out).toContain('<pending>');

    api.objects.patchStatus('v1', 'Service', 'default', 'web', { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    await waitFor(() => out.includes('192.0.2.10'), 'the store status change');

    await ok(['patch', 'svc', 'web', '--subresource=status', '--type=merge', '-p', '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.11"}]}}}']);
    await waitFor(() => out.includes('192.0.2.11'), 'the patched status');
    watcher.kill('SIGKILL');
  });

  it('kubectl apply of a changed Service sends a strategic merge patch that replaces the port by its merge key', async () => {
    await ok(['apply', '--validate=false', '-f', file('svc.yaml', SERVICE)]);
    const before = api.objects.get('v1', 'Service', 'default', 'web');
    const out = await ok(['apply', '--validate=false', '-f', file('svc2.yaml', SERVICE.replace('port: 80,', 'port: 81,'))]);
    expect(out).toContain('service/web configured');
    expect(api.requests.some((r) => r.method === 'PATCH' && r.contentType === 'application/strategic-merge-patch+json')).toBe(true);
    const after = api.objects.get('v1', 'Service', 'default', 'web');
    const spec = after?.spec as { ports: { port: number; targetPort: number }[]; clusterIP: string };
    expect(spec.ports.map((p) => [p.port, p.targetPort])).toEqual([[81, 8080]]);
    expect(spec.clusterIP).toBe((before?.spec as { clusterIP: string }).clusterIP);
  });

  it('kubectl delete removes objects; a later get is NotFound', async () => {
    await ok(['apply', '--validate=false', '-f', file('svc.yaml', SERVICE)]);
    expect(api.objects.get('v1', 'Service', 'default', 'web')).toBeDefined();
    const out = await ok(['delete', '-f', join(dir, 'svc.yaml')]);
    expect(out).toContain('service "web" deleted');
    expect(api.objects.get('v1', 'Service', 'default', 'web')).toBeUndefined();
    const r = await kubectl(['get', 'svc', 'web']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error from server (NotFound): services "web" not found');
  });

  it('kubectl apply --server-side creates and then merges (apply-patch+yaml)', async () => {
    const cm = (v: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings, namespace: default }\ndata: { mode: "${v}" }\n`;
    expect(await ok(['apply', '--server-side', '--validate=false', '-f', file('cm.yaml', cm('a'))])).toContain('serverside-applied');
    await ok(['apply', '--server-side', '--validate=false', '-f', file('cm.yaml', cm('b'))]);
    expect(api.objects.get('v1', 'ConfigMap', 'default', 'settings')?.data).toEqual({ mode: 'b' });
    expect(api.requests.some((r) => r.method === 'PATCH' && r.contentType === 'application/apply-patch+yaml' && r.query.includes('fieldManager=kubectl'))).toBe(true);
  });

  it('answers kubectl create (protobuf) with a clear 415 UnsupportedMediaType', async () => {
    const r = await kubectl(['create', 'configmap', 'x', '--from-literal=a=b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not speak protobuf');
    expect(api.requests.some((q) => q.method === 'POST' && q.status === 415)).toBe(true);
  });
});
