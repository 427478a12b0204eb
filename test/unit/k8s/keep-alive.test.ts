// client-node 1.4 opens a new connection for every API request (a new agent each time); the
// kubeconfig l2vip loads keeps them alive, so thousands of status writes reuse a few sockets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeconfig } from '../../../src/k8s/kubeconfig.js';
import { LiteClient } from '../../../src/k8s/lite/client.js';
import { loadLiteKubeconfig } from '../../../src/k8s/lite/config.js';
import { mergePatch } from '../../../src/k8s/patch.js';
import { kubeconfigYaml, startFakeApiServer, type FakeApi } from '../../fakes/api-server/index.js';

let api: FakeApi;
let dir: string;
/** A TCP relay in front of the fake that counts connections. */
let relay: Server;
let connections = 0;
const sockets = new Set<Socket>();
let kubeconfig = '';

beforeEach(async () => {
  api = await startFakeApiServer();
  connections = 0;
  relay = createServer((c) => {
    connections++;
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    const up = connect(api.port, '127.0.0.1');
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  dir = mkdtempSync(join(tmpdir(), 'l2vip-keepalive-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`, 'token'));
  api.objects.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { type: 'ClusterIP', ports: [{ port: 80 }] } });
});

afterEach(async () => {
  for (const c of sockets) c.destroy();
  await new Promise((r) => relay.close(r));
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

async function patchTenTimes(core: CoreV1Api): Promise<void> {
  for (let i = 0; i < 10; i++) {
    await core.patchNamespacedService({ name: 'web', namespace: 'default', body: { metadata: { annotations: { n: String(i) } } } }, mergePatch());
  }
}

describe('the kubeconfig l2vip loads', () => {
  it('reuses one kept-alive connection for sequential API requests', async () => {
    const { kubeConfig } = loadKubeconfig({ file: kubeconfig, env: {} });
    await patchTenTimes(kubeConfig.makeApiClient(CoreV1Api));
    expect(api.objects.get('v1', 'Service', 'default', 'web')?.metadata?.annotations).toEqual({ n: '9' });
    expect(connections).toBe(1);
  });

  it('(client-node alone opens one connection per request: what the above fixes)', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    await patchTenTimes(kc.makeApiClient(CoreV1Api));
    expect(connections).toBe(10);
  });

  it("the speaker's lite client too, and after the server closed the idle connection it reconnects without an error", async () => {
    const lite = new LiteClient((await loadLiteKubeconfig({ file: kubeconfig, env: {} })).connection);
    for (let i = 0; i < 10; i++) await lite.mergePatch('/api/v1/namespaces/default/services/web', { metadata: { annotations: { n: String(i) } } });
    expect(api.objects.get('v1', 'Service', 'default', 'web')?.metadata?.annotations).toEqual({ n: '9' });
    expect(connections).toBe(1);
    for (const c of sockets) c.destroy();
    await new Promise((r) => setTimeout(r, 20));
    await lite.mergePatch('/api/v1/namespaces/default/services/web', { metadata: { annotations: { n: 'again' } } });
    expect(connections).toBe(2);
  });
});
