// Runs the real controller (the code path of `l2vip controller`) against the fake API server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { startControllerProcess, type RunningController } from '../../../src/cli/controller.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startFakeApiServer, type FakeApi, type KubeObject } from '../../fakes/api-server/index.js';

export const NS = 'metallb-system';
const REPO = fileURLToPath(new URL('../../..', import.meta.url));

export interface Harness {
  readonly api: FakeApi;
  readonly kubeconfig: string;
  readonly controllers: RunningController[];
  start(identity?: string, leaseDuration?: number, lbClass?: string): Promise<RunningController>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const api = await startFakeApiServer({ metallb: true });
  const dir = mkdtempSync(join(tmpdir(), 'l2vip-controller-'));
  const kubeconfig = api.writeKubeconfig(dir);
  const controllers: RunningController[] = [];
  return {
    api,
    kubeconfig,
    controllers,
    async start(identity = 'controller-a', leaseDuration = 15, lbClass?: string) {
      const c = await startControllerProcess(
        { kubeconfig, namespace: NS, metricsListen: '127.0.0.1:0', logLevel: 'silent', leaseDuration, ...(lbClass !== undefined ? { lbClass } : {}) },
        {},
        { log: silentLogger(), identity },
      );
      controllers.push(c);
      return c;
    },
    async close() {
      for (const c of controllers.splice(0)) await c.stop();
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(read: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function pool(name: string, addresses: string[], spec: Record<string, unknown> = {}, labels?: Record<string, string>): KubeObject {
  return {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name, namespace: NS, ...(labels ? { labels } : {}) },
    spec: { addresses, ...spec },
  };
}

export function service(
  name: string,
  opts: { namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string>; spec?: Record<string, unknown> } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      ...(opts.labels ? { labels: opts.labels } : {}),
    },
    spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ...opts.spec },
  };
}

/** status.loadBalancer.ingress IPs of a Service in the fake's store. */
export function ingressOf(api: FakeApi, name: string, namespace = 'default'): string[] | undefined {
  const obj = api.objects.get('v1', 'Service', namespace, name) as { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } } | undefined;
  const ingress = obj?.status?.loadBalancer?.ingress;
  return ingress?.map((i) => i.ip ?? '');
}

export function annotationOf(api: FakeApi, name: string, key: string, namespace = 'default'): string | undefined {
  const obj = api.objects.get('v1', 'Service', namespace, name) as { metadata?: { annotations?: Record<string, string> } } | undefined;
  return obj?.metadata?.annotations?.[key];
}

/** Events (core/v1) about a Service: reason and message, oldest first. */
export function eventsOf(api: FakeApi, name: string, namespace = 'default'): { reason: string; message: string; count: number }[] {
  return (api.objects.list('v1', 'Event', namespace) as { involvedObject?: { name?: string; kind?: string }; reason?: string; message?: string; count?: number }[])
    .filter((e) => e.involvedObject?.name === name)
    .map((e) => ({ reason: e.reason ?? '', message: e.message ?? '', count: e.count ?? 0 }));
}

export async function scrape(c: RunningController, path = '/metrics'): Promise<{ status: number; text: string }> {
  const { port } = c.server.address() as AddressInfo;
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, text: await r.text() };
}

/**
 * `l2vip controller` as a child process (node --import tsx src/cli/main.ts), for what only a
 * real process shows: SIGKILL leaves its Lease behind.
 */
export function spawnController(kubeconfig: string, identity: string, leaseDuration: number): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'controller', '--kubeconfig', kubeconfig, '--namespace', NS, '--metrics-listen', '127.0.0.1:0', '--lease-duration', String(leaseDuration), '--log-level', 'warn'],
    { cwd: REPO, env: { ...process.env, POD_NAME: identity, KUBECONFIG: '' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return child;
}

export function leaseHolder(api: FakeApi): string | undefined {
  const lease = api.objects.get('coordination.k8s.io/v1', 'Lease', NS, 'l2vip-controller') as { spec?: { holderIdentity?: string } } | undefined;
  return lease?.spec?.holderIdentity;
}

