import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { staticImportGraph } from '../../test/helpers/import-graph.js';
import { buildProgram } from './program.js';

describe('buildProgram', () => {
  it('registers only the command named (a speaker loads no other), every command otherwise, in the order --help lists them', async () => {
    expect((await buildProgram(['node', 'l2vip', 'standalone', '--config', 'x.yaml'])).commands.map((c) => c.name())).toEqual(['standalone']);
    expect((await buildProgram(['node', 'l2vip', 'config', 'check'])).commands.map((c) => c.name())).toEqual(['config']);
    const all = ['announce', 'standalone', 'lab', 'lab-agent', 'config', 'cleanup', 'controller', 'speaker', 'status'];
    expect((await buildProgram(['node', 'l2vip', '--help'])).commands.map((c) => c.name())).toEqual(all);
    // An unknown command: all of them, so commander can suggest the nearest.
    expect((await buildProgram(['node', 'l2vip', 'standalon'])).commands.map((c) => c.name())).toEqual(all);
    expect((await buildProgram()).commands.map((c) => c.name())).toEqual(all);
  });

  it('statically loads no command module (each is imported when its command runs), only the --jit reader', () => {
    const entry = fileURLToPath(new URL('./program.ts', import.meta.url));
    const { files } = staticImportGraph(entry);
    const cli = dirname(entry);
    expect([...files].filter((f) => dirname(f) === cli).map((f) => f.slice(cli.length + 1)).sort()).toEqual(['jit.ts', 'program.ts']);
  });
});
