import { PatchStrategy, setHeaderOptions, type CoreV1Api, type CustomObjectsApi } from '@kubernetes/client-node';

/**
 * Options for a JSON merge patch (RFC 7386). client-node 1.4 sends JSON Patch unless told
 * otherwise; merge patches say "these fields, these values" (null deletes) without a read first.
 */
export function mergePatch(): ReturnType<typeof setHeaderOptions> {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
}

export type ServiceApi = Pick<CoreV1Api, 'patchNamespacedService' | 'patchNamespacedServiceStatus'>;

/** Sets `status.loadBalancer.ingress` through the status subresource; [] removes it. */
export async function patchServiceIngress(api: ServiceApi, namespace: string, name: string, ips: readonly string[]): Promise<void> {
  const ingress = ips.length > 0 ? ips.map((ip) => ({ ip })) : null;
  await api.patchNamespacedServiceStatus({ name, namespace, body: { status: { loadBalancer: { ingress } } } }, mergePatch());
}

/** Sets annotations (null removes one). */
export async function patchAnnotations(
  api: ServiceApi,
  namespace: string,
  name: string,
  annotations: Readonly<Record<string, string | null>>,
): Promise<void> {
  await api.patchNamespacedService({ name, namespace, body: { metadata: { annotations } } }, mergePatch());
}

export type CustomStatusApi = Pick<CustomObjectsApi, 'patchNamespacedCustomObjectStatus'>;

/** Merge-patches `status` of a namespaced custom resource through its status subresource. */
export async function patchCustomStatus(
  api: CustomStatusApi,
  ref: { group: string; version: string; plural: string; namespace: string; name: string },
  status: Readonly<Record<string, unknown>>,
): Promise<void> {
  await api.patchNamespacedCustomObjectStatus({ ...ref, body: { status } }, mergePatch());
}
