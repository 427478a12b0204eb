/**
 * What the speaker's informers keep of each object: only the fields its rules read. A cache of
 * thousands of Services, EndpointSlices and Nodes as the API server sends them holds
 * managedFields, ports, endpoint addresses, node images and the like, none of which the speaker
 * reads; keeping only the rest cuts its memory, and what the garbage collector walks, by half or
 * more. Every function returns a new plain object with the fields it names, when present,
 * `metadata.resourceVersion` included (client-node's cache compares it).
 *
 * What reads the kept fields: kubernetes-desired.ts (Services, EndpointSlices, Nodes),
 * kubernetes-speaker.ts (Service uid for Events, Node InternalIP for --bind), l2-status.ts.
 */
import type { V1EndpointSlice, V1Node, V1ObjectMeta, V1Service } from '@kubernetes/client-node';

type Meta = Partial<Pick<V1ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion' | 'labels' | 'annotations' | 'ownerReferences'>>;

function meta(m: V1ObjectMeta | undefined, keep: readonly (keyof Meta)[]): V1ObjectMeta {
  const out: Record<string, unknown> = {};
  if (m === undefined) return out;
  for (const k of keep) if (m[k] !== undefined) out[k] = m[k];
  return out;
}

const NAMED = ['name', 'namespace', 'uid', 'resourceVersion'] as const;
/** One empty array for every endpoint (the type wants addresses; nothing reads them). */
const NO_ADDRESSES: string[] = [];

/** metadata (name, namespace, uid, resourceVersion, labels, annotations), spec.type / loadBalancerClass / externalTrafficPolicy, status.loadBalancer.ingress[].ip. */
export function slimService(s: V1Service): V1Service {
  const spec = s.spec;
  const ingress = s.status?.loadBalancer?.ingress;
  return {
    metadata: meta(s.metadata, [...NAMED, 'labels', 'annotations']),
    ...(spec !== undefined
      ? {
          spec: {
            ...(spec.type !== undefined ? { type: spec.type } : {}),
            ...(spec.loadBalancerClass !== undefined ? { loadBalancerClass: spec.loadBalancerClass } : {}),
            ...(spec.externalTrafficPolicy !== undefined ? { externalTrafficPolicy: spec.externalTrafficPolicy } : {}),
          },
        }
      : {}),
    ...(ingress !== undefined ? { status: { loadBalancer: { ingress: ingress.map((i) => (i.ip !== undefined ? { ip: i.ip } : {})) } } } : {}),
  };
}

/** metadata (name, namespace, resourceVersion, labels), endpoints[].nodeName and conditions.ready / serving; no addresses, no ports. */
export function slimEndpointSlice(e: V1EndpointSlice): V1EndpointSlice {
  return {
    addressType: e.addressType,
    metadata: meta(e.metadata, [...NAMED, 'labels']),
    endpoints: (e.endpoints ?? []).map((ep) => ({
      addresses: NO_ADDRESSES,
      ...(ep.nodeName !== undefined ? { nodeName: ep.nodeName } : {}),
      ...(ep.conditions !== undefined
        ? {
            conditions: {
              ...(ep.conditions.ready !== undefined && ep.conditions.ready !== null ? { ready: ep.conditions.ready } : {}),
              ...(ep.conditions.serving !== undefined && ep.conditions.serving !== null ? { serving: ep.conditions.serving } : {}),
            },
          }
        : {}),
    })),
  };
}

/** metadata (name, resourceVersion, labels), status.conditions[].type / status, status.addresses; no images, no capacity. */
export function slimNode(n: V1Node): V1Node {
  const st = n.status;
  return {
    metadata: meta(n.metadata, [...NAMED, 'labels']),
    ...(st !== undefined
      ? {
          status: {
            ...(st.conditions !== undefined ? { conditions: st.conditions.map((c) => ({ type: c.type, status: c.status })) } : {}),
            ...(st.addresses !== undefined ? { addresses: st.addresses.map((a) => ({ type: a.type, address: a.address })) } : {}),
          },
        }
      : {}),
  };
}

/** A ServiceL2Status: metadata (name, namespace, resourceVersion, labels, ownerReferences) and status. */
export function slimL2Status<T extends { metadata?: V1ObjectMeta; status?: unknown }>(o: T): T {
  return { ...o, metadata: meta(o.metadata, [...NAMED, 'labels', 'ownerReferences']) };
}
