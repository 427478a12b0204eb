import type { PoolStats } from '../allocator/index.js';

/** IPAddressPool.status as MetalLB writes it (api/v1beta1 IPAddressPoolStatus). */
export interface PoolStatus {
  readonly assignedIPv4: number;
  readonly assignedIPv6: number;
  readonly availableIPv4: number;
  readonly availableIPv6: number;
}

/**
 * The largest double below 2^63. The status fields are int64, JSON numbers are doubles, and
 * JSON.stringify writes this one as 9223372036854775000, which an int64 accepts; 2^63 itself
 * (what Number(2n ** 63n - 1n) rounds to) would overflow. A /64 of IPv6 has 2^64 addresses.
 */
export const INT64_CLAMP = 9223372036854774784;

/** bigint -> a JSON-safe int64 count, clamped to [0, INT64_CLAMP]. */
export function clampInt64(v: bigint): number {
  if (v <= 0n) return 0;
  if (v >= BigInt(INT64_CLAMP)) return INT64_CLAMP;
  return Number(v);
}

export function poolStatus(stats: PoolStats): PoolStatus {
  return {
    assignedIPv4: clampInt64(stats.assignedV4),
    assignedIPv6: clampInt64(stats.assignedV6),
    availableIPv4: clampInt64(stats.availableV4),
    availableIPv6: clampInt64(stats.availableV6),
  };
}

/** True when the object's status already says `want` (missing fields count as different). */
export function poolStatusEqual(current: unknown, want: PoolStatus): boolean {
  if (typeof current !== 'object' || current === null) return false;
  const c = current as Record<string, unknown>;
  return (Object.keys(want) as (keyof PoolStatus)[]).every((k) => c[k] === want[k]);
}
