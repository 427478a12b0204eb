import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInside } from './helpers/inside.js';
import { NetnsLab } from './helpers/netns.js';

describe.skipIf(!NetnsLab.supported())('FrameSocket compliance of AfPacketSocket (veth pair in a namespace)', () => {
  let lab: NetnsLab;
  let ns = '';

  beforeAll(async () => {
    lab = new NetnsLab();
    ns = await lab.namespace('fs');
    // Both ends in one namespace: the suite opens a socket on each, in one process.
    await lab.veth([ns, 'a0'], [ns, 'b0']);
    // Fewer of the kernel's own frames on the link (DAD, MLD, RS); the suite ignores them anyway.
    for (const i of ['a0', 'b0']) await lab.run(ns, 'sysctl', '-qw', `net.ipv6.conf.${i}.disable_ipv6=1`);
  });
  afterAll(() => lab?.cleanup());

  it('passes the FrameSocket compliance suite (test/compliance/frame-socket.ts)', async () => {
    const r = await runInside(ns, 'test/netns/inside/frame-socket.inside.ts', { L2VIP_TEST_VETH: 'a0,b0' });
    expect(r.failures, r.output).toEqual([]);
    expect(r.passed, r.output).toBeGreaterThanOrEqual(12);
  }, 120_000);
});
