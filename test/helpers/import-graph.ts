import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

/** What a module loads at start, before any `import()`: the files of the project and the packages. */
export interface ImportGraph {
  /** Absolute paths of the project's source files reached (the entry included). */
  readonly files: ReadonlySet<string>;
  /** Package name (`pino`, `@kubernetes/client-node`, `node:fs`) -> the first file that imports it. */
  readonly packages: ReadonlyMap<string, string>;
}

const TYPE_ONLY = /^(?:import|export) \{\s*(?:type [^,}]+,?\s*)+\}/;

function packageName(spec: string): string {
  if (spec.startsWith('node:')) return spec;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

/**
 * Follows the static value imports and re-exports of TypeScript sources from `entry` (`.js`
 * specifiers map to the `.ts` files). `import type` and `import { type A, type B }` are erased
 * by the compiler and `import()` loads only when it runs, so neither is followed.
 */
export function staticImportGraph(entry: string): ImportGraph {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const stack = [normalize(entry)];
  while (stack.length > 0) {
    const file = stack.pop();
    if (file === undefined || files.has(file)) continue;
    files.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export) (?!type )[^;]*?from '([^']+)';|^import '([^']+)';/gms)) {
      if (TYPE_ONLY.test(m[0])) continue;
      const spec = m[1] ?? m[2] ?? '';
      if (spec.startsWith('.')) stack.push(normalize(join(dirname(file), spec.replace(/\.js$/, '.ts'))));
      else if (!packages.has(packageName(spec))) packages.set(packageName(spec), file);
    }
  }
  return { files, packages };
}
