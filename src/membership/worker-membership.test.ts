import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VirtualClock } from '../clock/virtual-clock.js';
import { ConfigError } from '../errors.js';
import { silentLogger, type Logger } from '../observability/logger.js';
import { MemoryNetwork } from '../../test/fakes/memory-transport.js';
import { inProcessWorkers } from '../../test/fakes/in-process-worker.js';
import { staticImportGraph } from '../../test/helpers/import-graph.js';
import { LogReplayer, PortLogger } from './port-logger.js';
import { WorkerMembership, membershipThread, membershipWorkerEntry, type MembershipThread } from './worker-membership.js';
import type { FromWorker } from './worker-protocol.js';

const SECRET = 'worker membership test secret, 32+ bytes long';
const PEERS = ['a', 'b', 'c'].map((name, i) => ({ name, address: `10.0.0.${i + 1}:7946` }));

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A pino logger writing JSON lines into `lines`. */
function capture(level = 'info'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level }, out), lines };
}

function cluster(opts: { logger?: Logger; thread?: MembershipThread } = {}) {
  const crashes: Error[] = [];
  const clock = new VirtualClock(0);
  const net = new MemoryNetwork({ clock, delayMs: 0.2 });
  const workers = inProcessWorkers((init) => ({ clock, transport: net.transport(PEERS.find((p) => p.name === init.self)!.address) }));
  const nodes = PEERS.map((p) => new WorkerMembership({ self: p.name, peers: PEERS, secret: SECRET, bind: p.address, logger: opts.logger ?? silentLogger(), thread: opts.thread ?? 'worker', spawn: workers.spawn, onCrash: (e) => void crashes.push(e) }));
  /** Virtual time, letting messages between the threads cross in between (they take a turn each way). */
  const advance = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t++) {
      clock.advance(1);
      await turn();
      await turn();
    }
  };
  return { clock, net, workers, nodes, advance, crashes };
}

describe('WorkerMembership (over an in-process worker)', () => {
  it('refuses what Membership refuses, on the main thread, before any worker exists', () => {
    const spawn = () => {
      throw new Error('must not start a worker');
    };
    const base = { self: 'a', secret: SECRET, bind: '10.0.0.1:7946', logger: silentLogger(), spawn };
    expect(() => new WorkerMembership({ ...base, peers: [...PEERS, PEERS[1]!] })).toThrow(ConfigError);
    expect(() => new WorkerMembership({ ...base, peers: PEERS, secret: 'short' })).toThrow(ConfigError);
    expect(() => new WorkerMembership({ ...base, peers: PEERS, options: { mainLoopTimeoutMs: 100 } })).toThrow(/mainLoopTimeoutMs/);
    const m = new WorkerMembership({ ...base, peers: PEERS });
    expect(() => m.setMetadata({ big: 'x'.repeat(600) })).toThrow(RangeError);
    expect(() => m.setPeers([PEERS[1]!, PEERS[1]!])).toThrow(ConfigError);
    expect(() => m.setSecrets('short')).toThrow(ConfigError);
  });

  it('before start: every peer alive and never heard, own metadata visible at once (as Membership)', () => {
    const { nodes } = cluster();
    const a = nodes[0]!;
    a.setMetadata({ anyUp: true });
    const v = a.view();
    expect([...v.alive].sort()).toEqual(['a', 'b', 'c']);
    expect(v.members.get('b')).toMatchObject({ state: 'alive', lastHeardMsAgo: undefined, self: false });
    expect(v.members.get('a')).toMatchObject({ self: true, state: 'alive', metadata: { anyUp: true } });
  });

  it('starts the worker with the config, the metadata set before start and a shared main-loop counter', async () => {
    const { nodes, workers } = cluster();
    const a = nodes[0]!;
    a.setMetadata({ draining: false });
    await a.start();
    const init = workers.inits[0]!;
    expect(init).toMatchObject({ self: 'a', bind: '10.0.0.1:7946', metadata: { draining: false }, mainLoopTimeoutMs: 2000, mainTickMs: 250, snapshotMs: 1000, socket: 'engine' });
    expect(init.mainBeat).toBeInstanceOf(SharedArrayBuffer);
    expect(init.sameThread).toBe(false);
    expect(a.thread).toBe('worker');
    expect(workers.log.filter((e) => e.to === 'worker').map((e) => e.m.t)).toEqual(['start']);
    await a.stop();
  });

  it('on the main thread: the body is told so (it counts hangs by its own ticks) and the protocol is the same: views and deaths reach the handlers', async () => {
    const c = cluster({ thread: 'main' });
    const seen: string[][] = [];
    c.nodes[0]!.onChange((v) => seen.push([...v.alive].sort()));
    await Promise.all(c.nodes.map((n) => n.start()));
    expect(c.workers.inits.map((i) => i.sameThread)).toEqual([true, true, true]);
    expect(c.nodes[0]!.thread).toBe('main');
    await c.advance(50);
    c.workers.crash(2, 1);
    await c.advance(300);
    expect(seen.at(-1)).toEqual(['a', 'b']);
    await c.advance(1000);
    expect(c.nodes[0]!.mainLoopStats().hangs).toBe(0);
    await Promise.all(c.nodes.slice(0, 2).map((n) => n.stop()));
  });

  it('asks the worker for node:dgram when L2VIP_MEMBERSHIP_SOCKET=dgram (the way back from the polled socket)', async () => {
    const { nodes, workers } = cluster();
    process.env['L2VIP_MEMBERSHIP_SOCKET'] = 'dgram';
    try {
      await nodes[0]!.start();
    } finally {
      delete process.env['L2VIP_MEMBERSHIP_SOCKET'];
    }
    expect(workers.inits[0]).toMatchObject({ socket: 'dgram' });
    await nodes[0]!.stop();
  });

  it('carries views, peers\' metadata, deaths and refutations to the main thread; handlers run per change', async () => {
    const c = cluster();
    const [a, b, x] = c.nodes as [WorkerMembership, WorkerMembership, WorkerMembership];
    const seen: string[][] = [];
    a.onChange((v) => seen.push([...v.alive].sort()));
    await Promise.all(c.nodes.map((n) => n.start()));
    b.setMetadata({ links: 'up' });
    await c.advance(50);
    expect(a.view().members.get('b')?.metadata).toEqual({ links: 'up' });
    expect(a.view().members.get('b')?.lastHeardMsAgo).toBeDefined();

    // c's worker dies without a goodbye: a's worker declares it dead, a's main thread hears of it.
    c.workers.crash(2, 1);
    await c.advance(300);
    expect(c.crashes.map((e) => e.message)).toEqual(['membership worker thread ended unexpectedly (exit code 1)']);
    expect([...a.alive()].sort()).toEqual(['a', 'b']);
    expect(a.view().members.get('c')?.state).toBe('dead');
    expect(a.view().members.get('c')?.stateSinceMsAgo).toBeGreaterThanOrEqual(0);
    expect(seen.at(-1)).toEqual(['a', 'b']);
    // Own metadata changes do not call the handlers of the node that set them.
    const before = seen.length;
    a.setMetadata({ links: 'down' });
    await c.advance(20);
    expect(seen.length).toBe(before);
    expect(b.view().members.get('a')?.metadata).toEqual({ links: 'down' });
    // Stats come by snapshot (every second).
    await c.advance(1000);
    expect(a.stats().deaths).toBe(1);
    expect(a.stats().sent).toBeGreaterThan(0);
    expect(a.mainLoopStats().hangs).toBe(0);
    void x;
    await a.stop();
    await b.stop();
  });

  it('forwards refutations: a node buried by its peers hears of it through onRefute', async () => {
    const c = cluster();
    const [a, b] = c.nodes as [WorkerMembership, WorkerMembership, WorkerMembership];
    const refuted: string[] = [];
    a.onRefute((s) => refuted.push(s));
    await Promise.all(c.nodes.map((n) => n.start()));
    await c.advance(30);
    // a's datagrams are lost (it still hears the others, who tell it that it is buried).
    c.net.block('10.0.0.1:7946', '10.0.0.2:7946');
    c.net.block('10.0.0.1:7946', '10.0.0.3:7946');
    await c.advance(400);
    expect(b.view().members.get('a')?.state).toBe('dead');
    c.net.heal();
    await c.advance(100);
    expect(refuted.length).toBeGreaterThan(0);
    expect(b.view().members.get('a')?.state).toBe('alive');
    await Promise.all(c.nodes.map((n) => n.stop()));
  });

  it('applies setPeers and setSecrets in the worker', async () => {
    const c = cluster();
    const [a] = c.nodes as [WorkerMembership, ...WorkerMembership[]];
    await Promise.all(c.nodes.map((n) => n.start()));
    await c.advance(30);
    a.setPeers(PEERS.slice(0, 2));
    a.setSecrets(SECRET, ['an older secret of at least 32 bytes ......']);
    await c.advance(5);
    expect([...a.view().members.keys()].sort()).toEqual(['a', 'b']);
    expect(c.workers.log.filter((e) => e.to === 'worker').map((e) => e.m.t)).toContain('secrets');
    await Promise.all(c.nodes.map((n) => n.stop()));
  });

  it('leave: peers see it left; its own view says left', async () => {
    const c = cluster();
    const [a, b] = c.nodes as [WorkerMembership, WorkerMembership, WorkerMembership];
    await Promise.all(c.nodes.map((n) => n.start()));
    await c.advance(30);
    const left = a.leave();
    await c.advance(30);
    await left;
    expect(a.view().members.get('a')?.state).toBe('left');
    await c.advance(5);
    expect(b.view().members.get('a')?.state).toBe('left');
    await a.stop(); // after leave: nothing left to stop
    await Promise.all(c.nodes.slice(1).map((n) => n.stop()));
  });

  it('writes the worker\'s log records through the main thread\'s logger, with their bindings', async () => {
    const { logger, lines } = capture('info');
    const c = cluster({ logger });
    await c.nodes[0]!.start();
    await c.advance(5);
    await c.nodes[0]!.stop();
    await turn();
    const started = lines.find((l) => l.msg === 'membership started');
    expect(started).toMatchObject({ component: 'membership', node: 'a', level: 30, topology: 'mesh' });
    // Debug records are not even posted at info level.
    expect(c.workers.log.some((e) => e.to === 'main' && e.m.t === 'log' && e.m.level === 'debug')).toBe(false);
  });

  it('rejects start with the worker\'s error (e.g. the socket cannot be bound) and closes the worker', async () => {
    let terminated = false;
    const m = new WorkerMembership({
      self: 'a',
      peers: PEERS,
      secret: SECRET,
      bind: '10.0.0.1:7946',
      logger: silentLogger(),
      spawn: () => {
        let h: ((m: FromWorker) => void) | undefined;
        return {
          postMessage: (msg) => {
            if (msg.t === 'start') setImmediate(() => h?.({ t: 'done', id: msg.id, error: { name: 'Error', message: 'bind EADDRINUSE 10.0.0.1:7946', code: 'EADDRINUSE', stack: undefined } }));
          },
          onMessage: (x) => (h = x),
          onExit: () => undefined,
          terminate: () => {
            terminated = true;
            return Promise.resolve();
          },
        };
      },
    });
    await expect(m.start()).rejects.toMatchObject({ code: 'EADDRINUSE', message: /EADDRINUSE/ });
    expect(terminated).toBe(true);
  });
});

describe('membershipThread (where the membership runs)', () => {
  it('the main thread when the beat engine sends the heartbeats, else a worker; L2VIP_MEMBERSHIP_THREAD overrides', () => {
    const yes = (): boolean => true;
    const no = (): boolean => false;
    expect(membershipThread(undefined, 'engine', yes)).toBe('main');
    // An addon built before the engine, or node:dgram / polled: heartbeats from JavaScript, on a worker.
    expect(membershipThread(undefined, 'engine', no)).toBe('worker');
    expect(membershipThread(undefined, 'polled', yes)).toBe('worker');
    expect(membershipThread(undefined, 'dgram', yes)).toBe('worker');
    expect(membershipThread('worker', 'engine', yes)).toBe('worker');
    expect(membershipThread('main', 'dgram', no)).toBe('main');
    expect(membershipThread('bogus', 'engine', yes)).toBe('main');
  });
});

describe('PortLogger and LogReplayer', () => {
  it('posts records at or above the level, with Errors as plain objects, and replays them as pino lines', () => {
    const posted: Extract<FromWorker, { t: 'log' }>[] = [];
    const log = new PortLogger((r) => posted.push(structuredClone(r)), 'info').child({ component: 'membership', node: 'a' });
    log.debug({ x: 1 }, 'hidden');
    expect(log.isLevelEnabled('debug')).toBe(false);
    expect(log.isLevelEnabled('warn')).toBe(true);
    const err = Object.assign(new Error('boom'), { code: 'EBOOM' });
    log.warn({ err, node: 'b', fn: () => 1 }, 'something');
    log.info('just text');
    expect(posted).toHaveLength(2);
    expect(posted[0]).toMatchObject({ level: 'warn', bindings: { component: 'membership', node: 'a' }, obj: { node: 'b', err: { type: 'Error', message: 'boom', code: 'EBOOM' } }, msg: 'something' });
    expect(posted[0]!.obj).not.toHaveProperty('fn');
    expect(posted[1]).toMatchObject({ level: 'info', obj: undefined, msg: 'just text' });
    const { logger, lines } = capture('info');
    const r = new LogReplayer(logger);
    for (const p of posted) r.write(p);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(lines[0]).toMatchObject({ level: 40, component: 'membership', msg: 'something', err: { message: 'boom', code: 'EBOOM' } });
        expect(lines[1]).toMatchObject({ level: 30, node: 'a', msg: 'just text' });
        resolve();
      }),
    );
  });
});

describe('membershipWorkerEntry', () => {
  it('from the sources: membership-worker.ts through a tsx bootstrap; when built: membership-worker.js', () => {
    const src = membershipWorkerEntry(import.meta.url.replace(/worker-membership\.test\.ts$/, 'worker-membership.ts'));
    expect(src.eval).toBe(true);
    expect(String(src.entry)).toMatch(/tsx.*register\(\).*membership-worker\.ts/s);
    // A built tree: membership-worker.js beside worker-membership.js.
    const dir = mkdtempSync(join(tmpdir(), 'l2vip-dist-'));
    try {
      writeFileSync(join(dir, 'membership-worker.js'), '');
      const built = membershipWorkerEntry(pathToFileURL(join(dir, 'worker-membership.js')).href);
      expect(built).toEqual({ entry: pathToFileURL(join(dir, 'membership-worker.js')), eval: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the membership worker\'s modules', () => {
  it('load no pino, no prom-client, nothing of the speaker: the membership, its codec and UDP only', () => {
    const { files: seen, packages } = staticImportGraph(fileURLToPath(new URL('./membership-worker.ts', import.meta.url)));
    expect([...packages.keys()].filter((p) => !p.startsWith('node:'))).toEqual(['ipaddr.js']);
    const src = dirname(dirname(fileURLToPath(import.meta.url)));
    const dirs = new Set([...seen].map((f) => dirname(f).slice(src.length + 1)));
    expect([...dirs].sort()).toEqual(['', 'clock', 'ip', 'membership', 'netdev']);
    expect([...seen].filter((f) => f.includes('/netdev/')).map((f) => f.slice(src.length + 1))).toEqual(['netdev/native.ts']);
  });
});
