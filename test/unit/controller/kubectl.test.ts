// kubectl (1.32, with kustomize) against the fake API server WITH the real controller allocating:
// our CRDs applied with `kubectl apply -k config/crd`, MetalLB's documentation example config
// (https://metallb.universe.tf/configuration/#layer-2-configuration) and a LoadBalancer Service
// applied with kubectl, and `kubectl get svc -w -o json` sees the IP appear in status. Skips with
// a message when kubectl is not on PATH.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kubectl, kubectlPath, waitUntil } from '../../helpers/kubectl.js';
import { startControllerProcess, type RunningController } from '../../../src/cli/controller.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeApiServer, type FakeApi } from '../../fakes/api-server/index.js';

if (kubectlPath === undefined) console.warn('kubectl with the controller: skipped, `kubectl` is not on PATH');

const CRD_DIR = fileURLToPath(new URL('../../../config/crd', import.meta.url));

// MetalLB's documentation, "Layer 2 configuration", verbatim (with the namespace it lives in).
const METALLB_EXAMPLE = `
apiVersion: v1
kind: Namespace
metadata:
  name: metallb-system
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: metallb-system
spec:
  addresses:
  - 192.168.1.240-192.168.1.250
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: example
  namespace: metallb-system
`;

const SERVICE = `
apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: default
spec:
  type: LoadBalancer
  selector:
    app: nginx
  ports:
  - port: 80
    targetPort: 80
`;

let api: FakeApi;
let dir: string;
let kubeconfig: string;
let controller: RunningController | undefined;
const k = new Kubectl(() => ({ kubeconfig, dir }));
const spawnKubectl = (args: string[]) => k.spawn(args);
const ok = (args: string[]) => k.ok(args, 15_000);
const file = (name: string, text: string) => k.file(name, text);
const waitFor = (cond: () => boolean, what: string, timeoutMs = 15_000) => waitUntil(cond, what, timeoutMs);

/** The Service objects of a `kubectl get -w -o json` stream (pretty-printed objects, one after another). */
function streamedObjects(out: string): { metadata?: { name?: string }; status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }[] {
  const objects = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < out.length; i++) {
    const ch = out[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0) objects.push(JSON.parse(out.slice(start, i + 1)) as { metadata?: { name?: string } });
    }
  }
  return objects;
}

beforeEach(async () => {
  // No metallb.io kinds built in: they exist once kubectl has applied our CRDs.
  api = await startFakeApiServer();
  dir = mkdtempSync(join(tmpdir(), 'l2vip-kubectl-controller-'));
  kubeconfig = api.writeKubeconfig(dir);
});

afterEach(async () => {
  k.killAll();
  await controller?.stop();
  controller = undefined;
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(kubectlPath === undefined)('kubectl against the fake API server, with the controller running', () => {
  it('applies our CRDs (-k config/crd) and MetalLB\'s example config; kubectl get svc -w sees the controller write the IP', async () => {
    const crds = await ok(['apply', '--validate=false', '-k', CRD_DIR]);
    for (const name of ['ipaddresspools', 'l2advertisements', 'servicel2statuses']) {
      expect(crds).toContain(`customresourcedefinition.apiextensions.k8s.io/${name}.metallb.io created`);
    }
    // The controller, as `l2vip controller --namespace metallb-system` runs it.
    controller = await startControllerProcess(
      { kubeconfig, namespace: 'metallb-system', metricsListen: '127.0.0.1:0', logLevel: 'silent', leaseDuration: 15 },
      {},
      { log: silentLogger(), identity: 'controller-0' },
    );
    const applied = await ok(['apply', '--validate=false', '-f', file('metallb.yaml', METALLB_EXAMPLE)]);
    expect(applied).toContain('ipaddresspool.metallb.io/first-pool created');
    expect(applied).toContain('l2advertisement.metallb.io/example created');
    await waitFor(() => controller?.controller.ready === true, 'the controller to load the pool');

    const watcher = spawnKubectl(['get', 'svc', '-n', 'default', '-w', '-o', 'json']);
    let out = '';
    let err = '';
    watcher.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    watcher.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => watcher.kill('SIGKILL'), 30_000);
    try {
      await waitFor(() => api.activeWatches().some((w) => w.plural === 'services' && w.namespace === 'default'), `kubectl's watch (${err})`);
      expect(await ok(['apply', '--validate=false', '-f', file('svc.yaml', SERVICE)])).toContain('service/nginx created');

      const ingress = (): string | undefined =>
        streamedObjects(out)
          .filter((o) => o.metadata?.name === 'nginx')
          .map((o) => o.status?.loadBalancer?.ingress?.[0]?.ip)
          .find((ip) => ip !== undefined);
      await waitFor(() => ingress() !== undefined, `the ingress IP in kubectl's watch output (so far: ${out.slice(-500)}${err})`);
      // The first of the pool; the watch saw the Service without it first.
      expect(ingress()).toBe('192.168.1.240');
      const seen = streamedObjects(out).filter((o) => o.metadata?.name === 'nginx');
      expect(seen[0]?.status?.loadBalancer?.ingress).toBeUndefined();
    } finally {
      clearTimeout(timer);
      watcher.kill('SIGKILL');
    }

    // And kubectl reads back the pool annotation and the pool's status the controller wrote.
    const svc = JSON.parse(await ok(['get', 'svc', 'nginx', '-n', 'default', '-o', 'json'])) as { metadata: { annotations?: Record<string, string> } };
    expect(svc.metadata.annotations?.['metallb.io/ip-allocated-from-pool']).toBe('first-pool');
    await waitFor(() => (api.objects.get('metallb.io/v1beta1', 'IPAddressPool', 'metallb-system', 'first-pool')?.status as { assignedIPv4?: number } | undefined)?.assignedIPv4 === 1, 'the pool status');
    const pool = JSON.parse(await ok(['get', 'ipaddresspools.metallb.io', 'first-pool', '-n', 'metallb-system', '-o', 'json'])) as { status?: Record<string, number> };
    expect(pool.status).toMatchObject({ assignedIPv4: 1, availableIPv4: 10 });
  }, 90_000);
});
