import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

/**
 * The packages a module loads at start: the static `import ... from` / `export ... from` graph
 * from `entry` (type-only imports are erased; `import()` loads on use). Each package with the
 * module chain that first reached it.
 */
function staticPackages(entry: string): Map<string, string> {
  const from = new Map<string, string | undefined>([[entry, undefined]]);
  const packages = new Map<string, string>();
  const queue = [entry];
  const chain = (f: string | undefined): string[] => (f === undefined ? [] : [f.slice(SRC.length + 1), ...chain(from.get(f))]);
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s+(type\s)?[^'";]*?\bfrom\s*'([^']+)'|^import\s*'([^']+)'/gm)) {
      if (m[1] !== undefined) continue;
      const spec = m[2] ?? m[3] ?? '';
      if (spec.startsWith('.')) {
        const next = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
        if (!from.has(next)) {
          from.set(next, f);
          queue.push(next);
        }
      } else if (!spec.startsWith('node:')) {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec);
        if (!packages.has(pkg)) packages.set(pkg, chain(f).join(' <- '));
      }
    }
  }
  return packages;
}

describe('what the CLI loads at start', () => {
  it('never loads the Kubernetes client for standalone, announce or any other command until `speaker` or `controller` runs', () => {
    const loaded = staticPackages(join(SRC, 'cli', 'main.ts'));
    expect(loaded.get('@kubernetes/client-node')).toBeUndefined();
    // The graph is really followed: the packages the standalone speaker needs are there.
    expect([...loaded.keys()]).toEqual(expect.arrayContaining(['commander', 'pino', 'yaml', 'ajv']));
  });

  it('the Kubernetes speaker and the controller do load it (through import())', () => {
    expect(staticPackages(join(SRC, 'speaker', 'kubernetes-speaker.ts')).has('@kubernetes/client-node')).toBe(true);
    expect(staticPackages(join(SRC, 'controller', 'controller.ts')).has('@kubernetes/client-node')).toBe(true);
  });
});
