/** The MACs that answered, from `arping` output ("Unicast reply from IP [MAC]  0.6ms"). */
export function arpingMacs(out: string): Set<string> {
  return new Set([...out.matchAll(/reply from \S+ \[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase()));
}

/** The MACs in `ndisc6 -m` output ("Target link-layer address: 02:..."). */
export function ndiscMacs(out: string): Set<string> {
  return new Set([...out.matchAll(/Target link-layer address:\s*([0-9A-Fa-f:]{17})/g)].map((m) => m[1]!.toLowerCase()));
}
