import { isBuggyIp, type IpFamily } from '../ip/address.js';
import { cidrRange, type Cidr } from '../ip/cidr.js';

/** A binary min-heap of bigints. */
export class BigIntMinHeap {
  private readonly items: bigint[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): bigint | undefined {
    return this.items[0];
  }

  push(v: bigint): void {
    const a = this.items;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as bigint) <= v) break;
      a[i] = a[parent] as bigint;
      i = parent;
    }
    a[i] = v;
  }

  pop(): bigint | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const r = l + 1;
      const child = r < a.length && (a[r] as bigint) < (a[l] as bigint) ? r : l;
      if ((a[child] as bigint) >= last) break;
      a[i] = a[child] as bigint;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/**
 * Free-address tracking for one CIDR of a pool, so that "the lowest free address" (MetalLB's
 * first fit from the network address up) costs amortised O(log n) instead of a scan.
 *
 * Invariant: every address below `cursor` is in use, excluded (avoidBuggyIPs), or in `holes`.
 * Addresses at or above the cursor may be in use too (explicitly requested IPs); the cursor
 * steps over them lazily. `holes` may hold stale entries (re-used since), dropped on sight.
 */
export class CidrSpace {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
  readonly avoidBuggyIPs: boolean;
  /** Added to a value to make the allocator's ipKey (bit 128 for IPv6). */
  readonly keyTag: bigint;
  /** Addresses in use by a sharing group, by "sharingKey\0backendKey", ascending. */
  readonly shared = new Map<string, bigint[]>();
  private cursor: bigint;
  private readonly holes = new BigIntMinHeap();

  constructor(
    readonly cidr: Cidr,
    avoidBuggyIPs: boolean,
  ) {
    const r = cidrRange(cidr);
    this.family = cidr.family;
    this.first = r.start;
    this.last = r.end;
    this.cursor = r.start;
    this.avoidBuggyIPs = avoidBuggyIPs && cidr.family === 4;
    this.keyTag = cidr.family === 4 ? 0n : 1n << 128n;
  }

  /** True when avoidBuggyIPs removes `value` (.0 / .255) from the pool. */
  excluded(value: bigint): boolean {
    return this.avoidBuggyIPs && isBuggyIp({ family: 4, value });
  }

  contains(value: bigint): boolean {
    return value >= this.first && value <= this.last;
  }

  /** The lowest address not in `inUse` (keys from ipKey) and not excluded, if any. */
  lowestFree(inUse: ReadonlyMap<bigint, unknown>): bigint | undefined {
    for (let top = this.holes.peek(); top !== undefined; top = this.holes.peek()) {
      if (!inUse.has(top | this.keyTag)) return top;
      this.holes.pop();
    }
    while (this.cursor <= this.last && (inUse.has(this.cursor | this.keyTag) || this.excluded(this.cursor))) this.cursor++;
    return this.cursor <= this.last ? this.cursor : undefined;
  }

  /** `value` has no user any more. */
  released(value: bigint): void {
    if (value < this.cursor) this.holes.push(value);
  }

  /** Records that `value` is used by the sharing group `group`. */
  addShared(group: string, value: bigint): void {
    let list = this.shared.get(group);
    if (!list) {
      list = [];
      this.shared.set(group, list);
    }
    list.splice(lowerBound(list, value), 0, value);
  }

  /** Forgets `value` for `group`. */
  removeShared(group: string, value: bigint): void {
    const list = this.shared.get(group);
    if (!list) return;
    const i = lowerBound(list, value);
    if (list[i] === value) list.splice(i, 1);
    if (list.length === 0) this.shared.delete(group);
  }
}

function lowerBound(list: readonly bigint[], value: bigint): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as bigint) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Number of x in [a, b] with x ≡ r (mod m), for a ≥ 0. */
function countCongruent(a: bigint, b: bigint, r: bigint, m: bigint): bigint {
  const upTo = (n: bigint): bigint => (n < r ? 0n : (n - r) / m + 1n);
  return upTo(b) - (a === 0n ? 0n : upTo(a - 1n));
}

/**
 * Addresses of `cidr` a pool can hand out: all of them, minus every x.y.z.0 and x.y.z.255
 * with avoidBuggyIPs (IPv4). Exact for any size (MetalLB's poolCount reports -1 for a buggy
 * /32 and MaxInt64 for IPv6 prefixes of /66 and shorter; l2vip counts exactly).
 */
export function usableAddresses(cidr: Cidr, avoidBuggyIPs: boolean): bigint {
  const r = cidrRange(cidr);
  let n = r.end - r.start + 1n;
  if (avoidBuggyIPs && cidr.family === 4) {
    n -= countCongruent(r.start, r.end, 0n, 256n) + countCongruent(r.start, r.end, 255n, 256n);
  }
  return n;
}
