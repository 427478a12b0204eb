import { matchesAnySelector, type Labels } from '../config/label-selector.js';
import type { Pool } from '../config/types.js';
import type { ServiceInput } from './service.js';

/** Labels of a namespace (including kubernetes.io/metadata.name), undefined if unknown. */
export type NamespaceLabels = (namespace: string) => Labels | undefined;

/**
 * True when the pool's serviceAllocation lets `service` use it (MetalLB's
 * isPoolCompatibleWithService): the namespace is listed or its labels match a
 * namespaceSelector, when either is set; and the Service's labels match a serviceSelector,
 * when any is set. A pool without serviceAllocation accepts every Service.
 *
 * Difference from MetalLB: MetalLB resolves namespaceSelectors to a set of namespaces when the
 * config is loaded and stops enforcing the namespace restriction when that set is empty; l2vip
 * always enforces it.
 */
export function poolAcceptsService(pool: Pool, service: ServiceInput, namespaceLabels: NamespaceLabels): boolean {
  const sa = pool.serviceAllocation;
  if (!sa) return true;
  if (sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0) {
    const listed = sa.namespaces.includes(service.namespace);
    if (!listed && !matchesAnySelector(namespaceLabels(service.namespace), sa.namespaceSelectors)) return false;
  }
  if (sa.serviceSelectors.length > 0) return matchesAnySelector(service.labels, sa.serviceSelectors);
  return true;
}

/**
 * MetalLB's sortPools order for pinned pools: a set priority (> 0) before an unset one, lower
 * number first. Pools of equal priority are in random order in MetalLB; l2vip orders them by name.
 */
export function comparePinnedPools(a: Pool, b: Pool): number {
  const pa = a.serviceAllocation?.priority ?? 0;
  const pb = b.serviceAllocation?.priority ?? 0;
  const ra = pa > 0 ? pa : Number.POSITIVE_INFINITY;
  const rb = pb > 0 ? pb : Number.POSITIVE_INFINITY;
  if (ra !== rb) return ra < rb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The pools automatic allocation tries for `service`, in order (MetalLB's Allocate):
 * `pinned` are the auto-assign pools whose serviceAllocation selects the Service (a
 * serviceAllocation with only a priority selects every Service), by priority; `fallback` are
 * the auto-assign pools without serviceAllocation, by name (MetalLB: Go map order, random).
 * `pools` must be sorted by name (Config.pools is).
 */
export function candidatePools(
  pools: readonly Pool[],
  service: ServiceInput,
  namespaceLabels: NamespaceLabels,
): { pinned: Pool[]; fallback: Pool[] } {
  const pinned: Pool[] = [];
  const fallback: Pool[] = [];
  for (const pool of pools) {
    if (!pool.autoAssign) continue;
    if (!pool.serviceAllocation) fallback.push(pool);
    else if (poolAcceptsService(pool, service, namespaceLabels)) pinned.push(pool);
  }
  pinned.sort(comparePinnedPools);
  return { pinned, fallback };
}
