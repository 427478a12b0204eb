// Guard: `l2vip speaker` never loads @kubernetes/client-node (its generated API and model
// modules cost ~77 MB in every speaker; docs/speaker.md). Walks the static value imports from the
// CLI entry, the speaker command and the speaker itself; `import type` is erased and dynamic
// import()s (each command's module, the controller, the kubeconfig fallback) load only when used.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { staticImportGraph } from '../../helpers/import-graph.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../../../src');

describe('the speaker import graph', () => {
  it('the CLI entry and the speaker load no @kubernetes/client-node at runtime', () => {
    for (const entry of ['cli/main.ts', 'cli/speaker.ts', 'speaker/kubernetes-speaker.ts']) {
      const { packages, files } = staticImportGraph(join(SRC, entry));
      const clientNode = [...packages].filter(([p]) => p.startsWith('@kubernetes/client-node'));
      expect(clientNode, `${entry} reaches client-node through ${clientNode.map(([, f]) => f.slice(SRC.length + 1)).join(', ')}`).toEqual([]);
      expect(files.size).toBeGreaterThan(entry === 'cli/main.ts' ? 1 : 3);
    }
  });

  it('the walk sees client-node where it is imported (the controller)', () => {
    const { packages } = staticImportGraph(join(SRC, 'controller/controller.ts'));
    expect(packages.has('@kubernetes/client-node')).toBe(true);
  });

  it('at runtime too: a fresh process building the whole CLI program and importing the speaker loads none of its modules', async () => {
    const { execFileSync } = await import('node:child_process');
    // A module.register() load hook reports every module URL loaded to the main thread.
    const hooks = 'let port; export function initialize(d) { port = d.port; } export async function load(url, ctx, next) { port.postMessage(url); return next(url, ctx); }';
    const script = `
      import { register } from 'node:module';
      import { MessageChannel } from 'node:worker_threads';
      const { port1, port2 } = new MessageChannel();
      const urls = [];
      port1.on('message', (u) => urls.push(u));
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), { data: { port: port2 }, transferList: [port2] });
      const { buildProgram } = await import('./src/cli/program.ts');
      await buildProgram();
      await import('./src/speaker/kubernetes-speaker.ts');
      await new Promise((r) => setTimeout(r, 200));
      port1.close();
      console.log(JSON.stringify({ total: urls.length, program: urls.some((u) => u.endsWith('/src/cli/program.ts')), clientNode: urls.filter((u) => u.includes('@kubernetes/client-node')) }));
    `;
    const root = join(SRC, '..');
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { total: number; program: boolean; clientNode: string[] };
    expect(r.program).toBe(true);
    expect(r.total).toBeGreaterThan(50);
    expect(r.clientNode).toEqual([]);
  }, 90_000);
});
