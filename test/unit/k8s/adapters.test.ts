import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, type CoreV1Event, type Informer, type KubernetesListObject, type KubernetesObject, type ObjectCache, type V1Lease } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/clock/virtual-clock.js';
import { KubeconfigError } from '../../../src/errors.js';
import { describeError } from '../../../src/k8s/api-errors.js';
import { EventRecorder, type EventApi } from '../../../src/k8s/events.js';
import { coreEventWriter } from '../../../src/k8s/events-client-node.js';
import { ResilientInformer } from '../../../src/k8s/informer.js';
import { loadKubeconfig } from '../../../src/k8s/kubeconfig.js';
import { LeaseElector, type LeaseApi } from '../../../src/k8s/lease.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { kubeconfigYaml } from '../../fakes/api-server/index.js';

const log = silentLogger();
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** An informer double: start() lists through the wrapper's list function; tests fire 'error'. */
class FakeInformer implements Informer<KubernetesObject>, ObjectCache<KubernetesObject> {
  starts = 0;
  private readonly handlers = new Map<string, ((x: never) => void)[]>();
  private items: KubernetesObject[] = [];
  constructor(private readonly listFn: () => Promise<KubernetesListObject<KubernetesObject>>) {}
  on(verb: string, cb: (x: never) => void): void {
    this.handlers.set(verb, [...(this.handlers.get(verb) ?? []), cb]);
  }
  off(): void {}
  async start(): Promise<void> {
    this.starts++;
    try {
      const l = await this.listFn();
      this.items = l.items;
      for (const o of l.items) this.emit('add', o);
    } catch (err) {
      this.emit('error', err);
    }
  }
  async stop(): Promise<void> {}
  emit(verb: string, x: unknown): void {
    for (const h of this.handlers.get(verb) ?? []) h(x as never);
  }
  get(name: string): KubernetesObject | undefined {
    return this.items.find((o) => o.metadata?.name === name);
  }
  list(): readonly KubernetesObject[] {
    return this.items;
  }
}

describe('ResilientInformer', () => {
  it('restarts client-node\'s informer after an error, with a growing back-off, and reports sync once', async () => {
    let fake: FakeInformer | undefined;
    let failLists = 2;
    let synced = 0;
    const added: string[] = [];
    const inf = new ResilientInformer<KubernetesObject>(undefined, {
      name: 'things',
      path: '/x',
      list: () => (failLists-- > 0 ? Promise.reject(new Error('connection refused')) : Promise.resolve({ items: [{ metadata: { name: 'a' } }] })),
      log,
      backoff: { initialMs: 5, maxMs: 20 },
      onAdd: (o) => added.push(o.metadata?.name ?? ''),
      onSynced: () => synced++,
      make: (list) => (fake = new FakeInformer(list)),
    });
    inf.start();
    await inf.whenSynced();
    expect(fake?.starts).toBe(3);
    expect(inf.errors).toBe(2);
    expect(inf.restarts).toBe(2);
    expect(added).toEqual(['a']);
    // A watch that breaks later: restarted too; the sync callback does not fire again.
    fake?.emit('error', new Error('socket hang up'));
    await new Promise((r) => setTimeout(r, 30));
    expect(fake?.starts).toBe(4);
    expect(synced).toBe(1);
    expect(inf.synced).toBe(true);
    await inf.stop();
    fake?.emit('error', new Error('aborted by stop'));
    await new Promise((r) => setTimeout(r, 30));
    expect(fake?.starts).toBe(4);
  });
});

describe('EventRecorder', () => {
  function fakeEvents(): { api: EventApi; created: CoreV1Event[]; patches: { name: string; body: { count: number } }[]; gone: Set<string> } {
    const created: CoreV1Event[] = [];
    const patches: { name: string; body: { count: number } }[] = [];
    const gone = new Set<string>();
    const api = {
      createNamespacedEvent: ({ body }: { body: CoreV1Event }) => {
        created.push(body);
        return Promise.resolve(body);
      },
      patchNamespacedEvent: ({ name, body }: { name: string; body: { count: number } }) => {
        if (gone.has(name)) return Promise.reject(new ApiException(404, 'not found', '{}', {}));
        patches.push({ name, body });
        return Promise.resolve({} as CoreV1Event);
      },
    } as unknown as EventApi;
    return { api, created, patches, gone };
  }
  const subject = { kind: 'Service', apiVersion: 'v1', name: 'web', namespace: 'default', uid: 'u1' };

  it('aggregates a repeated Event into a count instead of a new object', async () => {
    const f = fakeEvents();
    const rec = new EventRecorder({ writer: coreEventWriter(f.api), component: 'l2vip-controller', instance: 'pod-1', log });
    const ev = { type: 'Warning' as const, reason: 'AllocationFailed', message: 'no available IPs' };
    rec.record(subject, ev);
    rec.record(subject, ev);
    rec.record(subject, ev);
    rec.record(subject, { ...ev, message: 'other' });
    await rec.flush();
    expect(f.created).toHaveLength(2);
    expect(f.created[0]).toMatchObject({ involvedObject: { kind: 'Service', name: 'web', namespace: 'default', uid: 'u1' }, count: 1, reason: 'AllocationFailed', source: { component: 'l2vip-controller', host: 'pod-1' } });
    expect(f.patches.map((p) => p.body.count)).toEqual([2, 3]);
    // The Event expired on the server: a new one is created.
    f.gone.add(f.created[0]?.metadata?.name ?? '');
    rec.record(subject, ev);
    await rec.flush();
    expect(f.created).toHaveLength(3);
  });

  it('never throws on a failed write; it counts it', async () => {
    let errors = 0;
    const api = { createNamespacedEvent: () => Promise.reject(new Error('down')), patchNamespacedEvent: () => Promise.reject(new Error('down')) } as unknown as EventApi;
    const rec = new EventRecorder({ writer: coreEventWriter(api), component: 'c', instance: 'i', log, onError: () => errors++ });
    rec.record(subject, { type: 'Normal', reason: 'IPAllocated', message: 'x' });
    await rec.flush();
    expect(errors).toBe(1);
  });
});

/** An in-memory Lease store with optimistic concurrency, as the API server does it. */
function leaseStore(): { api: LeaseApi; lease: () => V1Lease | undefined; down: { on: boolean } } {
  let stored: V1Lease | undefined;
  let rv = 0;
  const down = { on: false };
  const copy = (l: V1Lease): V1Lease => JSON.parse(JSON.stringify(l)) as V1Lease;
  const check = (): void => {
    if (down.on) throw new Error('connect ECONNREFUSED');
  };
  const api = {
    readNamespacedLease: () => {
      check();
      if (!stored) return Promise.reject(new ApiException(404, 'not found', '{}', {}));
      return Promise.resolve(copy(stored));
    },
    createNamespacedLease: ({ body }: { body: V1Lease }) => {
      check();
      if (stored) return Promise.reject(new ApiException(409, 'exists', '{}', {}));
      stored = { ...copy(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      return Promise.resolve(copy(stored));
    },
    replaceNamespacedLease: ({ body }: { body: V1Lease }) => {
      check();
      if (stored?.metadata?.resourceVersion !== body.metadata?.resourceVersion) return Promise.reject(new ApiException(409, 'conflict', '{}', {}));
      stored = { ...copy(body), metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      return Promise.resolve(copy(stored));
    },
  } as unknown as LeaseApi;
  return { api, lease: () => stored, down };
}

describe('LeaseElector', () => {
  async function run(clock: VirtualClock, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      clock.advance(100);
      for (let i = 0; i < 5; i++) await tick();
    }
  }

  it('elects one of two candidates; the other takes over once the Lease goes unrenewed for its duration', async () => {
    const clock = new VirtualClock();
    const store = leaseStore();
    const states: string[] = [];
    const mk = (id: string): LeaseElector =>
      new LeaseElector({
        api: store.api,
        namespace: 'ns',
        name: 'l2vip-controller',
        identity: id,
        leaseDurationSeconds: 15,
        clock,
        wallNow: () => 1_800_000_000_000 + clock.now(),
        log,
        onStartedLeading: () => states.push(`${id}+`),
        onStoppedLeading: () => states.push(`${id}-`),
      });
    const a = mk('a');
    const b = mk('b');
    a.start();
    await run(clock, 500);
    b.start();
    await run(clock, 30_000);
    expect(states).toEqual(['a+']);
    expect(store.lease()?.spec?.holderIdentity).toBe('a');
    // MicroTime: six fractional digits on the wire.
    expect(JSON.stringify(store.lease()?.spec?.renewTime)).toMatch(/\.\d{6}Z"$/);
    // a freezes (its process hangs): stop its timers without releasing.
    await stopWithoutRelease(a);
    await run(clock, 20_000);
    expect(states).toEqual(['a+', 'b+']);
    expect(store.lease()?.spec?.holderIdentity).toBe('b');
    expect(store.lease()?.spec?.leaseTransitions).toBe(1);
  });

  it('a leader that cannot renew within the renew deadline steps down', async () => {
    const clock = new VirtualClock();
    const store = leaseStore();
    const states: string[] = [];
    const a = new LeaseElector({
      api: store.api,
      namespace: 'ns',
      name: 'l',
      identity: 'a',
      leaseDurationSeconds: 15,
      clock,
      log,
      onStartedLeading: () => states.push('+'),
      onStoppedLeading: () => states.push('-'),
    });
    a.start();
    await run(clock, 1000);
    store.down.on = true;
    await run(clock, 9000);
    expect(states).toEqual(['+']);
    await run(clock, 2000);
    expect(states).toEqual(['+', '-']);
    store.down.on = false;
    await run(clock, 3000);
    expect(states).toEqual(['+', '-', '+']);
    await a.stop();
    expect(states).toEqual(['+', '-', '+', '-']);
    expect(store.lease()?.spec?.holderIdentity).toBeUndefined();
  });
});

/** What a hung process looks like to the others: no more attempts, no release. */
async function stopWithoutRelease(e: LeaseElector): Promise<void> {
  // Private state is not reachable; a stop() whose release fails is the same from outside.
  const internals = e as unknown as { running: boolean; timer?: { cancel(): void } };
  internals.running = false;
  internals.timer?.cancel();
  await tick();
}

describe('loadKubeconfig', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = '';
  });
  const write = (name: string, server: string, skip = true): string => {
    dir ||= mkdtempSync(join(tmpdir(), 'l2vip-kc-'));
    const file = join(dir, name);
    writeFileSync(file, skip ? kubeconfigYaml(server, 't') : kubeconfigYaml(server, 't').replace('    insecure-skip-tls-verify: true\n', ''));
    return file;
  };

  it('prefers --kubeconfig, then $KUBECONFIG, then in-cluster', () => {
    const flag = write('flag', 'http://127.0.0.1:1');
    const env = write('env', 'http://127.0.0.1:2');
    expect(loadKubeconfig({ file: flag, env: { KUBECONFIG: env } }).server).toBe('http://127.0.0.1:1');
    expect(loadKubeconfig({ env: { KUBECONFIG: `/nonexistent:${env}` } }).server).toBe('http://127.0.0.1:2');
    expect(() => loadKubeconfig({ env: {} })).toThrow(KubeconfigError);
    expect(() => loadKubeconfig({ env: {} })).toThrow(/--kubeconfig|KUBECONFIG/);
  });

  it('rejects a missing file and plain http without insecure-skip-tls-verify', () => {
    expect(() => loadKubeconfig({ file: '/nonexistent/kubeconfig', env: {} })).toThrow(/no such file/);
    const plain = write('plain', 'http://127.0.0.1:3', false);
    expect(() => loadKubeconfig({ file: plain, env: {} })).toThrow(/insecure-skip-tls-verify/);
  });
});

describe('describeError', () => {
  it('gives the HTTP status and the API server\'s message on one line', () => {
    const body = JSON.stringify({ kind: 'Status', message: 'services "web" is forbidden', code: 403 });
    expect(describeError(new ApiException(403, `HTTP-Code: 403\nMessage: x\nBody: ${body}`, body, {}))).toBe('HTTP 403: services "web" is forbidden');
    expect(describeError(Object.assign(new Error('Gone'), { statusCode: 410 }))).toBe('HTTP 410: Gone');
    expect(describeError(new Error('connect ECONNREFUSED 127.0.0.1:1'))).toBe('connect ECONNREFUSED 127.0.0.1:1');
  });
});
