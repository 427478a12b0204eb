import { Gauge, Registry, type Counter } from 'prom-client';
import { registerK8sClientMetrics, type K8sClientMetricsSources } from '../k8s/client-metrics.js';
import type { PoolStats } from '../allocator/index.js';

/** What the controller's gauges read at scrape time. */
export interface ControllerMetricsSources extends K8sClientMetricsSources {
  /** Per pool of the configuration in force: its stats, or undefined while not leading. */
  readonly pools: () => readonly { readonly name: string; readonly stats: PoolStats | undefined; readonly capacity: { v4: bigint; v6: bigint } }[];
  readonly leader: () => boolean;
}

export interface ControllerMetrics {
  readonly registry: Registry;
  /** Objects processed (MetalLB: one per reconcile). */
  readonly updates: Counter;
  /** Failed writes to the API server. */
  readonly updateErrors: Counter;
}

/**
 * The controller's metrics, with MetalLB's names (internal/allocator/stats.go,
 * internal/k8s/controllers/stats.go) so existing dashboards work; l2vip_* for the rest.
 * Allocator gauges are only meaningful on the active replica; a standby reports in_use 0.
 */
export function controllerMetrics(src: ControllerMetricsSources): ControllerMetrics {
  const registry = new Registry();
  const poolGauge = (name: string, help: string, pick: (cap: { v4: bigint; v6: bigint }, s: PoolStats | undefined) => bigint): void => {
    new Gauge({
      name,
      help,
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of src.pools()) this.set({ pool: p.name }, Number(pick(p.capacity, p.stats)));
      },
    });
  };
  poolGauge('metallb_allocator_addresses_total', 'Number of usable IP addresses, per pool', (c) => c.v4 + c.v6);
  poolGauge('metallb_allocator_ipv4_addresses_total', 'Number of usable IPv4 addresses, per pool', (c) => c.v4);
  poolGauge('metallb_allocator_ipv6_addresses_total', 'Number of usable IPv6 addresses, per pool', (c) => c.v6);
  poolGauge('metallb_allocator_addresses_in_use_total', 'Number of IP addresses in use, per pool', (_c, s) => (s ? s.assignedV4 + s.assignedV6 : 0n));
  poolGauge('metallb_allocator_ipv4_addresses_in_use_total', 'Number of IPv4 addresses in use, per pool', (_c, s) => s?.assignedV4 ?? 0n);
  poolGauge('metallb_allocator_ipv6_addresses_in_use_total', 'Number of IPv6 addresses in use, per pool', (_c, s) => s?.assignedV6 ?? 0n);
  const { updates, updateErrors } = registerK8sClientMetrics(registry, src);
  new Gauge({
    name: 'l2vip_controller_leader',
    help: '1 on the replica holding the l2vip-controller Lease (the one that allocates)',
    registers: [registry],
    collect() {
      this.set(src.leader() ? 1 : 0);
    },
  });
  return { registry, updates, updateErrors };
}
