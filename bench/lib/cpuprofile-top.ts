/**
 * Summarises a V8 .cpuprofile (node --cpu-prof): the functions with the most self time, and the
 * most inclusive time, one line each. `npx tsx bench/lib/cpuprofile-top.ts FILE [N]`.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

function main(): void {
  const [file, nArg] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: npx tsx bench/lib/cpuprofile-top.ts FILE [N]');
    process.exitCode = 2;
    return;
  }
  const top = Number(nArg ?? 40);
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const label = (n: ProfileNode): string => {
    const url = n.callFrame.url.replace(/^file:\/\/.*?\/(dist|src|node_modules)\//, '$1/');
    return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
  };
  const selfBy = new Map<string, number>();
  const inclBy = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n === undefined) continue;
    selfBy.set(label(n), (selfBy.get(label(n)) ?? 0) + us);
    // Inclusive: each distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const c = byId.get(cur);
      if (c === undefined) break;
      const l = label(c);
      if (seen.has(l)) continue;
      seen.add(l);
      inclBy.set(l, (inclBy.get(l) ?? 0) + us);
    }
  }
  const total = (p.endTime - p.startTime) / 1e6;
  const idle = (selfBy.get('(idle) :0') ?? 0) / 1e6;
  console.log(`${file}: ${total.toFixed(1)} s profiled, ${(total - idle).toFixed(1)} s not idle`);
  const print = (title: string, m: Map<string, number>): void => {
    console.log(`\n${title}`);
    for (const [l, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(us / 1e6).toFixed(2).padStart(8)} s  ${l}`);
  };
  print('self', selfBy);
  print('inclusive', inclBy);
}

main();
