import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInside } from './helpers/inside.js';
import { NetnsLab } from './helpers/netns.js';

describe.skipIf(!NetnsLab.supported())('LinkWatcher compliance of the rtnetlink LinkWatcher (in a namespace)', () => {
  let lab: NetnsLab;
  let ns = '';

  beforeAll(async () => {
    lab = new NetnsLab();
    // The suite makes and deletes its own links in here: the watcher sees this namespace only.
    ns = await lab.namespace('lw');
  });
  afterAll(() => lab?.cleanup());

  it('passes the LinkWatcher compliance suite (test/compliance/link-watcher.ts): add, remove, up/down, carrier, rename, MAC, addresses', async () => {
    const r = await runInside(ns, 'test/netns/inside/link-watcher.inside.ts', {});
    expect(r.failures, r.output).toEqual([]);
    expect(r.passed, r.output).toBeGreaterThanOrEqual(9);
  }, 120_000);
});
