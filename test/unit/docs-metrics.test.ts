import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Identifiers of that shape that are not metrics. */
const NOT_METRICS = new Set(['l2vip_vmac' /* the nftables table of virtual MACs */]);

/** Every metric name the product registers: string literals metallb_* / l2vip_* in src/. */
function metricsInCode(): Set<string> {
  const names = new Set<string>();
  for (const f of sources(join(root, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/'((?:metallb|l2vip)_[a-z0-9_]+)'/g)) if (!NOT_METRICS.has(m[1]!)) names.add(m[1]!);
  }
  return names;
}

/** Every metric name docs/metrics.md documents (in backticks, possibly with labels). */
function metricsInDocs(): Set<string> {
  const text = readFileSync(join(root, 'docs', 'metrics.md'), 'utf8');
  return new Set([...text.matchAll(/`((?:metallb|l2vip)_[a-z0-9_]+)(?:\{[^`]*\})?`/g)].map((m) => m[1]!));
}

describe('docs/metrics.md', () => {
  it('documents every metric the code registers', () => {
    const docs = metricsInDocs();
    expect([...metricsInCode()].filter((n) => !docs.has(n)).sort()).toEqual([]);
  });

  it('documents no metric that does not exist', () => {
    const code = metricsInCode();
    expect([...metricsInDocs()].filter((n) => !code.has(n)).sort()).toEqual([]);
  });
});
