import { writeFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { LabError } from '../../src/errors.js';
import { spawnRunner } from '../../src/host/command-runner.js';
import { Lab } from '../../src/lab/lab.js';
import type { NodeRunner } from '../../src/lab/node-runner.js';
import { leftoverNamespaces } from '../../src/lab/topology.js';

const root = process.getuid?.() === 0;

/** Node software that exits at once, as a speaker with a broken config would. */
const broken: NodeRunner = {
  label: 'broken',
  peerTraffic: [],
  prepare: () => Promise.resolve(),
  command: () => ['sh', '-c', 'exit 3'],
  isReady: () => false,
  ownerEvent: () => undefined,
};

describe.skipIf(!root)('lab failures (namespaces)', () => {
  const lab = new Lab({ nodes: 1, fault: 'kill', loss: 0, trials: 1, keep: false, intervalMs: 2, runner: spawnRunner, print: () => undefined, nodeRunner: broken });

  afterAll(async () => {
    await lab.teardown();
  });

  it('reports node software that never starts as a catalogued LabError (L2VIP_LAB_FAILED), after retrying', async () => {
    const err: unknown = await lab.setup().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LabError);
    expect(err).toMatchObject({ code: 'L2VIP_LAB_FAILED', exitCode: 2 });
    expect((err as Error).message).toMatch(/^n1: broken exited \(3\) before it was ready \(log: .*n1\.log\)$/);
  }, 60_000);

  it('leaves no namespace behind', async () => {
    await lab.teardown();
    const left = await leftoverNamespaces(spawnRunner);
    expect(left.filter((n) => n.includes(lab.topo.id))).toEqual([]);
  });
});

describe.skipIf(!root)('lab failures: node preparation (namespaces)', () => {
  const cannotWrite: NodeRunner = {
    ...broken,
    prepare: () => writeFile('/nonexistent-l2vip-dir/config.yaml', ''),
  };
  const lab = new Lab({ nodes: 1, fault: 'kill', loss: 0, trials: 1, keep: false, intervalMs: 2, runner: spawnRunner, print: () => undefined, nodeRunner: cannotWrite });

  afterAll(async () => {
    await lab.teardown();
  });

  it('reports a file the node runner cannot write as a LabError, not a stack trace', async () => {
    const err: unknown = await lab.setup().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LabError);
    expect((err as Error).message).toMatch(/^preparing the nodes \(broken\): ENOENT/);
  });
});
