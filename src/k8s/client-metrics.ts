import { Counter, Gauge, type Registry } from 'prom-client';

/** What every Kubernetes component reports about its client side (MetalLB's names). */
export interface K8sClientMetricsSources {
  readonly configLoaded: () => boolean;
  readonly configStale: () => boolean;
  /** Failed watches or lists, each followed by a restart, per resource. */
  readonly watchErrors: () => readonly { readonly resource: string; readonly errors: number }[];
}

export interface K8sClientMetrics {
  /** Objects processed (MetalLB: one per reconcile). */
  readonly updates: Counter;
  /** Failed writes to the API server. */
  readonly updateErrors: Counter;
}

/**
 * MetalLB's k8s client metrics (internal/k8s/controllers/stats.go) so existing dashboards and
 * alerts work: updates, update errors, config loaded and config stale; plus l2vip's watch errors.
 */
export function registerK8sClientMetrics(registry: Registry, src: K8sClientMetricsSources): K8sClientMetrics {
  const updates = new Counter({ name: 'metallb_k8s_client_updates_total', help: 'Number of k8s object updates that have been processed', registers: [registry] });
  const updateErrors = new Counter({
    name: 'metallb_k8s_client_update_errors_total',
    help: 'Number of k8s object updates that failed for some reason',
    registers: [registry],
  });
  const bool = (name: string, help: string, read: () => boolean): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read() ? 1 : 0);
      },
    });
  };
  bool('metallb_k8s_client_config_loaded_bool', '1 if the configuration was ever loaded successfully', src.configLoaded);
  bool('metallb_k8s_client_config_stale_bool', '1 if running on a stale configuration, because the latest one failed to load', src.configStale);
  new Counter({
    name: 'l2vip_k8s_watch_errors_total',
    help: 'Watches or lists that failed and were restarted, per resource',
    labelNames: ['resource'],
    registers: [registry],
    collect() {
      this.reset();
      for (const w of src.watchErrors()) this.inc({ resource: w.resource }, w.errors);
    },
  });
  return { updates, updateErrors };
}
