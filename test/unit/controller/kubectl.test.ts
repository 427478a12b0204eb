// kubectl (1.32, with kustomize) against the fake API server WITH the real controller allocating:
// our CRDs applied with `kubectl apply -k config/crd`, MetalLB's documentation example config
// (https://metallb.universe.tf/configuration/#layer-2-configuration) and a LoadBalancer Service
// applied with kubectl, and `kubectl get svc -w -o json` sees the IP appear in status. Skips with
// a message when kubectl is not on PATH.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startControllerProcess, type RunningController } from '../../../src/cli/controller.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeApiServer, type FakeApi } from '../../fakes/api-server/index.js';

const kubectlPath = (process.env.PATH ?? '')
  .split(delimiter)
  .map((d) => join(d, 'kubectl'))
  .find((p) => existsSync(p));
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

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let api: FakeApi;
let dir: string;
let kubeconfig: string;
let controller: RunningController | undefined;
const children = new Set<ChildProcess>();

function spawnKubectl(args: string[]): ChildProcess {
  const child = spawn(kubectlPath ?? 'kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HOME: dir, KUBECONFIG: kubeconfig },
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

function kubectl(args: string[], timeoutMs = 15_000): Promise<Result> {
  const child = spawnKubectl(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${String(r.code)}): ${r.stderr}`);
  return r.stdout;
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
  for (const c of children) c.kill('SIGKILL');
  children.clear();
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
