import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { staticImportGraph } from '../../helpers/import-graph.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

describe('what the CLI loads at start', () => {
  it('never loads the Kubernetes client for standalone, announce or any other command until `speaker` or `controller` runs', () => {
    const loaded = staticImportGraph(join(SRC, 'cli', 'main.ts')).packages;
    expect(loaded.get('@kubernetes/client-node')).toBeUndefined();
    // The graph is really followed: the packages the standalone speaker needs are there.
    expect([...loaded.keys()]).toEqual(expect.arrayContaining(['commander', 'pino', 'yaml', 'ajv']));
  });

  it('the controller does load it (through import() in its command); the Kubernetes speaker never does (test/unit/k8s/speaker-imports.test.ts)', () => {
    expect(staticImportGraph(join(SRC, 'controller', 'controller.ts')).packages.has('@kubernetes/client-node')).toBe(true);
  });
});
