import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { staticImportGraph } from '../../helpers/import-graph.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

describe('what the CLI loads at start', () => {
  it('never loads the Kubernetes client for standalone, announce or any other command until `speaker` or `controller` runs', () => {
    // The entry loads commander and no command (program.ts imports each command's module when it runs).
    expect([...staticImportGraph(join(SRC, 'cli', 'main.ts')).packages.keys()].filter((p) => !p.startsWith('node:'))).toEqual(['commander']);
    for (const command of ['announce', 'standalone', 'lab', 'lab-agent', 'config-check', 'cleanup', 'status', 'speaker']) {
      expect(staticImportGraph(join(SRC, 'cli', `${command}.ts`)).packages.get('@kubernetes/client-node'), command).toBeUndefined();
    }
    // The graph is really followed: the packages the standalone speaker needs are there.
    expect([...staticImportGraph(join(SRC, 'cli', 'standalone.ts')).packages.keys()]).toEqual(expect.arrayContaining(['pino', 'yaml', 'ajv']));
  });

  it('the controller does load it (through import() in its command); the Kubernetes speaker never does (test/unit/k8s/speaker-imports.test.ts)', () => {
    expect(staticImportGraph(join(SRC, 'controller', 'controller.ts')).packages.has('@kubernetes/client-node')).toBe(true);
  });
});
