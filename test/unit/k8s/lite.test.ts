// The speaker's lite Kubernetes client (src/k8s/lite/) against the fake API server: requests,
// errors, watches (bookmarks, 410 relist, server ends, drops) through ResilientInformerCore, and
// the connection from kubeconfig variants, in-cluster, and the client-node fallback.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeError, errorStatus } from '../../../src/k8s/api-errors.js';
import { EventRecorder } from '../../../src/k8s/events.js';
import { ResilientInformerCore } from '../../../src/k8s/informer-core.js';
import { KubeApiError, LiteClient } from '../../../src/k8s/lite/client.js';
import { loadLiteKubeconfig } from '../../../src/k8s/lite/config.js';
import { liteEventWriter } from '../../../src/k8s/lite/events.js';
import { LiteInformer } from '../../../src/k8s/lite/informer.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { FAKE_TOKEN, kubeconfigYaml, startFakeApiServer, type FakeApi, type KubeObject } from '../../fakes/api-server/index.js';

const log = silentLogger();
let api: FakeApi;
let dir: string;
let client: LiteClient;
const informers: ResilientInformerCore<KubernetesObject>[] = [];

beforeEach(async () => {
  api = await startFakeApiServer({ metallb: true, token: FAKE_TOKEN });
  dir = mkdtempSync(join(tmpdir(), 'l2vip-lite-'));
  const loaded = await loadLiteKubeconfig({ file: api.writeKubeconfig(dir), env: {} });
  client = new LiteClient(loaded.connection);
});

afterEach(async () => {
  for (const i of informers.splice(0)) await i.stop();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
});

function cm(name: string, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', ...(labels ? { labels } : {}) }, data: { k: name } };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const CM = '/api/v1/namespaces/default/configmaps';
const L2 = '/apis/metallb.io/v1beta1/namespaces/metallb-system/servicel2statuses';

describe('LiteClient requests', () => {
  it('lists with a label selector, creates, merge-patches an object and its status, deletes', async () => {
    api.objects.create(cm('a', { app: 'x' }));
    api.objects.create(cm('b'));
    const listed = await client.list(CM, { labelSelector: 'app=x' });
    expect(listed.items.map((i) => i.metadata?.name)).toEqual(['a']);
    expect(typeof listed.metadata?.resourceVersion).toBe('string');

    const made = await client.create<KubeObject>(L2, {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'ServiceL2Status',
      metadata: { generateName: 'l2-', namespace: 'metallb-system', labels: { 'metallb.io/node': 'n1' } },
      status: { node: 'n1' },
    });
    const name = made.metadata?.name ?? '';
    expect(name).toMatch(/^l2-/);
    // The status subresource: status given on create is dropped; /status sets it.
    await client.mergePatch(`${L2}/${name}/status`, { status: { node: 'n1', serviceName: 's' } });
    await client.mergePatch(`${L2}/${name}`, { metadata: { labels: { 'metallb.io/node': 'n2' }, ownerReferences: null } });
    const got = api.objects.get('metallb.io/v1beta1', 'ServiceL2Status', 'metallb-system', name);
    expect(got).toMatchObject({ metadata: { labels: { 'metallb.io/node': 'n2' } }, status: { node: 'n1', serviceName: 's' } });
    await client.delete(`${L2}/${name}`);
    expect(api.objects.get('metallb.io/v1beta1', 'ServiceL2Status', 'metallb-system', name)).toBeUndefined();

    const writes = api.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, r.path, r.contentType, r.status]);
    expect(writes).toEqual([
      ['POST', L2, 'application/json', 201],
      ['PATCH', `${L2}/${name}/status`, 'application/merge-patch+json', 200],
      ['PATCH', `${L2}/${name}`, 'application/merge-patch+json', 200],
      ['DELETE', `${L2}/${name}`, undefined, 200],
    ]);
  });

  it('errors carry the HTTP status and the Status message for errorStatus / describeError', async () => {
    const err = await client.delete(`${L2}/missing`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(errorStatus(err)).toBe(404);
    expect(describeError(err)).toMatch(/^HTTP 404: .*missing.*not found/);
    api.objects.create(cm('dup'));
    const conflict = await client.create(CM, cm('dup')).catch((e: unknown) => e);
    expect(errorStatus(conflict)).toBe(409);
    api.faults.injectFailure({ method: 'GET', path: CM, code: 503 });
    expect(errorStatus(await client.list(CM).catch((e: unknown) => e))).toBe(503);
    // A network error has no status.
    await api.close();
    const down = await client.list(CM).catch((e: unknown) => e);
    expect(errorStatus(down)).toBe(0);
    expect(describeError(down)).toMatch(/ECONNREFUSED/);
    api = await startFakeApiServer();
  });

  it('records Events over the lite client: POST, then a merge patch of count', async () => {
    const rec = new EventRecorder({ writer: liteEventWriter(client), component: 'l2vip-speaker', instance: 'n1', log });
    const subject = { kind: 'Service', apiVersion: 'v1', name: 'web', namespace: 'default', uid: 'u1' };
    rec.record(subject, { type: 'Normal', reason: 'nodeAssigned', message: 'announcing from node "n1" with protocol "layer2"' });
    rec.record(subject, { type: 'Normal', reason: 'nodeAssigned', message: 'announcing from node "n1" with protocol "layer2"' });
    await rec.flush();
    const events = api.objects.list('v1', 'Event', 'default');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ count: 2, reason: 'nodeAssigned', involvedObject: { kind: 'Service', name: 'web', uid: 'u1' }, source: { component: 'l2vip-speaker', host: 'n1' } });
    expect(api.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, r.contentType])).toEqual([
      ['POST', 'application/json'],
      ['PATCH', 'application/merge-patch+json'],
    ]);
  });
});

describe('LiteClient on a dead connection', () => {
  it('a request with no answer fails after requestTimeoutMs; a watch silent past its timeoutSeconds + grace fails', async () => {
    const { createServer } = await import('node:http');
    const hung = createServer((req, res) => {
      // Watches get their headers and then nothing; other requests nothing at all.
      if (req.url?.includes('watch=1') === true) res.writeHead(200, { 'Content-Type': 'application/json' }).flushHeaders();
    });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const addr = hung.address();
    const server = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    const c = new LiteClient({ server, requestOptions: () => Promise.resolve({}) }, { requestTimeoutMs: 150, watchGraceMs: 150 });
    try {
      await expect(c.list(CM)).rejects.toThrow(/no answer in 150 ms/);
      const t0 = Date.now();
      const err = await new Promise<unknown>((resolve) => c.watch(CM, { resourceVersion: '1', timeoutSeconds: 1 }, () => undefined, resolve));
      expect(String(err)).toMatch(/nothing received/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    } finally {
      hung.closeAllConnections();
      await new Promise((r) => hung.close(r));
    }
  });
});

describe('LiteInformer under ResilientInformerCore', () => {
  function informer(opts: { labelSelector?: string; slim?: (o: KubernetesObject) => KubernetesObject } = {}) {
    const seen: string[] = [];
    const inf = new ResilientInformerCore<KubernetesObject>({
      name: 'configmaps',
      path: CM,
      log,
      backoff: { initialMs: 20, maxMs: 50 },
      list: () => client.list(CM, opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
      ...(opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
      ...(opts.slim !== undefined ? { slim: opts.slim } : {}),
      onAdd: (o) => seen.push(`add ${o.metadata?.name ?? ''}`),
      onUpdate: (o) => seen.push(`update ${o.metadata?.name ?? ''}`),
      onDelete: (o) => seen.push(`delete ${o.metadata?.name ?? ''}`),
      make: (list) => new LiteInformer(client, CM, list, { labelSelector: opts.labelSelector, slim: opts.slim }),
    });
    informers.push(inf);
    return { inf, seen };
  }

  it('lists, then watches with bookmarks from the list resourceVersion; slims watched objects; label selector', async () => {
    api.objects.create(cm('a', { app: 'x' }));
    api.objects.create(cm('other'));
    const slim = (o: KubernetesObject): KubernetesObject => ({ metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, resourceVersion: o.metadata?.resourceVersion } });
    const { inf, seen } = informer({ labelSelector: 'app=x', slim });
    inf.start();
    await inf.whenSynced();
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['a']);
    await until(() => api.activeWatchCount() === 1);
    const w = api.requests.find((r) => r.query.includes('watch=1'));
    expect(w?.query).toMatch(/allowWatchBookmarks=true/);
    expect(w?.query).toMatch(/labelSelector=app%3Dx/);
    expect(w?.query).toMatch(/resourceVersion=\d+/);
    // The server ends it after 5-10 minutes, as client-go asks.
    const timeout = Number(/timeoutSeconds=(\d+)/.exec(w?.query ?? '')?.[1]);
    expect(timeout).toBeGreaterThanOrEqual(300);
    expect(timeout).toBeLessThan(600);
    api.objects.create(cm('b', { app: 'x' }));
    api.objects.create(cm('c'));
    api.objects.patch('v1', 'ConfigMap', 'default', 'a', { data: { k: 'changed' } });
    api.objects.delete('v1', 'ConfigMap', 'default', 'b');
    await until(() => seen.length === 4);
    expect(seen).toEqual(['add a', 'add b', 'update a', 'delete b']);
    expect(inf.get('a', 'default')).toEqual(slim(api.objects.get('v1', 'ConfigMap', 'default', 'a') as KubernetesObject));
    // A bookmark moves the resourceVersion on (past writes to other kinds); a later server end
    // resumes from it without a relist.
    api.objects.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'elsewhere' } });
    const before = api.requests.filter((r) => r.query.includes('watch=1'))[0]?.query ?? '';
    api.faults.sendBookmarks();
    await new Promise((r) => setTimeout(r, 50));
    const lists = inf.listsStarted;
    api.faults.endWatches();
    await until(() => api.activeWatchCount() === 1 && api.requests.filter((r) => r.query.includes('watch=1')).length === 2);
    expect(inf.listsStarted).toBe(lists);
    expect(inf.errors).toBe(0);
    const rewatch = api.requests.filter((r) => r.query.includes('watch=1'))[1];
    expect(rewatch?.query).toContain(`resourceVersion=${api.objects.resourceVersion()}`);
    expect(before).not.toContain(`resourceVersion=${api.objects.resourceVersion()}`);
  });

  it('relists on 410 (ERROR event, then compacted history) and reports what changed meanwhile', async () => {
    api.objects.create(cm('a'));
    api.objects.create(cm('b'));
    const { inf, seen } = informer();
    inf.start();
    await inf.whenSynced();
    await until(() => api.activeWatchCount() === 1);
    api.faults.expireWatches();
    await until(() => inf.listsStarted === 2 && inf.lastListApplied === 2);
    expect(inf.errors).toBe(0);
    // Changes while no watch is open, then a resume from a compacted history: 410 → relist.
    api.server.setLatency(100);
    api.faults.dropAllWatches();
    api.objects.delete('v1', 'ConfigMap', 'default', 'a');
    api.objects.create(cm('c'));
    api.faults.compact();
    api.server.setLatency(0);
    await until(() => inf.get('c', 'default') !== undefined && inf.get('a', 'default') === undefined);
    expect(seen).toEqual(expect.arrayContaining(['add a', 'add b', 'delete a', 'add c']));
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['b', 'c']);
  });

  it('an abrupt drop or a refused watch is an error: restarted with back-off, nothing lost', async () => {
    const { inf } = informer();
    inf.start();
    await inf.whenSynced();
    await until(() => api.activeWatchCount() === 1);
    api.faults.injectFailure({ watch: true, code: 500, times: 1 });
    api.faults.dropAllWatches();
    api.objects.create(cm('late'));
    await until(() => inf.get('late', 'default') !== undefined);
    expect(inf.errors).toBeGreaterThanOrEqual(1);
    expect(inf.restarts).toBeGreaterThanOrEqual(1);
  });
});

describe('loadLiteKubeconfig', () => {
  const yaml = (cluster: string[], user: string[], extra: string[] = []): string =>
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: c',
      '  cluster:',
      ...cluster.map((l) => `    ${l}`),
      'users:',
      '- name: u',
      '  user:',
      ...(user.length > 0 ? user.map((l) => `    ${l}`) : ['    {}']),
      'contexts:',
      '- name: ctx',
      '  context:',
      '    cluster: c',
      '    user: u',
      ...extra,
      'current-context: ctx',
      '',
    ].join('\n');
  const write = (text: string, name = 'kc'): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('token, tokenFile (re-read: tokens rotate), namespace; --kubeconfig before $KUBECONFIG before in-cluster', async () => {
    writeFileSync(join(dir, 'tok'), 'wrong');
    const file = write(yaml([`server: ${api.url}/`, 'insecure-skip-tls-verify: true'], ['tokenFile: tok'], ['    namespace: team']));
    const loaded = await loadLiteKubeconfig({ env: { KUBECONFIG: `${join(dir, 'none')}:${file}`, KUBERNETES_SERVICE_HOST: '10.0.0.1' }, tokenRefreshMs: 0 });
    expect(loaded).toMatchObject({ source: file, server: api.url, namespace: 'team' });
    expect(loaded.fallback).toBeUndefined();
    const c = new LiteClient(loaded.connection);
    expect(errorStatus(await c.list(CM).catch((e: unknown) => e))).toBe(401);
    writeFileSync(join(dir, 'tok'), `${FAKE_TOKEN}\n`);
    expect((await c.list(CM)).items).toEqual([]);
    const flag = await loadLiteKubeconfig({ file: api.writeKubeconfig(join(dir, 'flag')), env: { KUBECONFIG: file } });
    expect(flag.source).toBe(join(dir, 'flag'));
  });

  it('refuses what client-node refuses, with the same catalogued errors', async () => {
    await expect(loadLiteKubeconfig({ file: join(dir, 'nope'), env: {} })).rejects.toThrow(/--kubeconfig .*nope: no such file/);
    await expect(loadLiteKubeconfig({ env: {} })).rejects.toThrow(/no Kubernetes configuration/);
    await expect(loadLiteKubeconfig({ file: write(yaml([`server: ${api.url}`], [])), env: {} })).rejects.toThrow(/plain http:\/\/.*insecure-skip-tls-verify/);
    await expect(loadLiteKubeconfig({ file: write('apiVersion: v1\nkind: Config\n'), env: {} })).rejects.toThrow(/no current context or cluster/);
    await expect(loadLiteKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, serviceAccountDir: join(dir, 'sa') })).rejects.toThrow(/in-cluster configuration/);
  });

  it('falls back to client-node for an exec credential plugin (and says so)', async () => {
    const cred = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: FAKE_TOKEN } });
    const file = write(
      yaml(
        [`server: ${api.url}`, 'insecure-skip-tls-verify: true'],
        ['exec:', '  apiVersion: client.authentication.k8s.io/v1', '  command: sh', '  args: ["-c", ' + JSON.stringify(`echo '${cred}'`) + ']', '  interactiveMode: Never'],
      ),
    );
    const loaded = await loadLiteKubeconfig({ file, env: {} });
    expect(loaded.fallback).toBe('exec credential plugin');
    const c = new LiteClient(loaded.connection);
    api.objects.create(cm('x'));
    expect((await c.list(CM)).items.map((i) => i.metadata?.name)).toEqual(['x']);
  });

  describe('TLS', () => {
    let tls: HttpsServer;
    let tlsUrl = '';
    const pki: Record<string, string> = {};
    const seen: { auth: string | undefined; cert: boolean }[] = [];

    beforeEach(async () => {
      const o = (args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
      o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=test-ca']);
      writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
      o(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
      o(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '1', '-extfile', 'ext']);
      o(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'cli.key', '-out', 'cli.csr', '-subj', '/CN=speaker']);
      o(['x509', '-req', '-in', 'cli.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'cli.crt', '-days', '1']);
      const { readFileSync } = await import('node:fs');
      for (const f of ['ca.crt', 'srv.crt', 'srv.key', 'cli.crt', 'cli.key']) pki[f] = readFileSync(join(dir, f), 'utf8');
      seen.length = 0;
      tls = createHttpsServer({ key: pki['srv.key'], cert: pki['srv.crt'], ca: pki['ca.crt'], requestCert: true, rejectUnauthorized: false }, (req: IncomingMessage, res: ServerResponse) => {
        const sock = req.socket as import('node:tls').TLSSocket;
        seen.push({ auth: req.headers.authorization, cert: sock.authorized });
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] }));
      });
      await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
      const addr = tls.address();
      tlsUrl = `https://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
    });

    afterEach(async () => {
      tls.closeAllConnections();
      await new Promise((r) => tls.close(r));
    });

    it('certificate-authority file (relative), client certificate/key data, token', async () => {
      const b64 = (s: string | undefined): string => Buffer.from(s ?? '').toString('base64');
      const file = write(yaml([`server: ${tlsUrl}`, 'certificate-authority: ca.crt'], [`client-certificate-data: ${b64(pki['cli.crt'])}`, `client-key-data: ${b64(pki['cli.key'])}`, 'token: t1']));
      const c = new LiteClient((await loadLiteKubeconfig({ file, env: {} })).connection);
      await c.list(CM);
      expect(seen).toEqual([{ auth: 'Bearer t1', cert: true }]);
    });

    it('an unknown CA is refused unless insecure-skip-tls-verify; certificate-authority-data, client-certificate/key files', async () => {
      const bad = new LiteClient((await loadLiteKubeconfig({ file: write(yaml([`server: ${tlsUrl}`], [])), env: {} })).connection);
      expect(describeError(await bad.list(CM).catch((e: unknown) => e))).toMatch(/certificate/);
      const skip = new LiteClient((await loadLiteKubeconfig({ file: write(yaml([`server: ${tlsUrl}`, 'insecure-skip-tls-verify: true'], [])), env: {} })).connection);
      await skip.list(CM);
      const data = write(yaml([`server: ${tlsUrl}`, `certificate-authority-data: ${Buffer.from(pki['ca.crt'] ?? '').toString('base64')}`], [`client-certificate: ${join(dir, 'cli.crt')}`, 'client-key: cli.key']));
      await new LiteClient((await loadLiteKubeconfig({ file: data, env: {} })).connection).list(CM);
      expect(seen).toEqual([
        { auth: undefined, cert: false },
        { auth: undefined, cert: true },
      ]);
    });

    it('in-cluster: KUBERNETES_SERVICE_HOST/PORT, the service account CA and a token re-read as it rotates', async () => {
      const sa = join(dir, 'sa');
      execFileSync('mkdir', ['-p', sa]);
      writeFileSync(join(sa, 'ca.crt'), pki['ca.crt'] ?? '');
      writeFileSync(join(sa, 'token'), 'first\n');
      const port = new URL(tlsUrl).port;
      const loaded = await loadLiteKubeconfig({ env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }, serviceAccountDir: sa, tokenRefreshMs: 0 });
      expect(loaded).toMatchObject({ source: 'in-cluster', server: `https://127.0.0.1:${port}` });
      const c = new LiteClient(loaded.connection);
      await c.list(CM);
      writeFileSync(join(sa, 'token'), 'second\n');
      await c.list(CM);
      expect(seen.map((s) => s.auth)).toEqual(['Bearer first', 'Bearer second']);
    });
  });
});

// kubeconfigYaml is the fake's own writer: the lite loader reads what client-node reads.
it('reads the fake API server kubeconfig as client-node does', async () => {
  const loaded = await loadLiteKubeconfig({ file: join(dir, 'kubeconfig'), env: {} });
  expect(kubeconfigYaml(api.url, FAKE_TOKEN)).toContain(loaded.server);
  expect(loaded.namespace).toBe('default');
});
